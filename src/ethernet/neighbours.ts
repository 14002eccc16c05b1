// The neighbour table: IPv4 and IPv6 addresses on the Ethernet side with the MAC they were
// learned with, plus the packets waiting while an address is being resolved.
//
// Entries live in preallocated typed arrays indexed by an entry id, found through an
// open-addressing hash table keyed by (family, address). Lookups read the address straight
// out of the packet buffer, so the per-packet path never allocates. The table is bounded:
// when it is full the entry under a clock hand is evicted (preferring ones that are not
// usable), so outside input can never grow it.
//
// An entry is INCOMPLETE (being resolved: no MAC yet) or REACHABLE (MAC known until
// `expiresAt`). After its lifetime a REACHABLE entry is still used for one more probe
// interval while a fresh probe asks for confirmation; unanswered, it is treated as
// INCOMPLETE again. Probes are rate-limited to one per destination per PROBE_INTERVAL_MS.
import { HEADROOM, PacketBatch } from '../wireguard/batch.js';
import type { Clock, TimerHandle } from '../wireguard/clock.js';
import { formatAddress } from '../wireguard/ip.js';
import { formatMac, macFromWords } from './frames.js';
import { PrefixSet, readWord } from './ranges.js';

/** At most one ARP request / NS per destination per this many milliseconds. */
export const PROBE_INTERVAL_MS = 3000;

export const INCOMPLETE = 1;
export const REACHABLE = 2;

export interface NeighbourCounters {
  /** Entries created or given a MAC from ARP/NDP. */
  learned: number;
  /** REACHABLE entries confirmed again (same or new MAC). */
  refreshed: number;
  evicted: number;
  queued: number;
  queueDelivered: number;
  queueDropFull: number;
  queueDropTimeout: number;
  queueDropEvicted: number;
  queueDropTooBig: number;
}

export interface NeighbourOptions {
  clock: Clock;
  /** How long a learned MAC is trusted, in milliseconds. */
  lifetimeMs: number;
  ipv4LearningRanges: PrefixSet;
  ipv6LearningRanges: PrefixSet;
  /** Most entries held at once (both families). Default 4096. */
  capacity?: number;
  /** Largest IP packet that can wait in the queue. */
  maxPacketSize: number;
  /** Packets that may wait for one destination; the oldest gives way. Default 8. */
  queuePerDestination?: number;
  /** Packets that may wait in all. Default 128. */
  queueTotal?: number;
  /** How long a packet may wait for its destination to resolve. Default 3000 ms. */
  queueTimeoutMs?: number;
}

/** One entry as the control plane (logs, tests, debugging) sees it. */
export interface NeighbourInfo {
  family: 4 | 6;
  address: string;
  /** null while INCOMPLETE. */
  mac: string | null;
  state: 'incomplete' | 'reachable';
  /** Milliseconds until the MAC needs confirmation (negative once past). */
  expiresInMs: number;
}

export class NeighbourTable {
  readonly counters: NeighbourCounters = {
    learned: 0,
    refreshed: 0,
    evicted: 0,
    queued: 0,
    queueDelivered: 0,
    queueDropFull: 0,
    queueDropTimeout: 0,
    queueDropEvicted: 0,
    queueDropTooBig: 0,
  };
  readonly capacity: number;
  readonly lifetimeMs: number;
  readonly queue: WaitQueue;
  private readonly clock: Clock;
  private readonly learn4: PrefixSet;
  private readonly learn6: PrefixSet;

  // Entry storage, indexed by entry id.
  private readonly family: Uint8Array;
  private readonly keys: Uint32Array; // 4 words per entry; IPv4 uses the last word only
  private readonly stateOf: Uint8Array; // 0 = free
  private readonly macHi: Uint32Array;
  private readonly macLo: Uint16Array;
  private readonly expiresAt: Float64Array;
  private readonly lastProbeAt: Float64Array;
  private readonly freeIds: Int32Array;
  private freeCount: number;
  private hand = 0;
  private used = 0;

