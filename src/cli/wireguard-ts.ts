#!/usr/bin/env node
// wireguard-ts: the wireguard-go workflow on the TypeScript core.
//
//   wireguard-ts [-f|--foreground] wg0
//
// creates TUN interface wg0, opens the UAPI socket /var/run/wireguard/wg0.sock for wg(8),
// and goes to the background once both are ready (unless -f or WG_PROCESS_FOREGROUND=1).
// It exits, cleaning up, on SIGINT/SIGTERM, when the UAPI socket is removed, or when the
// interface is deleted (`ip link del wg0`).
import { readFileSync } from 'node:fs';
import { UdpBind } from '../bind/udp.js';
import { UapiServer } from '../ipc/uapi-server.js';
import { KernelTun } from '../tun/kernel-tun.js';
import { Device } from '../wireguard/device.js';
import type { Logger } from '../wireguard/log.js';
import { parseArgs, usage } from './args.js';
import { runDaemonParent, takeReadyReporter, wantsForeground } from './daemon.js';
import { createLifecycle, type Lifecycle } from './lifecycle.js';
import { createLogger, parseLogLevel } from './logger.js';

const PROGRAM = 'wireguard-ts';
/** wireguard-go's default MTU. */
const DEFAULT_MTU = 1420;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function help(): string {
  return (
    usage(PROGRAM) +
    `
Creates TUN interface INTERFACE-NAME and serves the WireGuard userspace API on
/var/run/wireguard/INTERFACE-NAME.sock; configure it with wg(8) and ip(8).
Goes to the background once ready unless -f/--foreground is given.

Stop it with \`ip link del INTERFACE-NAME\`, by removing the socket, or with SIGTERM.

Environment:
  LOG_LEVEL=silent|error|verbose|debug   what to log to stdout (default error)
  LOG_FILE=PATH                          where a background daemon logs when LOG_LEVEL
                                         is unset (default: nowhere)
  WG_PROCESS_FOREGROUND=1                same as -f
`
  );
}

function versionText(): string {
  return (
    `${PROGRAM} v${version()}\n\n` +
    `Userspace WireGuard daemon in TypeScript for ${process.platform}-${process.arch}, Node.js ${process.version}.\n`
  );
}

/** Creates the interface, the bind, the device and the UAPI socket, in that order. */
async function startService(interfaceName: string, logger: Logger, life: Lifecycle): Promise<void> {
  const tun = KernelTun.open(interfaceName, DEFAULT_MTU);
  life.defer('close TUN', () => tun.close());
  const bind = new UdpBind({ logger });
  life.defer('close UDP bind', () => bind.close());
  const device = new Device({ tun, bind, logger });
  life.defer('close device', () => device.close());
  await device.up();
  const uapi = await UapiServer.listen(tun.name, device, { logger });
  // Registered last, so it runs first: wg(8) stops finding us before the device goes.
  life.defer('remove UAPI socket', () => uapi.close());
  uapi.onRemoved(() => life.shutdown('UAPI socket removed'));
  tun.onClose(() => life.shutdown(`interface ${tun.name} deleted`));
  logger.verbose(`Device started on ${tun.name}, UDP port ${bind.port}`);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  switch (args.kind) {
    case 'help':
      process.stdout.write(help());
      return 0;
    case 'version':
      process.stdout.write(versionText());
      return 0;
    case 'error':
      process.stderr.write(`${PROGRAM}: ${args.message}\n${usage(PROGRAM)}`);
      return 1;
  }
  if (!wantsForeground(args.foreground)) {
    return runDaemonParent({ args: [args.interfaceName] });
  }

  const reporter = takeReadyReporter();
  // Log lines go to stdout; a reader that went away must not take the daemon down.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const logger = createLogger(parseLogLevel(process.env.LOG_LEVEL), args.interfaceName);
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
    await startService(args.interfaceName, logger, life);
  } catch (err) {
    const message = `Failed to start ${args.interfaceName}: ${(err as Error).message}`;
    logger.error(message);
    reporter?.fail(message);
    life.shutdown('start-up failed', 1);
    return life.done;
  }
  logger.verbose('UAPI listener started');
  reporter?.ready();
  return life.done;
}

process.exitCode = await main();
// Anything still holding the event loop (a peer's timer, a half-closed client) must not
// keep a stopped daemon alive.
process.exit();
