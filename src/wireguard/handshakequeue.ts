// Handshake messages are expensive (several X25519 operations each), so they wait in a
// bounded queue and are worked off in slices between data batches. A long queue is how we
// know we are under load: then mac2 (a cookie) and the per-source rate limit are required.
import type { Endpoint } from './endpoint.js';

/** Messages beyond this many waiting are dropped. */
export const HANDSHAKE_QUEUE_SIZE = 1024;
/** Queue depth at which the device counts as under load (as wireguard-go: 1/8 of the queue). */
export const DEFAULT_UNDER_LOAD_DEPTH = HANDSHAKE_QUEUE_SIZE / 8;
/** Once under load, stay so for this long after the queue shrinks. */
export const UNDER_LOAD_AFTER_MS = 1000;
/** Messages processed per event-loop turn, so data batches are not starved. */
const SLICE = 64;

export interface QueuedHandshake {
  message: Buffer;
  source: Endpoint;
  now: number;
  underLoad: boolean;
}

export interface HandshakeQueueHost {
  clock: { now(): number };
  underLoadDepth: number;
  drop(counter: 'rxHandshakeQueueFull', why: string): void;
}

export class HandshakeQueue {
  private queue: { message: Buffer; source: Endpoint }[] = [];
  private head = 0;
  private underLoadUntil = -Infinity;
  private scheduled = false;

  constructor(
    private readonly host: HandshakeQueueHost,
    private readonly process: (h: QueuedHandshake) => void,
  ) {}

  get length(): number {
    return this.queue.length - this.head;
  }

  enqueue(message: Uint8Array, source: Endpoint, now: number): void {
    if (this.length >= HANDSHAKE_QUEUE_SIZE) {
      this.host.drop('rxHandshakeQueueFull', 'handshake queue full');
      return;
    }
    this.queue.push({ message: Buffer.from(message), source });
    if (this.length >= this.host.underLoadDepth) this.underLoadUntil = now + UNDER_LOAD_AFTER_MS;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Works off one slice; reschedules itself while messages remain. */
  drain(): void {
    this.scheduled = false;
    const end = Math.min(this.queue.length, this.head + SLICE);
    while (this.head < end) {
      const item = this.queue[this.head++];
      const now = this.host.clock.now();
      const underLoad = this.length >= this.host.underLoadDepth || now < this.underLoadUntil;
      this.process({ message: item.message, source: item.source, now, underLoad });
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
  }
}
