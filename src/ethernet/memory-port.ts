// An in-memory FramePort for tests: frames handed to `inject` reach the adapter in
// batches as if received; frames the adapter sends are copied into `sent`.
import { PacketBatch } from '../wireguard/batch.js';
import type { FramePort } from './frameport.js';

export class MemoryFramePort implements FramePort {
  readonly sent: Buffer[] = [];
  /** Called for every frame sent, after it is recorded. */
  onSend: (frame: Buffer) => void = () => {};
  /** How many times `send` was called (batches, not frames). */
  sendCalls = 0;
  private handler: (batch: PacketBatch) => void = () => {};
  private readonly batch: PacketBatch;

  constructor(
    readonly maxFrameSize = 1514,
    capacity = 64,
  ) {
    this.batch = new PacketBatch(capacity, maxFrameSize);
  }

  onFrames(handler: (batch: PacketBatch) => void): void {
    this.handler = handler;
  }

  /** Delivers frames to the adapter, in batches of the port's capacity. */
  inject(frames: readonly Uint8Array[]): void {
    for (let i = 0; i < frames.length; ) {
      this.batch.reset();
      while (i < frames.length && this.batch.push(frames[i])) i++;
      if (this.batch.count === 0) {
        i++; // larger than the port carries: a real port could not have received it either
        continue;
      }
      this.handler(this.batch);
    }
  }

  send(batch: PacketBatch): void {
    this.sendCalls++;
    for (let i = 0; i < batch.count; i++) {
      const frame = Buffer.from(batch.packet(i));
      this.sent.push(frame);
      this.onSend(frame);
    }
  }

  /** Returns and forgets what was sent so far. */
  take(): Buffer[] {
    return this.sent.splice(0);
  }
}
