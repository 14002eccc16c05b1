// A memif interface (native/memif.cc) in either role, moving Ethernet frames (or IP packets
// in IP mode) in bursts between shared-memory rings and PacketBatch slabs.
//
// Frames are opaque bytes here. rxBurst writes frame i of a burst at slotStart(i) + HEADROOM
// and sets offsets[i]/lengths[i], so an L2 adapter can strip the 14-byte Ethernet header by
// moving offsets[i] forward; txBurst reads each frame from offsets[i]/lengths[i], so a
// header written into the headroom in front of a packet goes out with it. One N-API call
// per burst, never per frame.
//
// Receiving can be driven two ways: call rxBurst yourself when 'readable' fires (or in a
// polling loop), or hand onFrames() a handler and let this class drain the rings into its
// own batches, one per queue. In interrupt mode (the default) the native side wakes on
// the peer's eventfd kicks; with `polling: true` our receive rings mask interrupts and
// onFrames() polls on every event-loop turn (a benchmark setting: it keeps a core busy).
import { EventEmitter } from 'node:events';
import { HEADROOM, PacketBatch, TAILROOM } from '../wireguard/batch.js';
import { silentLogger, type Logger } from '../wireguard/log.js';
import {
  MEMIF_COUNTERS_PER_QUEUE,
  MemifEvent,
  MemifLogLevel,
  nativeMemif,
  type NativeMemifInfo,
  type NativeMemifInterface,
} from './memif-native.js';

export type MemifRole = 'master' | 'slave';
export type MemifMode = 'ethernet' | 'ip';

export interface MemifOptions {
  /** The control socket file: the master listens on it, the slave connects to it. */
  socketPath: string;
  /** Default 'master' (VPP connects to us as slave). */
  role?: MemifRole;
  /** Interface id; a master socket may serve several ids. Default 0. */
  id?: number;
  /** Up to 24 bytes; a master with a secret refuses slaves without the same one. */
  secret?: string;
  mode?: MemifMode;
  /** Queue pairs (1..8); the slave settles on the smaller of both sides' limits. Default 1. */
  queuePairs?: number;
  /** log2 of the ring size (1..14), an upper bound negotiated with the peer. Default 10. */
  log2RingSize?: number;
  /** Bytes per buffer when we are the slave (frames larger than this are chained). Default 2048. */
  bufferSize?: number;
  /** Our interface name as sent in CONNECT/CONNECTED (up to 31 bytes). */
  interfaceName?: string;
  /** Our application name as sent in HELLO/INIT (up to 31 bytes). */
  appName?: string;
  /** Largest frame onFrames() delivers (Ethernet header included, no FCS). Default 1514. */
  maxFrameSize?: number;
  /** Mask interrupts on our receive rings and poll instead (benchmarks). Default false. */
  polling?: boolean;
  /** Slave: delay between connection attempts. Default 500 ms. */
  reconnectMs?: number;
  /** A connection that has not completed its handshake by then is dropped. Default 5000 ms. */
  handshakeTimeoutMs?: number;
  logger?: Logger;
}

/** What the connected event reports: the negotiated queues, rings and buffer size, and the peer's names. */
export type MemifConnection = Omit<NativeMemifInfo, 'connected'>;

export interface MemifQueueCounters {
  rxPackets: number;
  rxBytes: number;
  /** Frames received but not delivered: larger than a batch slot, or empty. */
  rxDrops: number;
  txPackets: number;
  txBytes: number;
  /** Frames consumed without being sent: not connected, empty, or too large for the ring. */
  txDrops: number;
  /** Frames txBurst could not take because the ring was full (the caller still has them). */
  txRingFull: number;
}

export interface MemifFrameOptions {
  /** Frames per receive batch (and per burst). Default 256. */
  batchCapacity?: number;
  /** Largest frame delivered; larger ones are counted as rxDrops. Default: the interface's. */
  maxFrameSize?: number;
}

interface MemifEvents {
  connected: [MemifConnection];
  disconnected: [reason: string];
  /** A handshake attempt failed (refused by either side, timed out); reason given. */
  handshakeFailed: [reason: string];
  /** The peer kicked receive queue `queue` (interrupt mode only). */
  readable: [queue: number];
}