  // Open addressing: slot -> entry id + 1 (0 = empty), linear probing, backward-shift delete.
  private readonly slots: Int32Array;
  private readonly slotMask: number;

  // The key being looked up, so helpers need no arguments objects.
  private k0 = 0;
  private k1 = 0;
  private k2 = 0;
  private k3 = 0;
  private kf = 0;

  constructor(options: NeighbourOptions) {
    this.clock = options.clock;
    this.lifetimeMs = options.lifetimeMs;
    this.learn4 = options.ipv4LearningRanges;
    this.learn6 = options.ipv6LearningRanges;
    const capacity = (this.capacity = options.capacity ?? 4096);
    this.family = new Uint8Array(capacity);
    this.keys = new Uint32Array(capacity * 4);
    this.stateOf = new Uint8Array(capacity);
    this.macHi = new Uint32Array(capacity);
    this.macLo = new Uint16Array(capacity);
    this.expiresAt = new Float64Array(capacity);
    this.lastProbeAt = new Float64Array(capacity);
    this.freeIds = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeIds[i] = capacity - 1 - i;
    this.freeCount = capacity;
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.slotMask = size - 1;
    this.queue = new WaitQueue(
      capacity,
      options.queueTotal ?? 128,
      options.queuePerDestination ?? 8,
      options.maxPacketSize,
      options.queueTimeoutMs ?? 3000,
      options.clock,
      this.counters,
    );
  }

  get size(): number {
    return this.used;
  }

  /** Whether an address may be learned or probed for: it lies inside a learning range. */
  inLearningRange(family: 4 | 6, buf: Uint8Array, off: number): boolean {
    return family === 4 ? this.learn4.containsV4(readWord(buf, off)) : this.learn6.contains(buf, off);
  }

  /** The entry id for the address at `buf[off..]` (4 or 16 bytes), or -1. */
  find(family: 4 | 6, buf: Uint8Array, off: number): number {
    this.setKey(family, buf, off);
    return this.findKey();
  }

  /**
   * Creates an INCOMPLETE entry for the address (which must not be in the table yet),
   * evicting one when full. Returns its id.
   */
  insert(family: 4 | 6, buf: Uint8Array, off: number): number {
    this.setKey(family, buf, off);
    return this.insertKey();
  }

  /**
   * Records that the address at `buf[off..]` has the MAC (hi, lo), if it lies in a learning
   * range. `create`: make an entry when there is none (the message was addressed to us);
   * otherwise only an existing entry is updated (what others say in passing). Returns the
   * entry id, or -1 when nothing was recorded.
   */
  learn(family: 4 | 6, buf: Uint8Array, off: number, hi: number, lo: number, create: boolean): number {
    if (!this.inLearningRange(family, buf, off)) return -1;
    this.setKey(family, buf, off);
    let id = this.findKey();
    if (id < 0) {
      if (!create) return -1;
      id = this.insertKey();
    }
    if (this.stateOf[id] === REACHABLE) this.counters.refreshed++;
    else this.counters.learned++;
    this.stateOf[id] = REACHABLE;
    this.macHi[id] = hi;
    this.macLo[id] = lo;
    this.expiresAt[id] = this.clock.now() + this.lifetimeMs;
    return id;
  }

  /** Extends a REACHABLE entry's lifetime if it still has this MAC (an NA without option). */
  confirm(id: number, hi: number, lo: number): boolean {
    if (this.stateOf[id] !== REACHABLE || this.macHi[id] !== hi || this.macLo[id] !== lo) return false;
    this.expiresAt[id] = this.clock.now() + this.lifetimeMs;
    this.counters.refreshed++;
    return true;
  }

  remove(id: number): void {
    if (this.stateOf[id] === 0) return;
    this.queue.dropAll(id, true);
    this.setKeyFromEntry(id);
    this.deleteSlotOf(id);
    this.stateOf[id] = 0;
    this.freeIds[this.freeCount++] = id;
    this.used--;
  }

  state(id: number): number {
    return this.stateOf[id];
  }

