// The UDP bind on node:dgram: one udp4 and one IPv6-only udp6 socket on the same port, as
// wireguard-go binds. node:dgram delivers one datagram per callback; datagrams arriving in
// the same event-loop turn are gathered into one PacketBatch and handed to the core once,
// on setImmediate (or at once when the batch is full). A batched native bind
// (recvmmsg/sendmmsg, SO_MARK) replaces this one later behind the same Bind interface.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { constants as osConstants } from 'node:os';
import { PacketBatch } from '../wireguard/batch.js';
import type { Bind } from '../wireguard/bind.js';
import type { Endpoint } from '../wireguard/endpoint.js';
import { silentLogger, type Logger } from '../wireguard/log.js';

export interface UdpBindOptions {
  /** Datagrams gathered into one batch at most (default 64). */
  batchSize?: number;
  /**
   * Largest datagram accepted, in bytes (default 4032: each slot is then exactly 4 KiB
   * with headroom and tailroom). Larger ones are counted in `rxOversize` and dropped; a
   * peer with the default 1420-byte MTU sends at most 1452.
   */
  maxDatagramSize?: number;
  /** Kernel socket buffer sizes asked for (capped by net.core.{r,w}mem_max); default 4 MiB. */
  socketBufferSize?: number;
  logger?: Logger;
}

export interface UdpBindStats {
  rxDatagrams: number;
  rxBytes: number;
  /** Datagrams larger than a batch slot, dropped. */
  rxOversize: number;
  /** Datagrams handed to a socket (a later asynchronous failure also counts in txErrors). */
  txDatagrams: number;
  txBytes: number;
  /** Datagrams the socket refused or failed to send (also: no socket of that family). */
  txErrors: number;
}

/** How often binding udp6 to udp4's randomly chosen port is retried when taken. */
const RANDOM_PORT_ATTEMPTS = 8;
const DEFAULT_BATCH = 64;
const DEFAULT_MAX_DATAGRAM = 4032;
const DEFAULT_SOCKET_BUFFER = 4 << 20;
const EADDRINUSE = osConstants.errno.EADDRINUSE ?? 98;

interface SocketPair {
  v4: Socket;
  /** null when the host has no IPv6 (the bind then works on IPv4 alone). */
  v6: Socket | null;
  port: number;
}

/** One of the two alternating receive batches, with the sender of each datagram. */
interface RxBuffer {
  batch: PacketBatch;
  sources: Endpoint[];
}

export class UdpBind implements Bind {
  readonly stats: UdpBindStats = { rxDatagrams: 0, rxBytes: 0, rxOversize: 0, txDatagrams: 0, txBytes: 0, txErrors: 0 };
  private readonly logger: Logger;
  private readonly socketBufferSize: number;
  private readonly maxDatagramSize: number;
  private readonly rx: [RxBuffer, RxBuffer];
  /** Index into `rx` of the batch being filled. */
  private filling = 0;
  private flushScheduled: NodeJS.Immediate | null = null;
  private handler: (batch: PacketBatch, sources: readonly Endpoint[]) => void = () => {};
  private sockets: SocketPair | null = null;
  private lastSource: Endpoint | null = null;
  private mark = 0;
  private markLogged = false;
  // Bound once so that neither receiving nor sending allocates a closure per datagram.
  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => this.receive(msg, rinfo);
  private readonly flush = (): void => this.flushNow();
  private readonly onSent = (err: Error | null): void => {
    if (err) this.sendFailed(err);
  };