/** Bursts drained per queue before yielding to the event loop. */
const MAX_BURSTS_PER_TURN = 16;

/**
 * Structurally also the FramePort the Ethernet adapter (src/ethernet/) runs on:
 * maxFrameSize, onFrames(handler) and send(batch).
 */
export class Memif extends EventEmitter<MemifEvents> {
  readonly socketPath: string;
  readonly role: MemifRole;
  readonly id: number;
  readonly queuePairs: number;
  readonly polling: boolean;
  /** Largest frame onFrames() delivers by default. */
  readonly maxFrameSize: number;

  private readonly dev: NativeMemifInterface;
  private readonly logger: Logger;
  private readonly counterBuf: Float64Array;
  private conn: MemifConnection | undefined;
  private closed = false;
  private frameHandler: ((batch: PacketBatch, queue: number) => void) | undefined;
  private rxBatches: PacketBatch[] = [];
  private readonly drainScheduled: boolean[];
  private pollTimer: NodeJS.Immediate | undefined;

  /** Opens the interface: a master starts listening at once, a slave starts connecting. */
  static open(options: MemifOptions): Memif {
    return new Memif(options);
  }

  private constructor(options: MemifOptions) {
    super();
    this.socketPath = options.socketPath;
    this.role = options.role ?? 'master';
    this.id = options.id ?? 0;
    this.queuePairs = options.queuePairs ?? 1;
    this.polling = options.polling ?? false;
    this.maxFrameSize = options.maxFrameSize ?? 1514;
    this.logger = options.logger ?? silentLogger;
    this.counterBuf = new Float64Array(this.queuePairs * MEMIF_COUNTERS_PER_QUEUE);
    this.drainScheduled = new Array<boolean>(this.queuePairs).fill(false);
    const { MemifInterface } = nativeMemif();
    this.dev = new MemifInterface(
      {
        socketPath: options.socketPath,
        master: this.role === 'master',
        id: this.id,
        secret: options.secret,
        mode: options.mode === 'ip' ? 1 : 0,
        queuePairs: this.queuePairs,
        log2RingSize: options.log2RingSize,
        bufferSize: options.bufferSize,
        interfaceName: options.interfaceName,
        appName: options.appName,
        polling: this.polling,
        reconnectMs: options.reconnectMs,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
      },
      (kind, arg, text) => this.onNative(kind, arg, text),
    );
  }

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** The current connection's parameters, or undefined while not connected. */
  get connection(): MemifConnection | undefined {
    return this.conn;
  }

  /**
   * Receives up to batch.capacity frames from receive queue `queue` into `batch` (frame i at
   * slotStart(i) + HEADROOM; offsets/lengths set; batch.count set). Returns the count.
   */
  rxBurst(queue: number, batch: PacketBatch): number {
    const n = this.dev.rxBurst(
      queue,
      batch.slab,
      batch.offsets,
      batch.lengths,
      batch.slotSize,
      HEADROOM,
      batch.slotSize - HEADROOM - TAILROOM,
      batch.capacity,
    );
    batch.count = n;
    return n;
  }

  /**
   * Sends frames start..start+count-1 of `batch` on transmit queue `queue` (a queue the peer
   * did not bring folds onto one it did). Returns how many were consumed: sent, or dropped
   * as unsendable (counted in txDrops); the frames after that found the ring full and are
   * still the caller's. While not connected every frame is consumed as a drop.
   */
  txBurst(queue: number, batch: PacketBatch, start = 0, count = batch.count - start): number {
    return this.dev.txBurst(queue, batch.slab, batch.offsets, batch.lengths, start, count);
  }

  /**
   * Transmits the whole batch on queue `queue` now (the batch may be reused on return).
   * Frames the ring cannot take at the moment are dropped, counted as txRingFull: a full
   * ring means the peer is not keeping up, and waiting here would stall everything else.
   */
  send(batch: PacketBatch, queue = 0): void {
    if (batch.count > 0) this.dev.txBurst(queue, batch.slab, batch.offsets, batch.lengths, 0, batch.count);
  }

