// What every daemon program here shares around its own start-up: arguments, --help and
// --version, the checks made before anything starts, going to the background (the parent
// waits for the daemon's ready report), logging, the shutdown sequence and the exit.
// wireguard-ts and wireguard-ts-vpp differ only in what their ProgramSpec creates.
import { readFileSync } from 'node:fs';
import type { Logger } from '../wireguard/log.js';
import { parseArgs, usage } from './args.js';
import { runDaemonParent, takeReadyReporter, wantsForeground } from './daemon.js';
import { createLifecycle, type Lifecycle } from './lifecycle.js';
import { createLogger, parseLogLevel } from './logger.js';

export interface ProgramSpec<Prepared> {
  /** The command's name, as in `Usage: NAME ...` and `NAME v1.2.3`. */
  name: string;
  /** What --help prints after the usage line. */
  help: string;
  /**
   * Checks that can fail before anything is created (the configuration), made by a
   * background daemon's parent too, so that their messages reach the terminal whole. Throws
   * an Error whose message says what is wrong (one line per problem).
   */
  prepare?(interfaceName: string): Prepared;
  /**
   * The environment the background daemon starts with (it runs in /, so relative paths
   * must be made absolute here). Default: this process's environment.
   */
  daemonEnv?(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /**
   * Creates everything, registering each undo step with `life` as it goes. Resolves once
   * the service is ready; rejects with the reason it could not start.
   */
  start(interfaceName: string, prepared: Prepared, logger: Logger, life: Lifecycle): Promise<void>;
}

/** The environment variables every program here reads, for --help. */
export const COMMON_ENV_HELP = `  LOG_LEVEL=silent|error|verbose|debug   what to log to stdout (default error)
  LOG_FILE=PATH                          where a background daemon logs when LOG_LEVEL
                                         is unset (default: nowhere)
  WG_PROCESS_FOREGROUND=1                same as -f
`;

/** The package's version, from package.json at the package root. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function versionText(name: string): string {
  return (
    `${name} v${packageVersion()}\n\n` +
    `Userspace WireGuard daemon in TypeScript for ${process.platform}-${process.arch}, Node.js ${process.version}.\n`
  );
}

function printError(message: string): void {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
}

/** Runs the program to its end; resolves with the exit code. */
export async function runProgram<Prepared>(spec: ProgramSpec<Prepared>): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  switch (args.kind) {
    case 'help':
      process.stdout.write(usage(spec.name) + spec.help);
      return 0;
    case 'version':
      process.stdout.write(versionText(spec.name));
      return 0;
    case 'error':
      process.stderr.write(`${spec.name}: ${args.message}\n${usage(spec.name)}`);
      return 1;
  }
  const iface = args.interfaceName;
  const foreground = wantsForeground(args.foreground);
  // Taken before anything can fail, so a failure below still reaches a waiting parent.
  const reporter = foreground ? takeReadyReporter() : null;

  let prepared: Prepared;
  try {
    prepared = spec.prepare ? spec.prepare(iface) : (undefined as Prepared);
  } catch (err) {
    const message = (err as Error).message;
    printError(message);
    reporter?.fail(message);
    return 1;
  }
  if (!foreground) {
    return runDaemonParent({ args: [iface], env: spec.daemonEnv ? spec.daemonEnv(process.env) : process.env });
  }

  // Log lines go to stdout; a reader that went away must not take the daemon down.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const logger = createLogger(parseLogLevel(process.env.LOG_LEVEL), iface);
  const life = createLifecycle(logger);
  process.on('uncaughtException', (err) => {
    logger.error(`internal error: ${err.stack ?? err.message}`);
    life.shutdown('internal error', 1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.error(`internal error: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
    life.shutdown('internal error', 1);
  });

  try {
    await spec.start(iface, prepared, logger, life);
  } catch (err) {
    const message = `Failed to start ${iface}: ${(err as Error).message}`;
    logger.error(message);
    reporter?.fail(message);
    life.shutdown('start-up failed', 1);
    return life.done;
  }
  logger.verbose('UAPI listener started');
  reporter?.ready();
  return life.done;
}

/** runProgram, then exit with its code. */
export async function runProgramAndExit<Prepared>(spec: ProgramSpec<Prepared>): Promise<never> {
  process.exitCode = await runProgram(spec);
  // Anything still holding the event loop (a peer's timer, a half-closed client) must not
  // keep a stopped daemon alive.
  process.exit();
}