  constructor(opts: UdpBindOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.socketBufferSize = opts.socketBufferSize ?? DEFAULT_SOCKET_BUFFER;
    const capacity = opts.batchSize ?? DEFAULT_BATCH;
    this.maxDatagramSize = opts.maxDatagramSize ?? DEFAULT_MAX_DATAGRAM;
    const makeRx = (): RxBuffer => {
      const batch = new PacketBatch(capacity, this.maxDatagramSize);
      batch.count = 0;
      return { batch, sources: new Array<Endpoint>(capacity) };
    };
    this.rx = [makeRx(), makeRx()];
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
      throw Object.assign(new Error(`invalid UDP port ${port}`), { errno: osConstants.errno.EINVAL });
    }
    const current = this.sockets;
    // Re-binding the port we already hold would collide with ourselves.
    if (current !== null && port !== 0 && port === current.port) return current.port;
    const fresh = await this.bindPair(port);
    this.sockets = fresh;
    if (current !== null) closePair(current);
    this.logger.verbose(`UDP bind listening on port ${fresh.port}${fresh.v6 ? '' : ' (IPv4 only)'}`);
    return fresh.port;
  }

  send(batch: PacketBatch, destinations: readonly Endpoint[]): void {
    const pair = this.sockets;
    for (let i = 0; i < batch.count; i++) {
      const dst = destinations[i];
      const sock = pair === null ? null : dst.family === 6 ? pair.v6 : pair.v4;
      if (sock === null) {
        this.stats.txErrors++;
        continue;
      }
      // dgram sends asynchronously and the slab is reused at once: send a copy.
      // allocUnsafe takes small buffers from Node's shared pool, so this is cheap.
      const len = batch.lengths[i];
      const copy = Buffer.allocUnsafe(len);
      batch.slab.copy(copy, 0, batch.offsets[i], batch.offsets[i] + len);
      try {
        sock.send(copy, dst.port, dst.address, this.onSent);
        this.stats.txDatagrams++;
        this.stats.txBytes += len;
      } catch (err) {
        // Synchronous throws: a bad port/address or a socket closed meanwhile.
        this.sendFailed(err as Error);
      }
    }
  }

  setMark(mark: number): void {
    this.mark = mark >>> 0;
    if (mark !== 0 && !this.markLogged) {
      this.markLogged = true;
      this.logger.verbose('fwmark is recorded but not applied: node:dgram cannot set SO_MARK');
    }
  }

  async close(): Promise<void> {
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = null;
    }
    for (const rx of this.rx) rx.batch.count = 0;
    const pair = this.sockets;
    this.sockets = null;
    if (pair !== null) closePair(pair);
  }

  // ---- receiving ---------------------------------------------------------------------

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    const len = msg.length;
    if (len > this.maxDatagramSize) {
      this.stats.rxOversize++;
      return;
    }
    const rx = this.rx[this.filling];
    const batch = rx.batch;
    if (batch.count === 0) batch.reset();
    const i = batch.count;
    msg.copy(batch.slab, batch.offsets[i]);
    batch.lengths[i] = len;
    batch.count = i + 1;
    rx.sources[i] = this.endpointFor(rinfo);
    this.stats.rxDatagrams++;
    this.stats.rxBytes += len;
    if (batch.count === batch.capacity) this.flushNow();
    else if (this.flushScheduled === null) this.flushScheduled = setImmediate(this.flush);
  }

  /**
   * The sender as an Endpoint, reusing the previous datagram's object when it is the same
   * sender (the common case: a burst from one peer), so steady traffic allocates none.
   */
  private endpointFor(rinfo: RemoteInfo): Endpoint {
    const prev = this.lastSource;
    if (prev !== null && prev.port === rinfo.port && prev.address === rinfo.address) return prev;
    const e: Endpoint = { family: rinfo.family === 'IPv6' ? 6 : 4, address: rinfo.address, port: rinfo.port };
    this.lastSource = e;
    return e;
  }

  /** Hands the filled batch to the core and switches to the other one. */
  private flushNow(): void {
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = null;
    }
    const rx = this.rx[this.filling];
    if (rx.batch.count === 0) return;
    // Alternate first: a handler that keeps the batch until its next turn still has it.
    this.filling = 1 - this.filling;
    this.rx[this.filling].batch.count = 0;
    try {
      this.handler(rx.batch, rx.sources);
    } catch (err) {
      this.logger.error(`receive handler: ${(err as Error).message}`);
    }
  }

  // ---- sockets -----------------------------------------------------------------------

  private async bindPair(port: number): Promise<SocketPair> {
    let lastError: unknown;
    for (let attempt = 0; attempt < (port === 0 ? RANDOM_PORT_ATTEMPTS : 1); attempt++) {
      const v4 = this.newSocket('udp4');
      try {
        await bindSocket(v4, port);
      } catch (err) {
        v4.close();
        throw bindError(err, port);
      }
      const chosen = v4.address().port;
      const v6 = this.newSocket('udp6');
      try {
        await bindSocket(v6, chosen);
        this.tune(v4);
        this.tune(v6);
        return { v4, v6, port: chosen };
      } catch (err) {
        v6.close();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EPROTONOSUPPORT') {
          // No IPv6 on this host: run on IPv4 alone, as wireguard-go does.
          this.tune(v4);
          return { v4, v6: null, port: chosen };
        }
        v4.close();
        lastError = err;
        // A random port free for IPv4 but taken for IPv6: try another random one.
        if (port !== 0 || code !== 'EADDRINUSE') break;
      }
    }
    throw bindError(lastError, port);
  }

  private newSocket(type: 'udp4' | 'udp6'): Socket {
    const sock = createSocket({ type, ipv6Only: type === 'udp6' });
    sock.on('message', this.onMessage);
    return sock;
  }

  /** Settings for a socket that is bound and kept. */
  private tune(sock: Socket): void {
    // An unhandled 'error' would take the process down (bind errors are handled apart).
    sock.on('error', (err) => this.logger.error(`UDP socket: ${err.message}`));
    try {
      sock.setRecvBufferSize(this.socketBufferSize);
      sock.setSendBufferSize(this.socketBufferSize);
    } catch (err) {
      this.logger.verbose(`UDP socket buffers left at their defaults: ${(err as Error).message}`);
    }
  }

  private sendFailed(err: Error): void {
    this.stats.txErrors++;
    this.logger.debug(`UDP send failed: ${err.message}`);
  }
}

function bindSocket(sock: Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    sock.once('error', onError);
    sock.bind({ port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

function closePair(pair: SocketPair): void {
  for (const sock of [pair.v4, pair.v6]) {
    if (sock === null) continue;
    try {
      sock.close();
    } catch {
      // Already closed.
    }
  }
}

/** An Error with a positive `errno` (wireguard-go's UAPI reports it as errno=-N). */
function bindError(err: unknown, port: number): Error {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code;
  const errno =
    code === 'EADDRINUSE'
      ? EADDRINUSE
      : typeof e?.errno === 'number' && e.errno !== 0
        ? Math.abs(e.errno)
        : (code !== undefined ? (osConstants.errno as Record<string, number>)[code] : undefined) ?? 5;
  const why = code === 'EADDRINUSE' ? 'address already in use' : (e?.message ?? String(err));
  return Object.assign(new Error(`cannot bind UDP port ${port}: ${why}`), { errno, code });
}