  /** A REACHABLE entry whose MAC may still be used now (its lifetime plus one probe interval). */
  usable(id: number, now: number): boolean {
    return this.stateOf[id] === REACHABLE && now < this.expiresAt[id] + PROBE_INTERVAL_MS;
  }

  /** Past its lifetime: the MAC is still used but wants confirmation. */
  stale(id: number, now: number): boolean {
    return now >= this.expiresAt[id];
  }

  /** Turns an entry whose MAC can no longer be trusted back into INCOMPLETE. */
  forget(id: number): void {
    this.stateOf[id] = INCOMPLETE;
  }

  /** True (and records the probe) when a probe for this entry may go out now. */
  takeProbe(id: number, now: number): boolean {
    if (now - this.lastProbeAt[id] < PROBE_INTERVAL_MS) return false;
    this.lastProbeAt[id] = now;
    return true;
  }

  macHiOf(id: number): number {
    return this.macHi[id];
  }

  macLoOf(id: number): number {
    return this.macLo[id];
  }

  familyOf(id: number): 4 | 6 {
    return this.family[id] as 4 | 6;
  }

  /** Writes the entry's address (4 or 16 bytes) at `buf[off..]`. */
  writeAddress(id: number, buf: Uint8Array, off: number): void {
    const words = this.family[id] === 4 ? 1 : 4;
    for (let w = 0; w < words; w++) {
      const v = this.keys[id * 4 + (4 - words) + w];
      buf[off + 4 * w] = v >>> 24;
      buf[off + 4 * w + 1] = (v >>> 16) & 0xff;
      buf[off + 4 * w + 2] = (v >>> 8) & 0xff;
      buf[off + 4 * w + 3] = v & 0xff;
    }
  }

  /** Every entry, for logs and tests. */
  entries(): NeighbourInfo[] {
    const now = this.clock.now();
    const out: NeighbourInfo[] = [];
    for (let id = 0; id < this.capacity; id++) {
      const state = this.stateOf[id];
      if (state === 0) continue;
      const family = this.familyOf(id);
      const address = new Uint8Array(family === 4 ? 4 : 16);
      this.writeAddress(id, address, 0);
      out.push({
        family,
        address: formatAddress(family, address),
        mac: state === REACHABLE ? formatMac(macFromWords(this.macHi[id], this.macLo[id])) : null,
        state: state === REACHABLE ? 'reachable' : 'incomplete',
        expiresInMs: state === REACHABLE ? this.expiresAt[id] - now : 0,
      });
    }
    return out;
  }

  /** Drops every entry and waiting packet (counted as evicted drops). */
  clear(): void {
    for (let id = 0; id < this.capacity; id++) if (this.stateOf[id] !== 0) this.remove(id);
  }

  private setKey(family: 4 | 6, buf: Uint8Array, off: number): void {
    this.kf = family;
    if (family === 4) {
      this.k0 = 0;
      this.k1 = 0;
      this.k2 = 0;
      this.k3 = readWord(buf, off);
    } else {
      this.k0 = readWord(buf, off);
      this.k1 = readWord(buf, off + 4);
      this.k2 = readWord(buf, off + 8);
      this.k3 = readWord(buf, off + 12);
    }
  }

  private setKeyFromEntry(id: number): void {
    this.kf = this.family[id];
    this.k0 = this.keys[id * 4];
    this.k1 = this.keys[id * 4 + 1];
    this.k2 = this.keys[id * 4 + 2];
    this.k3 = this.keys[id * 4 + 3];
  }

  private hashKey(): number {
    let h = Math.imul(this.k3 ^ this.kf, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ this.k2, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ this.k1, 0xc2b2ae3d);
    h = Math.imul(h ^ (h >>> 16) ^ this.k0, 0x27d4eb2f);
    return (h ^ (h >>> 15)) & this.slotMask;
  }

  private keyMatches(id: number): boolean {
    const k = id * 4;
    return (
      this.family[id] === this.kf && this.keys[k + 3] === this.k3 && this.keys[k + 2] === this.k2 && this.keys[k + 1] === this.k1 && this.keys[k] === this.k0
    );
  }

