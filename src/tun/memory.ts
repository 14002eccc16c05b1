// An in-memory packet device: what the core reads from it is injected with `inject`, what
// the core writes to it is collected in `written`. Used by tests and benchmarks, and the
// seam where an in-process network stack will plug in.
import { PacketBatch } from '../wireguard/batch.js';
import type { PacketDevice } from '../wireguard/packetdevice.js';

export class MemoryTun implements PacketDevice {
  readonly written: Buffer[] = [];
  private handler: (batch: PacketBatch) => void = () => {};
  private closeHandler: () => void = () => {};
  private readonly batch: PacketBatch;
  /** Called for every packet written, after it is recorded. */
  onWrite: (packet: Buffer) => void = () => {};

  constructor(
    readonly mtu = 1420,
    capacity = 64,
  ) {
    this.batch = new PacketBatch(capacity, mtu);
  }

  onPackets(handler: (batch: PacketBatch) => void): void {
    this.handler = handler;
  }

  onClose(handler: () => void): void {
    this.closeHandler = handler;
  }

  /** Hands packets to the core as if read from the device, in batches. */
  inject(packets: readonly Uint8Array[]): void {
    for (let i = 0; i < packets.length; ) {
      this.batch.reset();
      while (i < packets.length && this.batch.push(packets[i])) i++;
      this.handler(this.batch);
    }
  }

  write(batch: PacketBatch): void {
    for (let i = 0; i < batch.count; i++) {
      const p = Buffer.from(batch.packet(i));
      this.written.push(p);
      this.onWrite(p);
    }
  }

  /** Simulates the device disappearing. */
  vanish(): void {
    this.closeHandler();
  }

  async close(): Promise<void> {}
}