  /**
   * Drains the receive rings into per-queue batches and calls `handler(batch, queue)` for
   * each non-empty burst. The handler must be done with the batch when it returns.
   */
  onFrames(handler: (batch: PacketBatch, queue: number) => void, options: MemifFrameOptions = {}): void {
    const capacity = options.batchCapacity ?? 256;
    const maxFrame = options.maxFrameSize ?? this.maxFrameSize;
    this.rxBatches = Array.from({ length: this.queuePairs }, () => new PacketBatch(capacity, maxFrame));
    this.frameHandler = handler;
    if (this.conn !== undefined) {
      // Frames may already be waiting: no kick will announce them.
      for (let q = 0; q < this.conn.rxQueues; q++) this.drain(q);
      if (this.polling) this.schedulePoll();
    }
  }

  /** Counters of queue `queue` since the interface was opened (all connections). */
  counters(queue: number): MemifQueueCounters {
    this.dev.readCounters(this.counterBuf);
    const c = this.counterBuf;
    const o = queue * MEMIF_COUNTERS_PER_QUEUE;
    return {
      rxPackets: c[o],
      rxBytes: c[o + 1],
      rxDrops: c[o + 2],
      txPackets: c[o + 3],
      txBytes: c[o + 4],
      txDrops: c[o + 5],
      txRingFull: c[o + 6],
    };
  }

  /** Drops the current connection (the peer is told why); a master listens on, a slave retries. */
  disconnect(reason?: string): void {
    this.dev.disconnect(reason);
  }

  /** Tells the peer, releases the shared memory and (master) removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    this.conn = undefined;
    this.frameHandler = undefined;
    this.dev.close();
  }

  private onNative(kind: number, arg: number, text: string): void {
    switch (kind) {
      case MemifEvent.Connected: {
        const { connected: _, ...conn } = this.dev.info();
        this.conn = conn;
        this.emit('connected', this.conn);
        if (this.frameHandler !== undefined && this.polling && !this.closed) this.schedulePoll();
        break;
      }
      case MemifEvent.Disconnected:
        this.conn = undefined;
        this.stopPolling();
        this.emit('disconnected', text);
        break;
      case MemifEvent.HandshakeFailed:
        this.emit('handshakeFailed', text);
        break;
      case MemifEvent.Readable:
        this.emit('readable', arg);
        if (this.frameHandler !== undefined) this.drain(arg);
        break;
      case MemifEvent.Log:
        if (arg === MemifLogLevel.Error) this.logger.error(text);
        else if (arg === MemifLogLevel.Verbose) this.logger.verbose(text);
        else this.logger.debug(text);
        break;
      default:
        break;
    }
  }

  // Empties receive queue `queue` into its batch, a bounded number of bursts per turn; a
  // queue still busy after that continues on the next turn so other work gets its share.
  private drain(queue: number): void {
    const handler = this.frameHandler;
    const batch = this.rxBatches[queue];
    if (handler === undefined || batch === undefined) return;
    for (let round = 0; round < MAX_BURSTS_PER_TURN; round++) {
      const n = this.rxBurst(queue, batch);
      if (n === 0) return;
      this.deliver(handler, batch, queue);
      if (n < batch.capacity || this.frameHandler !== handler) return;
    }
    if (!this.polling && !this.drainScheduled[queue]) {
      this.drainScheduled[queue] = true;
      setImmediate(() => {
        this.drainScheduled[queue] = false;
        if (this.conn !== undefined) this.drain(queue);
      });
    }
  }

  private deliver(handler: (batch: PacketBatch, queue: number) => void, batch: PacketBatch, queue: number): void {
    try {
      handler(batch, queue);
    } catch (err) {
      // A frame from the peer must never take the process down.
      this.logger.error(`memif ${this.socketPath}: frame handler failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private schedulePoll(): void {
    if (this.pollTimer !== undefined) return;
    this.pollTimer = setImmediate(() => this.pollOnce());
  }

  private pollOnce(): void {
    this.pollTimer = undefined;
    const conn = this.conn;
    if (conn === undefined || this.frameHandler === undefined || this.closed) return;
    for (let q = 0; q < conn.rxQueues; q++) this.drain(q);
    this.schedulePoll();
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearImmediate(this.pollTimer);
    this.pollTimer = undefined;
  }
}
