// The per-peer timer state machine (paper, section 6; same events as the kernel's
// timers.c). Events from the send and receive paths arm or cancel five timers; when one
// fires it calls back into the peer through TimerActions. All time comes from a Clock.
import type { Clock, TimerHandle } from './clock.js';
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
} from './messages.js';

export interface TimerActions {
  /** Send a fresh initiation (retry = continues the current attempt series). */
  sendInitiation(retry: boolean): void;
  sendKeepalive(): void;
  /** Retransmissions ran out: drop staged packets. */
  giveUpHandshake(): void;
  zeroKeyMaterial(): void;
  persistentKeepaliveInterval(): number;
}

/** One re-armable timer on the injectable clock. */
class Timer {
  private handle: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  get pending(): boolean {
    return this.handle !== null;
  }

  mod(ms: number): void {
    this.del();
    this.handle = this.clock.schedule(ms, () => {
      this.handle = null;
      this.fire();
    });
  }

  del(): void {
    if (this.handle !== null) {
      this.handle.cancel();
      this.handle = null;
    }
  }
}

function jitter(): number {
  return Math.floor(Math.random() * REKEY_TIMEOUT_JITTER_MAX);
}

export class PeerTimers {
  handshakeAttempts = 0;
  private needAnotherKeepalive = false;
  private enabled = true;
  private readonly retransmitHandshake: Timer;
  private readonly sendKeepalive: Timer;
  private readonly newHandshake: Timer;
  private readonly zeroKeyMaterial: Timer;
  private readonly persistentKeepalive: Timer;

  constructor(
    clock: Clock,
    private readonly actions: TimerActions,
  ) {
    this.retransmitHandshake = new Timer(clock, () => this.expiredRetransmitHandshake());
    this.sendKeepalive = new Timer(clock, () => this.expiredSendKeepalive());
    this.newHandshake = new Timer(clock, () => this.actions.sendInitiation(false));
    this.zeroKeyMaterial = new Timer(clock, () => this.actions.zeroKeyMaterial());
    this.persistentKeepalive = new Timer(clock, () => {
      if (this.actions.persistentKeepaliveInterval() > 0) this.actions.sendKeepalive();
    });
  }

  private expiredRetransmitHandshake(): void {
    if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      this.sendKeepalive.del();
      this.actions.giveUpHandshake();
      // Keys may still be around from before; make sure they die eventually.
      if (!this.zeroKeyMaterial.pending) this.zeroKeyMaterial.mod(REJECT_AFTER_TIME * 3);
      return;
    }
    this.handshakeAttempts++;
    this.actions.sendInitiation(true);
  }

  private expiredSendKeepalive(): void {
    this.actions.sendKeepalive();
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.sendKeepalive.mod(KEEPALIVE_TIMEOUT);
    }
  }

  /** A data packet (not a keepalive) was sent. */
  dataSent(): void {
    if (this.enabled && !this.newHandshake.pending) this.newHandshake.mod(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter());
  }

  /** A data packet (not a keepalive) was received. */
  dataReceived(): void {
    if (!this.enabled) return;
    if (!this.sendKeepalive.pending) this.sendKeepalive.mod(KEEPALIVE_TIMEOUT);
    else this.needAnotherKeepalive = true;
  }

  /** Any authenticated packet (data, keepalive, handshake) was sent. */
  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive.del();
  }

  /** Any authenticated packet was received. */
  anyAuthenticatedPacketReceived(): void {
    this.newHandshake.del();
  }

  /** Any authenticated packet was sent or received: restarts the persistent keepalive. */
  anyAuthenticatedPacketTraversal(): void {
    const interval = this.actions.persistentKeepaliveInterval();
    if (this.enabled && interval > 0) this.persistentKeepalive.mod(interval * 1000);
  }

  handshakeInitiated(): void {
    if (this.enabled) this.retransmitHandshake.mod(REKEY_TIMEOUT + jitter());
  }

  handshakeComplete(): void {
    this.retransmitHandshake.del();
    this.handshakeAttempts = 0;
  }

  sessionDerived(): void {
    if (this.enabled) this.zeroKeyMaterial.mod(REJECT_AFTER_TIME * 3);
  }

  /** The peer is going away: nothing fires again. */
  stop(): void {
    this.enabled = false;
    for (const t of [this.retransmitHandshake, this.sendKeepalive, this.newHandshake, this.zeroKeyMaterial, this.persistentKeepalive]) t.del();
  }
}
