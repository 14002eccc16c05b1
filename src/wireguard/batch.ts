// A batch of packets in one preallocated slab. The slab is cut into fixed slots; each
// packet starts `offset` bytes into the slab and has `HEADROOM` bytes free in front of it
// in its slot (room for a 16-byte transport header or a 14-byte Ethernet header) and
// `TAILROOM` bytes behind the largest packet (room for the 16-byte Poly1305 tag and
// padding). Nothing on the data path allocates per packet: moving `offsets[i]` is how
// headers are skipped or prepended.

export const HEADROOM = 32;
export const TAILROOM = 32;

export class PacketBatch {
  readonly slab: Buffer;
  readonly slotSize: number;
  readonly capacity: number;
  /** Number of packets currently in the batch (slots 0..count-1). */
  count = 0;
  /** Byte offset into `slab` where packet i starts. */
  readonly offsets: Uint32Array;
  /** Length in bytes of packet i. */
  readonly lengths: Uint32Array;

  constructor(capacity: number, maxPacketSize: number) {
    this.capacity = capacity;
    // Slots are 64-byte aligned so each packet starts on a cache line after the headroom.
    this.slotSize = Math.ceil((HEADROOM + maxPacketSize + TAILROOM) / 64) * 64;
    this.slab = Buffer.alloc(capacity * this.slotSize);
    this.offsets = new Uint32Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.reset();
  }

  /** Puts every slot's offset back at its default (just after the headroom), count 0. */
  reset(): void {
    this.count = 0;
    for (let i = 0; i < this.capacity; i++) {
      this.offsets[i] = i * this.slotSize + HEADROOM;
      this.lengths[i] = 0;
    }
  }

  /** Start of slot i in the slab (the headroom begins here). */
  slotStart(i: number): number {
    return i * this.slotSize;
  }

  /** A view of packet i (no copy). Not for the hot path: it allocates a view object. */
  packet(i: number): Buffer {
    return this.slab.subarray(this.offsets[i], this.offsets[i] + this.lengths[i]);
  }

  /** Appends a copy of `data` as the next packet; false when full or too large. */
  push(data: Uint8Array): boolean {
    if (this.count >= this.capacity) return false;
    const i = this.count;
    const start = this.slotStart(i) + HEADROOM;
    if (data.length > this.slotSize - HEADROOM - TAILROOM) return false;
    this.slab.set(data, start);
    this.offsets[i] = start;
    this.lengths[i] = data.length;
    this.count++;
    return true;
  }
}
