// dpdk-testpmd (Debian's DPDK) on one memif port, as the independent memif peer of the
// interop tests and the benchmark. It runs without hugepages, in interactive mode on a pipe
// we keep open (so it stays up however it is started), with stdout line-buffered through
// stdbuf so command output arrives as it is printed. Every instance has its own EAL file
// prefix; kill()/stop() also remove its runtime directory.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, rmSync, unlinkSync } from 'node:fs';

export const TESTPMD = '/usr/bin/dpdk-testpmd';
const TASKSET = '/usr/bin/taskset';

export function testpmdAvailable(): boolean {
  return existsSync(TESTPMD) && existsSync('/usr/bin/stdbuf');
}

export type TestpmdForwardMode = 'io' | 'macswap' | 'mac' | 'flowgen' | 'txonly' | 'rxonly';

export interface TestpmdOptions {
  /** DPDK's names: 'server' is the memif master, 'client' the slave. */
  role: 'server' | 'client';
  socketPath: string;
  id?: number;
  secret?: string;
  /** rx and tx queue count (memif queue pairs). Default 1. */
  queues?: number;
  /** log2 ring size (rsize). Default 10. */
  log2RingSize?: number;
  /** Packet buffer size (bsize). Default 2048. */
  bufferSize?: number;
  forwardMode?: TestpmdForwardMode;
  /** Frame length for txonly/flowgen. */
  txPacketLength?: number;
  /** Start forwarding at once (default true). */
  autoStart?: boolean;
  /** EAL core list and main core: the forwarding core is the other one. Default '0,1' / 0. */
  lcores?: string;
  mainLcore?: number;
  /** Log the memif driver's handshake (disconnect reasons among it). */
  debugMemif?: boolean;
  extraArgs?: readonly string[];
  /** More EAL vdevs after the memif port (port 0): ports 1, 2, ..., e.g. 'net_tap0,iface=tap0'. */
  extraVdevs?: readonly string[];
  /** Run inside this network namespace (a TAP vdev's interface is then created there). */
  netns?: string;
  /** How long to wait for the first prompt. Default 20 s. */
  startTimeoutMs?: number;
}

const MAX_OUTPUT = 512 * 1024;
const PROMPT = 'testpmd> ';
let instances = 0;

export interface PortStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
}

export class Testpmd {
  readonly filePrefix: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything printed so far (the tail of it, for long runs). */
  output = '';
  private readonly child: ChildProcessWithoutNullStreams;
  private exitedFlag = false;
  private waiters: Array<() => void> = [];

