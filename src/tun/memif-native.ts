// The typed view of native/memif.cc, narrowed from the addon the same way src/native.ts does
// for its facilities (that file leaves other facilities' typings to their own wrappers).
import { nativeFacility } from '../native.js';

/** Configuration as native/memif.cc reads it; every field but socketPath has a default. */
export interface NativeMemifConfig {
  socketPath: string;
  master?: boolean;
  id?: number;
  secret?: string;
  /** 0 = ethernet, 1 = ip. */
  mode?: number;
  queuePairs?: number;
  log2RingSize?: number;
  bufferSize?: number;
  interfaceName?: string;
  appName?: string;
  polling?: boolean;
  reconnectMs?: number;
  handshakeTimeoutMs?: number;
}

/** Event kinds passed to the native callback. */
export const enum MemifEvent {
  Connected = 1,
  Disconnected = 2,
  Readable = 3,
  Log = 4,
  HandshakeFailed = 5,
}

/** Log levels of MemifEvent.Log (arg). */
export const enum MemifLogLevel {
  Error = 0,
  Verbose = 1,
  Debug = 2,
}

/** Values per queue written by readCounters(), in this order. */
export const MEMIF_COUNTERS_PER_QUEUE = 7;

export interface NativeMemifInfo {
  connected: boolean;
  rxQueues: number;
  txQueues: number;
  log2RingSize: number;
  /** The slave's own buffer size; 0 for a master (the slave chooses per descriptor). */
  bufferSize: number;
  remoteName: string;
  remoteInterfaceName: string;
}

export interface NativeMemifInterface {
  /**
   * Copies up to maxPackets frames from receive ring `queue` into slot i at
   * slab[i * slotSize + headroom, +maxLen), setting offsets[i]/lengths[i]; returns the count.
   */
  rxBurst(
    queue: number,
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    slotSize: number,
    headroom: number,
    maxLen: number,
    maxPackets: number,
  ): number;
  /**
   * Copies frames start..start+count-1 (slab[offsets[i], +lengths[i])) into transmit ring
   * `queue`; returns how many were consumed (sent or dropped); the rest found the ring full.
   */
  txBurst(queue: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, start: number, count: number): number;
  readCounters(out: Float64Array): void;
  info(): NativeMemifInfo;
  disconnect(reason?: string): void;
  close(): void;
}

export type NativeMemifEventHandler = (kind: number, arg: number, text: string) => void;

/** Test-only system-call wrappers for the hostile-peer harness (see native/memif_test.h). */
export interface NativeMemifTestHelpers {
  seqpacketListen(path: string): number;
  seqpacketConnect(path: string): number;
  seqpacketAccept(fd: number): number;
  sendMessage(fd: number, bytes: Uint8Array, fds: number[]): number;
  recvMessage(
    fd: number,
    buf: Uint8Array,
  ): { errno: number } | { length: number; truncated: boolean; closed?: boolean; fds: number[] };
  memfdCreate(size: number, allowSealing: boolean, sealShrink: boolean): number;
  eventfdCreate(): number;
}

export interface NativeMemif {
  MemifInterface: new (config: NativeMemifConfig, onEvent: NativeMemifEventHandler) => NativeMemifInterface;
  memifTest: NativeMemifTestHelpers;
}

/** The memif class and test helpers. */
export const nativeMemif = nativeFacility<NativeMemif>(['MemifInterface', 'memifTest']);
