// Traffic for memif tests: numbered Ethernet frames whose every byte follows from their
// sequence number, and an echo driver that sends them through a Memif with a bounded number
// in flight per queue and checks each returned frame bit for bit (with the MAC addresses
// swapped when the peer is testpmd in macswap mode).
import { once } from 'node:events';
import type { Memif, MemifConnection } from '../../src/tun/memif.js';
import { PacketBatch } from '../../src/wireguard/batch.js';

export const DST_MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x01]);
export const SRC_MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x02]);
const ETHERTYPE = 0x88b5; // IEEE 802 local experimental

/** Mixed sizes 60..1514, every size reached. */
export function mixedSize(seq: number): number {
  return 60 + ((seq * 7919) % 1455);
}

/** Byte i of frame `seq`: MACs, ethertype, the sequence number, then a pattern. */
function frameByte(seq: number, i: number, swapped: boolean): number {
  if (i < 6) return (swapped ? SRC_MAC : DST_MAC)[i];
  if (i < 12) return (swapped ? DST_MAC : SRC_MAC)[i - 6];
  if (i === 12) return ETHERTYPE >> 8;
  if (i === 13) return ETHERTYPE & 0xff;
  if (i < 18) return (seq >>> (8 * (17 - i))) & 0xff;
  return (seq * 31 + i * 7) & 0xff;
}

/** Writes frame `seq` of `size` bytes into `out` (which must be that long). */
export function writeFrame(out: Uint8Array, seq: number, size: number): void {
  const head = Math.min(size, 18);
  for (let i = 0; i < head; i++) out[i] = frameByte(seq, i, false);
  for (let i = 18; i < size; i++) out[i] = (seq * 31 + i * 7) & 0xff;
}

export function makeFrame(seq: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  writeFrame(b, seq, size);
  return b;
}

export function frameSeq(frame: Uint8Array): number {
  return ((frame[14] << 24) | (frame[15] << 16) | (frame[16] << 8) | frame[17]) >>> 0;
}

/** True when `frame` is exactly frame `seq` of `size` bytes (MACs swapped if `swapped`). */
export function frameMatches(frame: Uint8Array, seq: number, size: number, swapped: boolean): boolean {
  if (frame.length !== size) return false;
  const head = Math.min(size, 18);
  for (let i = 0; i < head; i++) if (frame[i] !== frameByte(seq, i, swapped)) return false;
  for (let i = 18; i < size; i++) if (frame[i] !== ((seq * 31 + i * 7) & 0xff)) return false;
  return true;
}

export function waitEvent<T>(emitter: Memif, event: 'connected' | 'disconnected' | 'handshakeFailed', timeoutMs = 5000): Promise<T> {
  return once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) }).then((args) => args[0] as T);
}

/** Resolves with the connection, now or when it comes. */
export async function connected(m: Memif, timeoutMs = 5000): Promise<MemifConnection> {
  return m.connection ?? (await waitEvent<MemifConnection>(m, 'connected', timeoutMs));
}

export interface EchoOptions {
  count: number;
  size?: (seq: number) => number;
  /** Frames in flight per queue; keep it under what the peer's rings can hold. */
  window: number;
  /** The peer swaps MAC addresses (testpmd macswap). */
  swapped: boolean;
  /** Give up when nothing came back for this long. Default 5 s. */
  stallMs?: number;
  /** First sequence number (so several runs on one connection stay distinct). */
  firstSeq?: number;
}

export interface EchoResult {
  sent: number;
  received: number;
  corrupt: number;
  duplicate: number;
  wrongQueue: number;
  elapsedMs: number;
}

/**
 * Sends `count` frames spread over all queue pairs (frame seq on queue seq % queues) and
 * waits until each came back once, on the queue it was sent on, bit-identical.
 */
export async function echo(m: Memif, o: EchoOptions): Promise<EchoResult> {
  const conn = m.connection;
  if (conn === undefined) throw new Error('echo: not connected');
  const queues = Math.min(conn.rxQueues, conn.txQueues);
  const sizeOf = o.size ?? mixedSize;
  const first = o.firstSeq ?? 0;
  let maxSize = 0;
  for (let s = 0; s < Math.min(o.count, 4096); s++) maxSize = Math.max(maxSize, sizeOf(first + s));
  maxSize = Math.max(maxSize, sizeOf(first + o.count - 1));
  const seen = new Uint8Array(o.count);
  const nextK = new Array<number>(queues).fill(0);
  const inFlight = new Array<number>(queues).fill(0);
  const result: EchoResult = { sent: 0, received: 0, corrupt: 0, duplicate: 0, wrongQueue: 0, elapsedMs: 0 };
  const tx = new PacketBatch(64, maxSize);
  const started = Date.now();
  let lastProgress = started;

  const pump = (q: number): void => {
    if (!m.connected) return;
    tx.reset();
    let k = nextK[q];
    while (tx.count < tx.capacity && inFlight[q] + tx.count < o.window) {
      const idx = q + k * queues;
      if (idx >= o.count) break;
      const size = sizeOf(first + idx);
      const i = tx.count;
      writeFrame(tx.slab.subarray(tx.offsets[i], tx.offsets[i] + size), first + idx, size);
      tx.lengths[i] = size;
      tx.count++;
      k++;
    }
    if (tx.count === 0) return;
    const n = m.txBurst(q, tx);
    nextK[q] += n;
    inFlight[q] += n;
    result.sent += n;
  };

  m.onFrames(
    (batch, q) => {
      for (let i = 0; i < batch.count; i++) {
        const frame = batch.slab.subarray(batch.offsets[i], batch.offsets[i] + batch.lengths[i]);
        const seq = frameSeq(frame);
        const idx = seq - first;
        if (idx < 0 || idx >= o.count || !frameMatches(frame, seq, sizeOf(seq), o.swapped)) {
          result.corrupt++;
          continue;
        }
        if (idx % queues !== q) result.wrongQueue++;
        if (seen[idx] !== 0) {
          result.duplicate++;
          continue;
        }
        seen[idx] = 1;
        result.received++;
        inFlight[idx % queues]--;
      }
      lastProgress = Date.now();
      pump(q);
    },
    { batchCapacity: 256, maxFrameSize: maxSize },
  );

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let q = 0; q < queues; q++) pump(q);
      if (result.received === o.count || Date.now() - lastProgress > (o.stallMs ?? 5000)) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  result.elapsedMs = Date.now() - started;
  return result;
}