  private constructor(child: ChildProcessWithoutNullStreams, filePrefix: string) {
    this.child = child;
    this.filePrefix = filePrefix;
    const capture = (d: string): void => {
      this.output += d;
      if (this.output.length > 2 * MAX_OUTPUT) this.output = this.output.slice(-MAX_OUTPUT);
      for (const w of this.waiters.splice(0)) w();
    };
    child.stdout.setEncoding('utf8').on('data', capture);
    child.stderr.setEncoding('utf8').on('data', capture);
    child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitedFlag = true;
        this.removeRuntimeDir();
        for (const w of this.waiters.splice(0)) w();
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return !this.exitedFlag;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts testpmd and waits for its first prompt (forwarding already started by default). */
  static async start(opts: TestpmdOptions): Promise<Testpmd> {
    const prefix = `wgts-memif-${process.pid}-${++instances}`;
    // A server binds the socket file: one left behind by a killed instance must go first.
    if (opts.role === 'server' && existsSync(opts.socketPath)) unlinkSync(opts.socketPath);
    const devargs = [
      `net_memif0`,
      `role=${opts.role}`,
      `socket=${opts.socketPath}`,
      'socket-abstract=no',
      `id=${opts.id ?? 0}`,
      `rsize=${opts.log2RingSize ?? 10}`,
      `bsize=${opts.bufferSize ?? 2048}`,
    ];
    if (opts.secret !== undefined) devargs.push(`secret=${opts.secret}`);
    const queues = opts.queues ?? 1;
    const args = [
      '-oL',
      TESTPMD,
      '--no-huge',
      '-m',
      '1024',
      '--no-pci',
      '--no-shconf',
      `--file-prefix=${prefix}`,
      '-l',
      opts.lcores ?? '0,1',
      '--main-lcore',
      String(opts.mainLcore ?? 0),
      `--vdev=${devargs.join(',')}`,
      ...(opts.extraVdevs ?? []).map((v) => `--vdev=${v}`),
    ];
    if (opts.debugMemif) args.push('--log-level=pmd.net.memif:debug');
    args.push('--', '-i', '--no-mlockall', '--total-num-mbufs=16384', `--rxq=${queues}`, `--txq=${queues}`);
    args.push(`--forward-mode=${opts.forwardMode ?? 'io'}`);
    if (opts.txPacketLength !== undefined) args.push(`--txpkts=${opts.txPacketLength}`);
    if (opts.autoStart ?? true) args.push('--auto-start');
    args.push(...(opts.extraArgs ?? []));
    // Through taskset: EAL pins its lcores to these CPUs and refuses CPUs outside the
    // affinity it inherits, which a caller (the benchmark) may have narrowed for itself.
    const cpus = opts.lcores ?? '0,1';
    let command = existsSync(TASKSET) ? [TASKSET, '-c', cpus, '/usr/bin/stdbuf', ...args] : ['/usr/bin/stdbuf', ...args];
    if (opts.netns !== undefined) command = ['ip', 'netns', 'exec', opts.netns, ...command];
    const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const t = new Testpmd(child, prefix);
    try {
      await t.waitForOutput(PROMPT, opts.startTimeoutMs ?? 20_000);
    } catch (err) {
      await t.kill();
      throw new Error(`testpmd did not start: ${err instanceof Error ? err.message : String(err)}\n${t.output.slice(-4000)}`);
    }
    return t;
  }

  /** Resolves once `pattern` occurs in the output after offset `from`. */
  async waitForOutput(pattern: string | RegExp, timeoutMs = 10_000, from = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = (): boolean => {
      const tail = this.output.slice(from);
      return typeof pattern === 'string' ? tail.includes(pattern) : pattern.test(tail);
    };
    while (!found()) {
      if (this.exitedFlag) throw new Error(`testpmd exited while waiting for ${String(pattern)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${String(pattern)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Runs an interactive command and returns what it printed before the next prompt. */
  async command(cmd: string, timeoutMs = 10_000): Promise<string> {
    const from = this.output.length;
    this.child.stdin.write(`${cmd}\n`);
    await this.waitForOutput(new RegExp(`${escape(cmd)}[\\s\\S]*${escape(PROMPT)}`), timeoutMs, from);
    return this.output.slice(from);
  }

  async portStats(): Promise<PortStats> {
    const text = await this.command('show port stats 0');
    const num = (re: RegExp): number => {
      const m = re.exec(text);
      return m === null ? NaN : Number(m[1]);
    };
    return {
      rxPackets: num(/RX-packets:\s+(\d+)/),
      txPackets: num(/TX-packets:\s+(\d+)/),
      rxBytes: num(/RX-bytes:\s+(\d+)/),
      txBytes: num(/TX-bytes:\s+(\d+)/),
    };
  }

  /** Kills testpmd (SIGKILL unless told otherwise) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.exitedFlag) this.child.kill(signal);
    await this.exited;
  }

  /** Asks testpmd to quit, killing it if it has not after `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.exitedFlag) return;
    this.child.stdin.write('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  private removeRuntimeDir(): void {
    try {
      rmSync(`/var/run/dpdk/${this.filePrefix}`, { recursive: true, force: true });
    } catch {
      // nothing to remove, or not ours to remove
    }
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
