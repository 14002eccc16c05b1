// A session: the pair of transport keys one handshake produced, the sending counter and
// the receiving replay window (paper, section 5.4.6).
import { zero } from '../crypto/util.js';
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME } from './messages.js';
import { ReplayWindow } from './replay.js';

export class Keypair {
  readonly sendKey: Buffer;
  readonly receiveKey: Buffer;
  sendCounter = 0;
  readonly replay = new ReplayWindow();
  /** Set false when expired or zeroed: never used again. */
  valid = true;
  /**
   * Scratch for the data path: the batch in which this key was last placed in the batch
   * key table, and its slot there, so a batch carries each key once.
   */
  batchId = -1;
  batchSlot = 0;

  constructor(
    send: Uint8Array,
    receive: Uint8Array,
    readonly initiator: boolean,
    readonly createdAt: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
  ) {
    this.sendKey = Buffer.from(send);
    this.receiveKey = Buffer.from(receive);
  }

  /** Usable for sending now? */
  canSend(nowMs: number): boolean {
    return this.valid && nowMs - this.createdAt < REJECT_AFTER_TIME && this.sendCounter < REJECT_AFTER_MESSAGES;
  }

  /** Usable for receiving now? */
  canReceive(nowMs: number): boolean {
    return this.valid && nowMs - this.createdAt < REJECT_AFTER_TIME;
  }

  destroy(): void {
    this.valid = false;
    zero(this.sendKey);
    zero(this.receiveKey);
  }
}

/** A peer's three session slots, rotated as in the kernel implementation. */
export class Keypairs {
  previous: Keypair | null = null;
  current: Keypair | null = null;
  /** A responder's new session, promoted once the initiator uses it. */
  next: Keypair | null = null;

  /** Installs a fresh session; returns the sessions it displaced (to unregister and destroy). */
  install(kp: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (kp.initiator) {
      if (this.next !== null) {
        pushIf(dropped, this.previous);
        pushIf(dropped, this.current);
        this.previous = this.next;
        this.next = null;
      } else {
        pushIf(dropped, this.previous);
        this.previous = this.current;
      }
      this.current = kp;
    } else {
      pushIf(dropped, this.next);
      pushIf(dropped, this.previous);
      this.next = kp;
      this.previous = null;
    }
    return dropped;
  }

  /** The initiator used our `next` session: it becomes current. Returns the displaced one. */
  promoteNext(kp: Keypair): Keypair | null {
    if (this.next !== kp) return null;
    const dropped = this.previous;
    this.previous = this.current;
    this.current = kp;
    this.next = null;
    return dropped;
  }

  all(): Keypair[] {
    const out: Keypair[] = [];
    pushIf(out, this.previous);
    pushIf(out, this.current);
    pushIf(out, this.next);
    return out;
  }

  clear(): Keypair[] {
    const out = this.all();
    this.previous = this.current = this.next = null;
    return out;
  }
}

function pushIf(list: Keypair[], kp: Keypair | null): void {
  if (kp !== null) list.push(kp);
}
