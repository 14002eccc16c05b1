// Per-source token bucket for handshake processing under load: 20 per second with a burst
// of 5, keyed by the IPv4 address or the IPv6 /64 (one host usually owns a whole /64).
const PACKETS_PER_SECOND = 20;
const BURST = 5;
const COST_MS = 1000 / PACKETS_PER_SECOND;
const MAX_BUCKET_MS = COST_MS * BURST;
/** Bounded table: a flood of sources cannot grow memory without limit. */
const MAX_ENTRIES = 16384;
const GC_INTERVAL_MS = 1000;

interface Bucket {
  tokensMs: number;
  lastMs: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastGc = 0;

  allow(sourceKey: string, nowMs: number): boolean {
    this.collect(nowMs);
    let b = this.buckets.get(sourceKey);
    if (b === undefined) {
      if (this.buckets.size >= MAX_ENTRIES) return false;
      b = { tokensMs: MAX_BUCKET_MS, lastMs: nowMs };
      this.buckets.set(sourceKey, b);
    }
    b.tokensMs = Math.min(MAX_BUCKET_MS, b.tokensMs + (nowMs - b.lastMs));
    b.lastMs = nowMs;
    if (b.tokensMs < COST_MS) return false;
    b.tokensMs -= COST_MS;
    return true;
  }

  /** Buckets that have refilled completely carry no information: drop them. */
  private collect(nowMs: number): void {
    if (nowMs - this.lastGc < GC_INTERVAL_MS) return;
    this.lastGc = nowMs;
    for (const [k, b] of this.buckets) if (nowMs - b.lastMs >= MAX_BUCKET_MS) this.buckets.delete(k);
  }
}

/** The bucket key of a source address: the IPv4 address, or the first 64 bits of IPv6. */
export function rateLimitKey(family: 4 | 6, address: string): string {
  if (family === 4) return address;
  return expandV6(address).slice(0, 4).join(':');
}

function expandV6(address: string): string[] {
  const noZone = address.split('%')[0];
  const [head, tail] = noZone.split('::');
  const h = head === '' ? [] : head.split(':');
  if (tail === undefined) return h;
  const t = tail === '' ? [] : tail.split(':');
  return [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
}
