// The UDP bind on native batched sockets (native/udp.cc): one IPv4 and one IPv6-only socket
// on the same port, as wireguard-go binds. Each readable event receives up to a whole batch
// with one recvmmsg straight into the PacketBatch slots and calls the core once; each
// send() is one sendmmsg per family. Addresses cross the boundary as fixed-size records
// (see udp-native.ts), so neither direction builds strings or sockaddrs per datagram: a
// small cache maps received address records to Endpoint objects, and each destination
// Endpoint's record is made once and kept beside it.
import { readdirSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { HEADROOM, PacketBatch } from '../wireguard/batch.js';
import type { Bind } from '../wireguard/bind.js';
import type { Endpoint } from '../wireguard/endpoint.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../wireguard/ip.js';
import { silentLogger, type Logger } from '../wireguard/log.js';
import { ADDRESS_RECORD_SIZE, nativeUdp, type NativeUdpSocket } from './udp-native.js';

export interface UdpBindOptions {
  /** Datagrams received with one recvmmsg at most (default 128). */
  batchSize?: number;
  /**
   * Largest datagram accepted, in bytes (default 4032: each slot is then exactly 4 KiB
   * with headroom and tailroom). Larger ones are counted in `rxOversize` and dropped; a
   * peer with the default 1420-byte MTU sends at most 1452.
   */
  maxDatagramSize?: number;
  /**
   * Kernel socket buffer sizes asked for (default 4 MiB); forced past net.core.{r,w}mem_max
   * when the process has CAP_NET_ADMIN, capped by them otherwise.
   */
  socketBufferSize?: number;
  logger?: Logger;
}

export interface UdpBindStats {
  rxDatagrams: number;
  rxBytes: number;
  /** Datagrams larger than a batch slot, dropped. */
  rxOversize: number;
  /** Datagrams the kernel accepted for sending. */
  txDatagrams: number;
  txBytes: number;
  /**
   * Datagrams not sent: refused by the kernel (no route, firewall), the send buffer still
   * full after a short wait, no socket of that family, an unusable address, or closed.
   */
  txErrors: number;
}

/** How often binding IPv6 to IPv4's randomly chosen port is retried when taken. */
const RANDOM_PORT_ATTEMPTS = 8;
const DEFAULT_BATCH = 128;
const DEFAULT_MAX_DATAGRAM = 4032;
const DEFAULT_SOCKET_BUFFER = 4 << 20;
const ERRNO = osConstants.errno as Record<string, number>;
const EADDRINUSE = ERRNO.EADDRINUSE ?? 98;
const EINVAL = ERRNO.EINVAL ?? 22;
/** Errors that mean "this host has no IPv6": the bind then runs on IPv4 alone. */
const NO_IPV6 = new Set([ERRNO.EAFNOSUPPORT ?? 97, ERRNO.EADDRNOTAVAIL ?? 99, ERRNO.EPROTONOSUPPORT ?? 93]);
/** Words (uint32) per address record. */
const RECORD_WORDS = ADDRESS_RECORD_SIZE / 4;
/** Entries of the received-address → Endpoint cache (a power of two). */
const SOURCE_CACHE_SIZE = 256;

interface SocketPair {
  v4: NativeUdpSocket;
  /** null when the host has no IPv6 (the bind then works on IPv4 alone). */
  v6: NativeUdpSocket | null;
  port: number;
}

/** A destination Endpoint's address record, made once per Endpoint object. */
interface Destination {
  /** 0 when the Endpoint's address cannot be used: such datagrams are counted as errors. */
  family: 0 | 4 | 6;
  words: Uint32Array;
}

export class UdpBind implements Bind {
  readonly stats: UdpBindStats = { rxDatagrams: 0, rxBytes: 0, rxOversize: 0, txDatagrams: 0, txBytes: 0, txErrors: 0 };
  private readonly logger: Logger;
  private readonly socketBufferSize: number;
  private readonly maxDatagramSize: number;
  /**
   * The receive batch, shared by both sockets: each readable event fills it and hands it to
   * the handler synchronously, so one socket's batch is done before the other's starts.
   */
  private readonly rx: PacketBatch;
  private readonly rxAddrs: Uint8Array;
  private readonly rxWords: Uint32Array;
  private readonly sources: Endpoint[];
  private readonly cacheWords = new Uint32Array(SOURCE_CACHE_SIZE * RECORD_WORDS);
  private readonly cacheEndpoints: (Endpoint | null)[] = new Array<Endpoint | null>(SOURCE_CACHE_SIZE).fill(null);
  private readonly destinations = new WeakMap<Endpoint, Destination>();
  private txAddrs = new Uint8Array(0);
  private txWords = new Uint32Array(0);
  private readonly txResult = new Float64Array(3);
  private handler: (batch: PacketBatch, sources: readonly Endpoint[]) => void = () => {};
  private sockets: SocketPair | null = null;
  private mark = 0;
  // Bound once so that receiving allocates no closure per event.
  private readonly onRead = (count: number, oversize: number): void => this.received(count, oversize);

  constructor(opts: UdpBindOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.socketBufferSize = opts.socketBufferSize ?? DEFAULT_SOCKET_BUFFER;
    const capacity = opts.batchSize ?? DEFAULT_BATCH;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1024) throw new RangeError(`invalid batch size ${capacity}`);
    this.maxDatagramSize = opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM;
    if (!Number.isInteger(this.maxDatagramSize) || this.maxDatagramSize < 1 || this.maxDatagramSize > 65535) {
      throw new RangeError(`invalid maximum datagram size ${this.maxDatagramSize}`);
    }
    this.rx = new PacketBatch(capacity, this.maxDatagramSize);
    this.rxAddrs = new Uint8Array(capacity * ADDRESS_RECORD_SIZE);
    this.rxWords = new Uint32Array(this.rxAddrs.buffer);
    this.sources = new Array<Endpoint>(capacity);
  }

  /** The port bound, 0 when closed. */
  get port(): number {
    return this.sockets?.port ?? 0;
  }

  get fwmark(): number {
    return this.mark;
  }

  onReceive(handler: (batch: PacketBatch, sources: readonly Endpoint[]) => void): void {
    this.handler = handler;
  }

  /**
   * Binds new sockets on `port` (0: a random one), then closes the old ones. If binding
   * fails the old sockets stay open and the promise rejects with an Error whose `errno` is
   * positive (EADDRINUSE = 98 when the port is taken).
   */
  async open(port: number): Promise<number> {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw Object.assign(new Error(`invalid UDP port ${port}`), { errno: EINVAL, code: 'EINVAL' });
    }
    const current = this.sockets;
    // Re-binding the port we already hold would collide with ourselves.
    if (current !== null && port !== 0 && port === current.port) return current.port;
    const fresh = this.bindPair(port);
    this.sockets = fresh;
    if (current !== null) closePair(current);
    this.logger.verbose(`UDP bind listening on port ${fresh.port}${fresh.v6 ? '' : ' (IPv4 only)'}`);
    return fresh.port;
  }

  send(batch: PacketBatch, destinations: readonly Endpoint[]): void {
    const count = batch.count;
    if (count === 0) return;
    const pair = this.sockets;
    if (pair === null) {
      this.stats.txErrors += count;
      return;
    }
    if (this.txAddrs.length < count * ADDRESS_RECORD_SIZE) {
      this.txAddrs = new Uint8Array(Math.max(count, batch.capacity) * ADDRESS_RECORD_SIZE);
      this.txWords = new Uint32Array(this.txAddrs.buffer);
    }
    const words = this.txWords;
    let v4 = 0;
    let v6 = 0;
    let prev: Endpoint | null = null;
    let dst: Destination | null = null;
    for (let i = 0; i < count; i++) {
      const e = destinations[i];
      // A batch usually goes to one peer: look the record up once per run of one Endpoint.
      if (e !== prev || dst === null) {
        dst = this.destinationFor(e);
        prev = e;
      }
      const src = dst.words;
      const w = i * RECORD_WORDS;
      words[w] = src[0];
      words[w + 1] = src[1];
      words[w + 2] = src[2];
      words[w + 3] = src[3];
      words[w + 4] = src[4];
      words[w + 5] = src[5];
      if (dst.family === 4) v4++;
      else if (dst.family === 6) v6++;
    }
    const result = this.txResult;
    let sent = 0;
    if (v4 > 0) {
      pair.v4.sendBatch(batch.slab, count, batch.offsets, batch.lengths, this.txAddrs, result);
      sent += result[0];
      this.stats.txBytes += result[1];
    }
    if (v6 > 0 && pair.v6 !== null) {
      pair.v6.sendBatch(batch.slab, count, batch.offsets, batch.lengths, this.txAddrs, result);
      sent += result[0];
      this.stats.txBytes += result[1];
    }
    this.stats.txDatagrams += sent;
    if (sent < count) {
      this.stats.txErrors += count - sent;
      this.logger.debug(`UDP send: ${count - sent} of ${count} datagrams not sent`);
    }
  }

  /** Sets SO_MARK on the sockets now open and on those opened later. */
  setMark(mark: number): void {
    const previous = this.mark;
    this.mark = mark >>> 0;
    // Clearing a mark never set needs no system call (and no privilege).
    if (this.mark === 0 && previous === 0) return;
    const pair = this.sockets;
    if (pair !== null) {
      this.applyMark(pair.v4);
      if (pair.v6 !== null) this.applyMark(pair.v6);
    }
  }

  /** SO_MARK of each open socket as the kernel reports it (IPv4 first); for tests and diagnostics. */
  socketMarks(): number[] {
    const pair = this.sockets;
    if (pair === null) return [];
    return pair.v6 === null ? [pair.v4.getMark()] : [pair.v4.getMark(), pair.v6.getMark()];
  }

  async close(): Promise<void> {
    const pair = this.sockets;
    this.sockets = null;
    if (pair !== null) closePair(pair);
  }

  // ---- receiving ---------------------------------------------------------------------

  private received(count: number, oversize: number): void {
    if (count < 0) {
      this.logger.error(`UDP socket stopped receiving: ${errnoName(-count)}`);
      return;
    }
    this.stats.rxOversize += oversize;
    if (count === 0) return;
    const batch = this.rx;
    batch.count = count;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      this.sources[i] = this.sourceAt(i);
      bytes += batch.lengths[i];
    }
    this.stats.rxDatagrams += count;
    this.stats.rxBytes += bytes;
    try {
      this.handler(batch, this.sources);
    } catch (err) {
      this.logger.error(`receive handler: ${(err as Error).message}`);
    }
  }

  /**
   * The sender of received datagram i as an Endpoint. A direct-mapped cache keyed by the
   * address record hands out the same object for the same sender, so steady traffic from
   * known peers allocates nothing.
   */
  private sourceAt(i: number): Endpoint {
    const r = this.rxWords;
    const w = i * RECORD_WORDS;
    const w0 = r[w];
    const w1 = r[w + 1];
    const w2 = r[w + 2];
    const w3 = r[w + 3];
    const w4 = r[w + 4];
    const w5 = r[w + 5];
    let h = Math.imul(w0 ^ w4, 0x9e3779b1) ^ Math.imul(w1 ^ w5, 0x85ebca6b) ^ Math.imul(w2 ^ w3, 0xc2b2ae35);
    h ^= h >>> 15;
    h ^= h >>> 8;
    const slot = h & (SOURCE_CACHE_SIZE - 1);
    const c = slot * RECORD_WORDS;
    const cw = this.cacheWords;
    const cached = this.cacheEndpoints[slot];
    if (
      cached !== null &&
      cw[c] === w0 &&
      cw[c + 1] === w1 &&
      cw[c + 2] === w2 &&
      cw[c + 3] === w3 &&
      cw[c + 4] === w4 &&
      cw[c + 5] === w5
    ) {
      return cached;
    }
    const e = endpointFromRecord(this.rxAddrs, i * ADDRESS_RECORD_SIZE, r[w + 5]);
    cw[c] = w0;
    cw[c + 1] = w1;
    cw[c + 2] = w2;
    cw[c + 3] = w3;
    cw[c + 4] = w4;
    cw[c + 5] = w5;
    this.cacheEndpoints[slot] = e;
    return e;
  }

  // ---- sending -----------------------------------------------------------------------

  private destinationFor(e: Endpoint): Destination {
    let d = this.destinations.get(e);
    if (d === undefined) {
      d = destinationOf(e);
      if (d.family === 0) this.logger.debug(`UDP send: unusable destination address ${e.address}`);
      this.destinations.set(e, d);
    }
    return d;
  }

  // ---- sockets -----------------------------------------------------------------------

  private bindPair(port: number): SocketPair {
    const { UdpSocket } = nativeUdp();
    let lastError: unknown;
    for (let attempt = 0; attempt < (port === 0 ? RANDOM_PORT_ATTEMPTS : 1); attempt++) {
      let v4: NativeUdpSocket;
      let chosen: number;
      try {
        v4 = new UdpSocket(4);
      } catch (err) {
        throw bindError(err, port);
      }
      try {
        chosen = v4.bind(port);
      } catch (err) {
        v4.close();
        throw bindError(err, port);
      }
      let v6: NativeUdpSocket | null = null;
      try {
        v6 = new UdpSocket(6);
        v6.bind(chosen);
      } catch (err) {
        v6?.close();
        v6 = null;
        const errno = errnoOf(err);
        if (!NO_IPV6.has(errno)) {
          v4.close();
          lastError = err;
          // A random port free for IPv4 but taken for IPv6: try another random one.
          if (port === 0 && errno === EADDRINUSE) continue;
          break;
        }
        // No IPv6 on this host: run on IPv4 alone, as wireguard-go does.
      }
      try {
        this.prepare(v4);
        if (v6 !== null) this.prepare(v6);
      } catch (err) {
        v4.close();
        v6?.close();
        throw bindError(err, port);
      }
      return { v4, v6, port: chosen };
    }
    throw bindError(lastError, port);
  }

  /** Buffers, mark, and receiving, for a socket that is bound and kept. */
  private prepare(sock: NativeUdpSocket): void {
    const [rcv, snd] = sock.setBufferSizes(this.socketBufferSize);
    // The kernel reports twice the size asked for (its bookkeeping overhead included).
    if (rcv < this.socketBufferSize || snd < this.socketBufferSize) {
      this.logger.verbose(`UDP socket buffers are ${rcv}/${snd} bytes, smaller than the ${this.socketBufferSize} asked for`);
    }
    if (this.mark !== 0) this.applyMark(sock);
    const b = this.rx;
    sock.start(b.slab, b.offsets, b.lengths, this.rxAddrs, b.slotSize, HEADROOM, this.maxDatagramSize, b.capacity, this.onRead);
  }

  private applyMark(sock: NativeUdpSocket): void {
    const err = sock.setMark(this.mark);
    if (err !== 0) this.logger.error(`cannot apply fwmark ${this.mark}: ${errnoName(err)}`);
  }
}

