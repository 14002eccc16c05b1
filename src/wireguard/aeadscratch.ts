// The per-batch arguments of the native AEAD call: a table holding each session key of the
// batch once, each packet's index into it, and each packet's counter. Reused across batches.
import type { Keypair } from './keypair.js';

const KEY_LEN = 32;
/** Shared by every scratch so a keypair's batch mark is never ambiguous. */
let lastBatchId = 0;

export class AeadScratch {
  keys = Buffer.alloc(0);
  keyIndex = new Uint16Array(0);
  counters = new BigUint64Array(0);
  /** The counters as 32-bit halves (little-endian), so no BigInt is made per packet. */
  private counterWords = new Uint32Array(0);
  private nextSlot = 0;
  private batchId = 0;
  private receive = false;

  /** Starts a batch of up to n packets; `receive` picks the receiving keys. */
  begin(n: number, receive = false): void {
    if (this.keyIndex.length < n) {
      this.keys = Buffer.alloc(n * KEY_LEN);
      this.keyIndex = new Uint16Array(n);
      this.counters = new BigUint64Array(n);
      this.counterWords = new Uint32Array(this.counters.buffer);
    }
    this.nextSlot = 0;
    this.batchId = ++lastBatchId;
    this.receive = receive;
  }

  add(i: number, kp: Keypair, counter: number): void {
    if (kp.batchId !== this.batchId) {
      kp.batchId = this.batchId;
      kp.batchSlot = this.nextSlot++;
      (this.receive ? kp.receiveKey : kp.sendKey).copy(this.keys, kp.batchSlot * KEY_LEN);
    }
    this.keyIndex[i] = kp.batchSlot;
    this.counterWords[2 * i] = counter >>> 0;
    this.counterWords[2 * i + 1] = Math.floor(counter / 0x1_0000_0000) >>> 0;
  }
}
