// Sliding-window anti-replay for transport-data counters (RFC 6479's ring of bitmap words,
// as the kernel and wireguard-go do it).
//
// The window is a ring of RING_WORDS 32-bit words (8192 bits). The highest counter
// accepted so far sits in the newest word; moving forward clears only the words passed
// over, so the cost of a jump is bounded by the ring size, not by the jump. A counter is
// accepted once, and only if it is above the highest one seen or at most WINDOW_SIZE below
// it (8160 = 8192 - 32: one word of the ring is always the partially filled newest one,
// the same reasoning that gives wireguard-go 8192 - 64 with 64-bit words). That is far
// more than the 2048 messages RFC 6479 and the WireGuard paper ask for, which matters with
// batched, multi-queue receive where packets arrive reordered.
//
// Counters are JS numbers. On the wire they are 64-bit, and the protocol limit
// REJECT_AFTER_MESSAGES is 2^64 - 2^13 - 1, far above 2^53 where numbers stop being exact.
// Here every counter >= 2^53 (or whatever smaller limit the constructor gets) is refused:
// a sender cannot legitimately reach 2^53 messages within one session's lifetime
// (REJECT_AFTER_TIME is 180 s), so refusing them loses nothing, while treating an inexact
// number as a counter could wrongly accept a replay. Negative, fractional and NaN counters
// are refused too.

export const RING_WORDS = 256;
const WORD_BITS = 32;
/** How far below the highest accepted counter a counter may still be accepted. */
export const WINDOW_SIZE = (RING_WORDS - 1) * WORD_BITS; // 8160
/** The limit used with JS numbers: the first counter that is not exactly representable. */
export const COUNTER_LIMIT = 2 ** 53;

export class ReplayWindow {
  private readonly ring = new Int32Array(RING_WORDS);
  /** Highest counter accepted so far; -1 before the first. */
  private highest = -1;
  private readonly limit: number;

  /** `limit`: counters at or above it are refused (tests use small limits). */
  constructor(limit: number = COUNTER_LIMIT) {
    this.limit = Math.min(limit, COUNTER_LIMIT);
  }

  /**
   * Whether `counter` would be accepted now: in range, not too old, not seen. Changes
   * nothing; the receive path calls it before spending work on decryption.
   */
  check(counter: number): boolean {
    if (!this.inRange(counter)) return false;
    if (counter > this.highest) return true;
    if (this.highest - counter > WINDOW_SIZE) return false;
    return (this.ring[wordIndex(counter)] & bitOf(counter)) === 0;
  }

  /**
   * Marks `counter` as seen; call it only after the packet authenticated. Returns false
   * (and changes nothing) when the counter is out of range, too old or already seen.
   */
  accept(counter: number): boolean {
    if (!this.inRange(counter)) return false;
    if (counter > this.highest) {
      this.advanceTo(counter);
    } else if (this.highest - counter > WINDOW_SIZE) {
      return false;
    }
    const i = wordIndex(counter);
    const bit = bitOf(counter);
    if ((this.ring[i] & bit) !== 0) return false;
    this.ring[i] |= bit;
    return true;
  }

  /** Forgets everything (a new session starts at counter 0). */
  reset(): void {
    this.ring.fill(0);
    this.highest = -1;
  }

  /** Highest counter accepted so far, -1 when none. */
  get highestAccepted(): number {
    return this.highest;
  }

  private inRange(counter: number): boolean {
    // Written so that NaN fails: every comparison with NaN is false.
    return counter >= 0 && counter < this.limit && Number.isInteger(counter);
  }

  /** Makes `counter` the highest: clears the words between the old newest word and its word. */
  private advanceTo(counter: number): void {
    const oldWord = Math.floor(this.highest / WORD_BITS); // -1 before the first counter
    const newWord = Math.floor(counter / WORD_BITS);
    const steps = Math.min(newWord - oldWord, RING_WORDS);
    for (let k = 1; k <= steps; k++) this.ring[(oldWord + k) % RING_WORDS] = 0;
    this.highest = counter;
  }
}

function wordIndex(counter: number): number {
  return Math.floor(counter / WORD_BITS) % RING_WORDS;
}

function bitOf(counter: number): number {
  return 1 << (counter % WORD_BITS);
}