function closePair(pair: SocketPair): void {
  pair.v4.close();
  pair.v6?.close();
}

/** The Endpoint for the address record at `off`; `scope` is the record's IPv6 scope id. */
function endpointFromRecord(rec: Uint8Array, off: number, scope: number): Endpoint {
  const port = (rec[off + 2] << 8) | rec[off + 3];
  if (rec[off] === 6) {
    const zone = scope === 0 ? '' : '%' + interfaceName(scope);
    return { family: 6, address: formatIPv6(rec, off + 4) + zone, port };
  }
  return { family: 4, address: formatIPv4(rec, off + 4), port };
}

/** The address record for an Endpoint; family 0 when its address does not parse. */
function destinationOf(e: Endpoint): Destination {
  const bytes = new Uint8Array(ADDRESS_RECORD_SIZE);
  const words = new Uint32Array(bytes.buffer);
  bytes[2] = (e.port >>> 8) & 0xff;
  bytes[3] = e.port & 0xff;
  if (e.family === 4) {
    const v4 = parseIPv4(e.address);
    if (v4 === null) return { family: 0, words };
    bytes[0] = 4;
    bytes.set(v4, 4);
    return { family: 4, words };
  }
  const v6 = parseIPv6(e.address);
  if (v6 === null) return { family: 0, words };
  if (isIPv4Mapped(v6.bytes)) {
    // The IPv6 socket is IPv6-only: an IPv4-mapped peer is reached over IPv4.
    bytes[0] = 4;
    bytes.set(v6.bytes.subarray(12), 4);
    return { family: 4, words };
  }
  bytes[0] = 6;
  bytes.set(v6.bytes, 4);
  if (v6.zone !== '') {
    const scope = interfaceIndex(v6.zone);
    if (scope === 0) return { family: 0, words };
    words[5] = scope;
  }
  return { family: 6, words };
}

