// An in-memory bind: binds on one MemoryNetwork exchange datagrams by "address:port",
// delivered on a later event-loop turn as a real network would. For tests and benchmarks.
import { PacketBatch } from '../wireguard/batch.js';
import type { Bind } from '../wireguard/bind.js';
import type { Endpoint } from '../wireguard/endpoint.js';

export class MemoryNetwork {
  readonly binds = new Map<string, MemoryBind>();
  /** Every datagram sent, in order (for tests that inspect or replay traffic). */
  readonly log: { from: Endpoint; to: Endpoint; data: Buffer }[] = [];
  /** Return false to drop a datagram in flight. */
  filter: (from: Endpoint, to: Endpoint, data: Buffer) => boolean = () => true;

  deliver(from: Endpoint, to: Endpoint, data: Buffer): void {
    this.log.push({ from, to, data });
    if (!this.filter(from, to, data)) return;
    setImmediate(() => this.binds.get(`${to.address}:${to.port}`)?.arrive(data, from));
  }
}

export class MemoryBind implements Bind {
  port = 0;
  mark = 0;
  private handler: (batch: PacketBatch, sources: readonly Endpoint[]) => void = () => {};
  private readonly batch = new PacketBatch(64, 2048);
  private readonly sources: Endpoint[] = [];
  private pending = false;
  private static nextPort = 40000;

  constructor(
    private readonly net: MemoryNetwork,
    readonly address: string,
    readonly family: 4 | 6 = 4,
  ) {}

  get endpoint(): Endpoint {
    return { family: this.family, address: this.address, port: this.port };
  }

  async open(port: number): Promise<number> {
    const chosen = port === 0 ? MemoryBind.nextPort++ : port;
    const key = `${this.address}:${chosen}`;
    const holder = this.net.binds.get(key);
    if (holder !== undefined && holder !== this) throw Object.assign(new Error('address in use'), { errno: 98 });
    this.net.binds.delete(`${this.address}:${this.port}`);
    this.port = chosen;
    this.net.binds.set(key, this);
    return chosen;
  }

  onReceive(handler: (batch: PacketBatch, sources: readonly Endpoint[]) => void): void {
    this.handler = handler;
  }

  send(batch: PacketBatch, destinations: readonly Endpoint[]): void {
    for (let i = 0; i < batch.count; i++) this.net.deliver(this.endpoint, destinations[i], Buffer.from(batch.packet(i)));
  }

  /** Injects a datagram as if it came from `from` (tests of hostile input). */
  arrive(data: Uint8Array, from: Endpoint): void {
    if (this.batch.count === 0) this.batch.reset();
    if (!this.batch.push(data)) return;
    this.sources[this.batch.count - 1] = from;
    if (!this.pending) {
      this.pending = true;
      queueMicrotask(() => {
        this.pending = false;
        this.handler(this.batch, this.sources);
        this.batch.reset();
      });
    }
  }

  setMark(mark: number): void {
    this.mark = mark;
  }

  async close(): Promise<void> {
    this.net.binds.delete(`${this.address}:${this.port}`);
  }
}
