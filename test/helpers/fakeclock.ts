// A clock the test moves by hand. Timers fire in time order as `advance` passes them.
import type { Clock, TimerHandle } from '../../src/wireguard/clock.js';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  private t = 1_000_000;
  private wall = Date.UTC(2026, 10, 23);
  private seq = 0;
  private timers: Pending[] = [];

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.wall + this.t;
  }

  schedule(ms: number, fn: () => void): TimerHandle {
    const p: Pending = { at: this.t + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(p);
    return { cancel: () => (p.cancelled = true) };
  }

  /** Moves time forward by `ms`, firing due timers in order (each at its own time). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      this.timers = this.timers.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.timers) if (p.at <= end && (next === undefined || p.at < next.at || (p.at === next.at && p.seq < next.seq))) next = p;
      if (next === undefined) break;
      this.t = Math.max(this.t, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.t = end;
  }
}
