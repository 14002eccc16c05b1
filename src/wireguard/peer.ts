// Per-peer state: identity, handshake, sessions, endpoint, counters, timers, and the
// packets waiting for a session.
import type { Clock } from './clock.js';
import { CookieGenerator } from './cookie.js';
import type { Endpoint } from './endpoint.js';
import { Keypairs } from './keypair.js';
import { MAX_STAGED_PACKETS } from './messages.js';
import { Handshake } from './noise.js';
import { PeerTimers, type TimerActions } from './timers.js';

export class Peer {
  readonly handshake: Handshake;
  readonly cookieGenerator: CookieGenerator;
  readonly keypairs = new Keypairs();
  readonly timers: PeerTimers;
  endpoint: Endpoint | null = null;
  persistentKeepaliveInterval = 0;
  rxBytes = 0;
  txBytes = 0;
  /** Wall-clock ms of the last completed handshake, 0 if none. */
  lastHandshakeWallMs = 0;
  /** Monotonic ms an initiation was last sent (initiations are at most one per REKEY_TIMEOUT). */
  lastSentHandshake = -Infinity;
  /** Set once we started a rekey because the session nears REJECT_AFTER_TIME. */
  sentLastMinuteHandshake = false;
  /** Plaintext IP packets waiting for a session; oldest dropped first beyond the bound. */
  readonly staged: Buffer[] = [];
  removed = false;
  /** Data-path scratch of TouchedPeers: per mark, the last batch that listed this peer and where. */
  readonly batchMark = new Float64Array(2);
  readonly batchSlot = new Uint32Array(2);

  constructor(
    readonly publicKey: Uint8Array,
    readonly publicKeyHex: string,
    clock: Clock,
    actions: (peer: Peer) => TimerActions,
  ) {
    this.handshake = new Handshake(Uint8Array.from(publicKey));
    this.cookieGenerator = new CookieGenerator(publicKey);
    this.timers = new PeerTimers(clock, actions(this));
  }

  /** Queues a copy of a packet; returns true when an older packet had to be dropped. */
  stage(packet: Uint8Array): boolean {
    this.staged.push(Buffer.from(packet));
    if (this.staged.length <= MAX_STAGED_PACKETS) return false;
    this.staged.shift();
    return true;
  }
}
