// Going to the background the way wireguard-go does, in a runtime that cannot fork: the
// parent re-spawns this same program detached (new session, cwd /) with
// WG_PROCESS_FOREGROUND=1, and waits on an extra pipe (fd 3 in the child) for one line:
// "ready" once the interface and the UAPI socket exist, or "error <message>". The parent
// exits 0 only on "ready"; otherwise it prints the reason and exits 1.
//
// The daemon's stdout/stderr: the parent's own when LOG_LEVEL is set and not "silent" (as
// wireguard-go), else the file named by LOG_FILE (appended to), else /dev/null.
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** Set in the daemon's environment: the fd of the pipe to the waiting parent. */
export const READY_FD_ENV = 'WIREGUARD_TS_READY_FD';
export const FOREGROUND_ENV = 'WG_PROCESS_FOREGROUND';
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
const READY_FD = 3;
/** Longest message from the daemon the parent keeps. */
const MAX_REPORT = 4096;

/** True when told to stay in the foreground by flag or by environment. */
export function wantsForeground(flag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return flag || env[FOREGROUND_ENV] === '1';
}

export interface DaemonParentOptions {
  /** Arguments for the re-spawned program (the script path is added in front). */
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Where the parent prints the daemon's failure (default stderr). */
  report?: (message: string) => void;
}

/** The daemon's stdio as wireguard-go arranges it (see the file comment). */
function daemonStdio(env: NodeJS.ProcessEnv): { stdio: StdioOptions; fdToClose: number | null } {
  const level = env.LOG_LEVEL;
  if (level !== undefined && level !== '' && level !== 'silent') {
    return { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], fdToClose: null };
  }
  if (env.LOG_FILE) {
    const fd = openSync(env.LOG_FILE, 'a', 0o600);
    return { stdio: ['ignore', fd, fd, 'pipe'], fdToClose: fd };
  }
  return { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], fdToClose: null };
}

/**
 * Starts the daemon and waits for its report. Resolves with the parent's exit code: 0
 * when the daemon is ready, 1 when it failed, exited or did not answer in time (it is
 * then killed).
 */
export function runDaemonParent(opts: DaemonParentOptions): Promise<number> {
  const env = opts.env ?? process.env;
  const report = opts.report ?? ((m: string) => void process.stderr.write(m.endsWith('\n') ? m : `${m}\n`));
  const timeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let io: ReturnType<typeof daemonStdio>;
  try {
    io = daemonStdio(env);
  } catch (err) {
    report(`cannot open LOG_FILE: ${(err as Error).message}`);
    return Promise.resolve(1);
  }
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...opts.args], {
    detached: true,
    cwd: '/',
    stdio: io.stdio,
    env: { ...env, [FOREGROUND_ENV]: '1', [READY_FD_ENV]: String(READY_FD) },
  });
  if (io.fdToClose !== null) closeSync(io.fdToClose);
  const pipe = child.stdio[READY_FD] as Readable;

  return new Promise((resolve) => {
    let settled = false;
    let text = '';
    let exit: string | null = null;
    const finish = (code: number, message?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (message !== undefined) report(message);
      pipe.destroy();
      // The daemon lives on without us.
      child.unref();
      resolve(code);
    };
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      finish(1, `daemon did not report ready within ${timeoutMs} ms`);
    }, timeoutMs);
    child.on('error', (err) => finish(1, `cannot start daemon: ${err.message}`));
    child.on('exit', (code, signal) => {
      exit = signal !== null ? `signal ${signal}` : `code ${code}`;
    });
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => {
      if (text.length < MAX_REPORT) text += chunk;
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      const line = text.slice(0, nl);
      if (line === 'ready') finish(0);
      else finish(1, line.startsWith('error ') ? line.slice('error '.length) : `daemon: ${line}`);
    });
    pipe.on('error', () => {});
    pipe.on('close', () => {
      // The daemon closed its end without a report: it died. Its exit status may land a
      // moment after the pipe closes.
      setTimeout(() => finish(1, `daemon exited (${exit ?? 'unknown status'}) before it was ready`), 200).unref();
    });
  });
}

/** The daemon's side of the pipe: report once, then the pipe is closed. */
export interface ReadyReporter {
  ready(): void;
  fail(message: string): void;
}

/**
 * In the daemon: takes the report pipe named in the environment (and removes the variable
 * so programs we start do not inherit it). null when not started by runDaemonParent.
 */
export function takeReadyReporter(env: NodeJS.ProcessEnv = process.env): ReadyReporter | null {
  const value = env[READY_FD_ENV];
  if (value === undefined) return null;
  delete env[READY_FD_ENV];
  const fd = Number(value);
  if (!Number.isInteger(fd) || fd < 0) return null;
  let done = false;
  const send = (line: string): void => {
    if (done) return;
    done = true;
    try {
      writeSync(fd, line);
    } catch {
      // The parent gave up waiting; nothing to tell.
    }
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  };
  return {
    ready: () => send('ready\n'),
    fail: (message) => send(`error ${message.replace(/[\r\n]+/g, ' ')}\n`),
  };
}