  private findKey(): number {
    for (let s = this.hashKey(); ; s = (s + 1) & this.slotMask) {
      const v = this.slots[s];
      if (v === 0) return -1;
      if (this.keyMatches(v - 1)) return v - 1;
    }
  }

  private insertKey(): number {
    if (this.freeCount === 0) this.evictOne();
    const id = this.freeIds[--this.freeCount];
    const k = id * 4;
    this.family[id] = this.kf;
    this.keys[k] = this.k0;
    this.keys[k + 1] = this.k1;
    this.keys[k + 2] = this.k2;
    this.keys[k + 3] = this.k3;
    this.stateOf[id] = INCOMPLETE;
    this.expiresAt[id] = 0;
    this.lastProbeAt[id] = -Infinity;
    let s = this.hashKey();
    while (this.slots[s] !== 0) s = (s + 1) & this.slotMask;
    this.slots[s] = id + 1;
    this.used++;
    return id;
  }

  /** Removes the slot of entry `id` (key already set), shifting later slots of the run back. */
  private deleteSlotOf(id: number): void {
    let s = this.hashKey();
    while (this.slots[s] !== id + 1) s = (s + 1) & this.slotMask;
    let hole = s;
    for (let j = (hole + 1) & this.slotMask; this.slots[j] !== 0; j = (j + 1) & this.slotMask) {
      this.setKeyFromEntry(this.slots[j] - 1);
      const home = this.hashKey();
      // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        this.slots[hole] = this.slots[j];
        hole = j;
      }
    }
    this.slots[hole] = 0;
  }

  /** Frees one entry: the first unusable one within a few steps of the hand, else the hand's. */
  private evictOne(): void {
    const now = this.clock.now();
    let victim = this.hand;
    for (let step = 0; step < 8; step++) {
      const id = (this.hand + step) % this.capacity;
      if (!this.usable(id, now)) {
        victim = id;
        break;
      }
    }
    this.hand = (victim + 1) % this.capacity;
    // Keep the caller's key: remove() overwrites it while shifting slots.
    const kf = this.kf,
      k0 = this.k0,
      k1 = this.k1,
      k2 = this.k2,
      k3 = this.k3;
    this.remove(victim);
    this.counters.evicted++;
    this.kf = kf;
    this.k0 = k0;
    this.k1 = k1;
    this.k2 = k2;
    this.k3 = k3;
  }
}

/**
 * Packets waiting for their destination's MAC: copies in a preallocated pool (a
 * PacketBatch whose slots keep their headroom, so an Ethernet header can be written in
 * front of each), chained per entry id. `drain` hands back the pool batch itself with
 * offsets pointing at one destination's packets: zero-copy, valid until the next enqueue.
 */
export class WaitQueue {
  readonly pool: PacketBatch;
  private readonly next: Int32Array; // per slot: next slot of the same destination, -1 at the end
  private readonly len: Uint32Array;
  private readonly at: Float64Array;
  private readonly owner: Int32Array; // per slot: entry id, -1 when free
  private readonly head: Int32Array; // per entry id
  private readonly tail: Int32Array;
  private readonly count: Uint16Array;
  private readonly free: Int32Array;
  private freeCount: number;
  private timer: TimerHandle | null = null;

  constructor(
    entries: number,
    readonly total: number,
    readonly perDestination: number,
    readonly maxPacketSize: number,
    readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly counters: NeighbourCounters,
  ) {
    this.pool = new PacketBatch(total, maxPacketSize);
    this.next = new Int32Array(total).fill(-1);
    this.len = new Uint32Array(total);
    this.at = new Float64Array(total);
    this.owner = new Int32Array(total).fill(-1);
    this.head = new Int32Array(entries).fill(-1);
    this.tail = new Int32Array(entries).fill(-1);
    this.count = new Uint16Array(entries);
    this.free = new Int32Array(total);
    for (let i = 0; i < total; i++) this.free[i] = total - 1 - i;
    this.freeCount = total;
  }

