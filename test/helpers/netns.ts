// A network-namespace test harness. Everything it creates (namespaces, veth pairs,
// processes, files) is registered and torn down by cleanup(), which tests call from
// after()/finally so a failing test leaves nothing behind. Names carry a per-run random
// suffix: the UAPI socket directory (/var/run/wireguard) is shared by all namespaces, so
// interface names must be unique across concurrent runs too.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { run, runOk, sleep, type RunOptions, type RunResult } from './exec.js';

/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME = 15;
/** Output kept per process for diagnostics (older output beyond this is dropped). */
const MAX_CAPTURE = 256 * 1024;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-running process the harness started; its output is kept for failure messages. */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly label: string;
  output = '';
  exitStatus: ExitStatus | null = null;
  readonly exited: Promise<ExitStatus>;

  constructor(label: string, child: ChildProcess) {
    this.label = label;
    this.child = child;
    const capture = (d: string): void => {
      this.output += d;
      // Keep the tail: the last lines before a failure are the ones that explain it.
      if (this.output.length > 2 * MAX_CAPTURE) this.output = this.output.slice(-MAX_CAPTURE);
    };
    child.stdout?.setEncoding('utf8').on('data', capture);
    child.stderr?.setEncoding('utf8').on('data', capture);
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        capture(`[spawn error: ${String(err)}]\n`);
        this.exitStatus ??= { code: null, signal: null };
        resolve(this.exitStatus);
      });
      child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  /** Resolves with the exit status, or null when it has not exited within `ms`. */
  async waitExit(ms: number): Promise<ExitStatus | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal`, then SIGKILL if it is still running after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus as ExitStatus;
    this.child.kill(signal);
    const status = await this.waitExit(graceMs);
    if (status) return status;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** The last `tail` characters of output, for assertion messages. */
  describe(tail = 4000): string {
    return `--- ${this.label} (exit ${JSON.stringify(this.exitStatus)}) ---\n${this.output.slice(-tail)}`;
  }
}

export class Netns {
  constructor(readonly name: string) {}

  /** Runs a command inside the namespace. */
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  runOk(cmd: string, args: readonly string[], opts?: RunOptions): Promise<string> {
    return runOk('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): Promise<string> {
    return runOk('ip', ['-n', this.name, ...args]);
  }

  /** One ping of `target` with a `waitSec` reply timeout; true when answered. */
  async pingOnce(target: string, waitSec = 1): Promise<boolean> {
    const r = await this.run('ping', ['-n', '-c', '1', '-W', String(waitSec), target], {
      timeoutMs: (waitSec + 5) * 1000,
    });
    return r.code === 0;
  }

  /**
   * Pings until one reply arrives (at most `tries` one-second attempts: the first packets
   * may wait for a handshake), then `count` more, which must all be answered.
   */
  async pingReliably(target: string, { tries = 10, count = 3 } = {}): Promise<void> {
    let ok = false;
    for (let i = 0; i < tries && !ok; i++) ok = await this.pingOnce(target);
    if (!ok) throw new Error(`no ping reply from ${target} in ${this.name} after ${tries} tries`);
    await this.runOk('ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', target], {
      timeoutMs: 20_000,
    });
  }
}

export class Harness {
  readonly suffix = randomBytes(3).toString('hex');
  private readonly namespaces: Netns[] = [];
  private readonly processes: ManagedProcess[] = [];
  private readonly paths: string[] = [];
  private readonly extraCleanups: (() => Promise<void>)[] = [];
  private cleaned = false;

  /** `prefix` + the run suffix, checked against the kernel's interface-name limit. */
  ifname(prefix: string): string {
    const name = `${prefix}${this.suffix}`;
    if (name.length > MAX_IFNAME) throw new Error(`interface name ${name} is longer than ${MAX_IFNAME}`);
    return name;
  }

  async netns(label: string): Promise<Netns> {
    const ns = new Netns(`wgts-${label}-${this.suffix}`);
    await runOk('ip', ['netns', 'add', ns.name]);
    this.namespaces.push(ns);
    await ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /**
   * A veth pair between two namespaces with the given IPv4 and IPv6 addresses (CIDR). IPv6
   * addresses are added with `nodad` so they are usable at once.
   */
  async veth(
    a: Netns,
    aIf: string,
    aAddrs: readonly string[],
    b: Netns,
    bIf: string,
    bAddrs: readonly string[],
  ): Promise<void> {
    await runOk('ip', ['link', 'add', aIf, 'netns', a.name, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
    for (const [ns, ifn, addrs] of [
      [a, aIf, aAddrs],
      [b, bIf, bAddrs],
    ] as const) {
      for (const addr of addrs) await addAddress(ns, ifn, addr);
      await ns.ip('link', 'set', ifn, 'up');
    }
  }

  /** Starts a long-running process inside `ns` and registers it for cleanup. */
  spawnIn(ns: Netns, label: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): ManagedProcess {
    const child = spawn('ip', ['netns', 'exec', ns.name, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const p = new ManagedProcess(label, child);
    this.processes.push(p);
    return p;
  }

  /** A file or directory to remove at cleanup. */
  removeLater(path: string): void {
    this.paths.push(path);
  }

  onCleanup(fn: () => Promise<void>): void {
    this.extraCleanups.push(fn);
  }

  /** Output of every process started, for failure messages. */
  describeProcesses(): string {
    return this.processes.map((p) => p.describe()).join('\n');
  }

  /** Runs `fn`, appending every process's recent output to its error when it fails. */
  async withLogs(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof Error) err.message += `\n\n${this.describeProcesses()}`;
      throw err;
    }
  }

  /** Idempotent; never throws (teardown must get as far as it can). */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const fn of this.extraCleanups.reverse()) await fn().catch(() => {});
    await Promise.all(this.processes.map((p) => p.stop('SIGTERM', 3000).catch(() => {})));
    for (const path of this.paths) await rm(path, { force: true, recursive: true }).catch(() => {});
    for (const ns of this.namespaces.reverse()) {
      // A namespace with a process still inside lingers; give a killed process a moment.
      for (let i = 0; i < 20; i++) {
        const r = await run('ip', ['netns', 'del', ns.name]);
        if (r.code === 0 || /No such file/.test(r.stderr)) break;
        await sleep(100);
      }
    }
  }
}

export async function addAddress(ns: Netns, ifn: string, cidr: string): Promise<void> {
  if (cidr.includes(':')) await ns.ip('addr', 'add', cidr, 'dev', ifn, 'nodad');
  else await ns.ip('addr', 'add', cidr, 'dev', ifn);
}