function isIPv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** The interface index for a zone: numeric, or an interface name; 0 if unknown. */
function interfaceIndex(zone: string): number {
  if (/^[0-9]+$/.test(zone)) return Number(zone) >>> 0;
  if (zone.includes('/') || zone.startsWith('.')) return 0;
  try {
    return Number.parseInt(readFileSync(`/sys/class/net/${zone}/ifindex`, 'utf8'), 10) >>> 0;
  } catch {
    return 0;
  }
}

/** The interface name for an index (for printing link-local sources), or the number. */
function interfaceName(index: number): string {
  try {
    for (const name of readdirSync('/sys/class/net')) {
      try {
        if (Number.parseInt(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'), 10) === index) return name;
      } catch {
        // Gone meanwhile.
      }
    }
  } catch {
    // No sysfs: fall through to the number.
  }
  return String(index);
}

function errnoOf(err: unknown): number {
  const n = (err as { errno?: unknown } | null)?.errno;
  return typeof n === 'number' ? Math.abs(n) : 0;
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(ERRNO)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** An Error with a positive `errno` (wireguard-go's UAPI reports it as errno=-N). */
function bindError(err: unknown, port: number): Error {
  const errno = errnoOf(err) || 5;
  const code = errnoName(errno);
  const why = errno === EADDRINUSE ? 'address already in use' : err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(`cannot bind UDP port ${port}: ${why}`), { errno, code });
}