  /** Packets waiting for entry `id`. */
  waiting(id: number): number {
    return this.count[id];
  }

  /** Packets waiting in all. */
  get size(): number {
    return this.total - this.freeCount;
  }

  /** Copies the packet `buf[off..off+len]` into the queue of entry `id`. False when dropped. */
  enqueue(id: number, buf: Buffer, off: number, len: number, now: number): boolean {
    if (len > this.maxPacketSize) {
      this.counters.queueDropTooBig++;
      return false;
    }
    if (this.count[id] >= this.perDestination) {
      this.freeSlot(this.popHead(id));
      this.counters.queueDropFull++;
    } else if (this.freeCount === 0) {
      this.sweep(now);
      if (this.freeCount === 0) {
        this.counters.queueDropFull++;
        return false;
      }
    }
    const slot = this.free[--this.freeCount];
    buf.copy(this.pool.slab, this.pool.slotStart(slot) + HEADROOM, off, off + len);
    this.len[slot] = len;
    this.at[slot] = now;
    this.owner[slot] = id;
    this.next[slot] = -1;
    if (this.tail[id] >= 0) this.next[this.tail[id]] = slot;
    else this.head[id] = slot;
    this.tail[id] = slot;
    this.count[id]++;
    this.counters.queued++;
    if (this.timer === null) this.timer = this.clock.schedule(this.timeoutMs, () => this.onTimer());
    return true;
  }

  /**
   * Takes every packet of entry `id` that has not timed out and returns the pool batch set
   * up with them (offsets at the IP packets, HEADROOM free in front), or null when none.
   */
  drain(id: number, now: number): PacketBatch | null {
    const batch = this.pool;
    let n = 0;
    while (this.count[id] > 0) {
      const slot = this.popHead(id);
      if (now - this.at[slot] >= this.timeoutMs) {
        this.counters.queueDropTimeout++;
      } else {
        batch.offsets[n] = this.pool.slotStart(slot) + HEADROOM;
        batch.lengths[n] = this.len[slot];
        n++;
      }
      this.freeSlot(slot);
    }
    batch.count = n;
    this.counters.queueDelivered += n;
    return n > 0 ? batch : null;
  }

  /** Drops every packet of entry `id` (evicted: counted as such, else as timed out). */
  dropAll(id: number, evicted: boolean): void {
    while (this.count[id] > 0) {
      this.freeSlot(this.popHead(id));
      if (evicted) this.counters.queueDropEvicted++;
      else this.counters.queueDropTimeout++;
    }
  }

  /** Drops the packets that waited too long. */
  sweep(now: number): void {
    for (let slot = 0; slot < this.total; slot++) {
      const id = this.owner[slot];
      if (id < 0 || now - this.at[slot] < this.timeoutMs) continue;
      // Packets of one destination are in arrival order: drop from its head.
      while (this.count[id] > 0 && now - this.at[this.head[id]] >= this.timeoutMs) {
        this.freeSlot(this.popHead(id));
        this.counters.queueDropTimeout++;
      }
    }
  }

  /** Cancels the timeout timer (the adapter is closing). */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private onTimer(): void {
    this.timer = null;
    const now = this.clock.now();
    this.sweep(now);
    if (this.size === 0) return;
    let oldest = Infinity;
    for (let slot = 0; slot < this.total; slot++) if (this.owner[slot] >= 0 && this.at[slot] < oldest) oldest = this.at[slot];
    this.timer = this.clock.schedule(Math.max(1, oldest + this.timeoutMs - now), () => this.onTimer());
  }

  private popHead(id: number): number {
    const slot = this.head[id];
    this.head[id] = this.next[slot];
    if (this.head[id] < 0) this.tail[id] = -1;
    this.count[id]--;
    return slot;
  }

  private freeSlot(slot: number): void {
    this.owner[slot] = -1;
    this.next[slot] = -1;
    this.free[this.freeCount++] = slot;
  }
}
