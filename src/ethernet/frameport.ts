// Where Ethernet frames come from and go to: the memif layer implements this, tests use
// MemoryFramePort. The L2 adapter turns a FramePort into the PacketDevice the core wants.
import type { PacketBatch } from '../wireguard/batch.js';

export interface FramePort {
  /** Largest Ethernet frame (header included, no FCS) the port carries. */
  readonly maxFrameSize: number;
  /**
   * Ethernet frames at offsets[i]/lengths[i]. The handler may rewrite the batch's offsets,
   * lengths and count (it moves offsets past the Ethernet header and compacts the batch);
   * the port resets the batch before it uses it again. The handler may call `send`.
   */
  onFrames(handler: (batch: PacketBatch) => void): void;
  /** Frames to transmit; consumed synchronously (the batch may be reused on return). */
  send(batch: PacketBatch): void;
}
