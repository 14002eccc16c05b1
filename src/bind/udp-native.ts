// The typed view of native/udp.cc, narrowed from the addon the way src/native.ts does for
// its facilities.
import { nativeFacility } from '../native.js';

/**
 * Bytes per address record, received or to send to: [0] family (4 | 6, 0 unknown), [1] 0,
 * [2..3] port big-endian, [4..19] address (IPv4 in 4..7), [20..23] IPv6 scope id (host order).
 */
export const ADDRESS_RECORD_SIZE = 24;

/** One non-blocking UDP socket of one family (IPv6 ones are IPV6_V6ONLY). */
export interface NativeUdpSocket {
  /** Binds the wildcard address on `port` (0: any); returns the port bound. Throws with `errno`. */
  bind(port: number): number;
  /** Asks for `bytes` of receive and send buffer (forced when privileged); returns [rcvbuf, sndbuf]. */
  setBufferSizes(bytes: number): [number, number];
  /** SO_MARK; returns 0 or the errno (EPERM without CAP_NET_ADMIN). */
  setMark(mark: number): number;
  /** SO_MARK as the kernel reports it. */
  getMark(): number;
  /**
   * Starts receiving: on each readable event up to `maxPackets` datagrams land in slot i at
   * slab[i*slotSize + headroom, +maxLen); offsets/lengths/addrs (records) describe the kept
   * ones and `onRead(count, oversize)` runs; `oversize` datagrams longer than maxLen were
   * dropped. count < 0 is -errno: reading has stopped.
   */
  start(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint8Array,
    slotSize: number,
    headroom: number,
    maxLen: number,
    maxPackets: number,
    onRead: (count: number, oversize: number) => void,
  ): void;
  /**
   * Sends datagram i (i < count) to record i of `dests` when the record is of this socket's
   * family, with sendmmsg. result[0] = sent, result[1] = bytes sent, result[2] = datagrams of
   * this family; the difference between the two counts are drops.
   */
  sendBatch(
    slab: Uint8Array,
    count: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    dests: Uint8Array,
    result: Float64Array,
  ): void;
  /** Stops receiving and closes the socket; idempotent. */
  close(): void;
}

export interface NativeUdp {
  UdpSocket: new (family: 4 | 6) => NativeUdpSocket;
}

/** The UDP socket class. */
export const nativeUdp = nativeFacility<NativeUdp>(['UdpSocket']);
