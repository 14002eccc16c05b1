// A kernel TUN interface as a PacketDevice (the wireguard-go workflow: `wireguard-ts wg0`).
//
// Reading is event-driven in native code (a uv_poll on the TUN fd): each wake-up reads up
// to a batch of packets straight into this device's receive slab and hands the batch to
// the handler once. The handler must finish with the batch before returning: the next read
// reuses the same slab.
import { existsSync } from 'node:fs';
import { HEADROOM, PacketBatch, TAILROOM } from '../wireguard/batch.js';
import type { PacketDevice } from '../wireguard/packetdevice.js';
import { silentLogger, type Logger } from '../wireguard/log.js';
import { nativeTun, type NativeTunDevice } from '../native.js';

/** Packets read per wake-up at most (also the receive batch's capacity). */
export const DEFAULT_READ_BATCH = 128;
/** How often the interface's existence is re-checked in /sys/class/net. */
const PRESENCE_CHECK_MS = 1000;

export interface KernelTunOptions {
  /** Receive batch capacity; defaults to DEFAULT_READ_BATCH. */
  readBatch?: number;
  /** Where a failing packet handler is reported (the batch is then counted as dropped). */
  logger?: Logger;
}

export class KernelTun implements PacketDevice {
  /** The interface name the kernel assigned. */
  readonly name: string;
  readonly mtu: number;

  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  /** Packets lost: read with no handler installed, or not accepted by the kernel on write. */
  drops = 0;

  private readonly dev: NativeTunDevice;
  private readonly logger: Logger;
  private readonly rx: PacketBatch;
  private readonly writeResult = new Float64Array(2);
  private packetHandler: ((batch: PacketBatch) => void) | undefined;
  private readonly closeHandlers: Array<() => void> = [];
  private readonly presenceTimer: NodeJS.Timeout;
  private closed = false;
  private gone = false;

  /**
   * Creates (or attaches to) TUN interface `name` with the given MTU and starts reading.
   * The interface is not brought up: that, and addresses, are the administrator's (or
   * wg-quick's) business, as with wireguard-go. Throws if the interface cannot be opened.
   */
  static open(name: string, mtu = 1420, options: KernelTunOptions = {}): KernelTun {
    const { TunDevice } = nativeTun();
    const readBatch = options.readBatch ?? DEFAULT_READ_BATCH;
    if (!Number.isInteger(readBatch) || readBatch < 1) throw new RangeError('readBatch must be a positive integer');
    return new KernelTun(new TunDevice(name, mtu), mtu, readBatch, options.logger ?? silentLogger);
  }

  private constructor(dev: NativeTunDevice, mtu: number, readBatch: number, logger: Logger) {
    this.dev = dev;
    this.logger = logger;
    this.name = dev.name;
    this.mtu = mtu;
    this.rx = new PacketBatch(readBatch, mtu);
    const maxLen = this.rx.slotSize - HEADROOM - TAILROOM;
    try {
      dev.start(this.rx.slab, this.rx.offsets, this.rx.lengths, this.rx.slotSize, HEADROOM, maxLen, readBatch, (n) =>
        this.onRead(n),
      );
    } catch (err) {
      dev.close();
      throw err;
    }
    // `ip link del` normally shows up as a read error at once; this catches the cases where
    // no read wakes us (and renames, which equally make the name we serve meaningless).
    this.presenceTimer = setInterval(() => this.checkPresence(), PRESENCE_CHECK_MS);
    this.presenceTimer.unref();
  }

  onPackets(handler: (batch: PacketBatch) => void): void {
    this.packetHandler = handler;
  }

  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  write(batch: PacketBatch): void {
    if (batch.count === 0) return;
    if (this.closed) {
      this.drops += batch.count;
      return;
    }
    this.dev.writeBatch(batch.slab, batch.count, batch.offsets, batch.lengths, this.writeResult);
    const written = this.writeResult[0];
    this.txPackets += written;
    this.txBytes += this.writeResult[1];
    this.drops += batch.count - written;
  }

  /** Stops reading and closes the TUN fd (which removes a non-persistent interface). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.presenceTimer);
    this.dev.close();
  }

  private onRead(n: number): void {
    if (n < 0) {
      this.deviceGone();
      return;
    }
    const batch = this.rx;
    batch.count = n;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += batch.lengths[i];
    this.rxPackets += n;
    this.rxBytes += bytes;
    const handler = this.packetHandler;
    if (handler === undefined) {
      this.drops += n;
      return;
    }
    try {
      handler(batch);
    } catch (err) {
      // A packet read from the device must never take the process down.
      this.drops += n;
      this.logger.error(`${this.name}: packet handler failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private checkPresence(): void {
    if (!this.closed && !existsSync(`/sys/class/net/${this.name}`)) this.deviceGone();
  }

  // The interface vanished underneath us: release everything, then tell the owner once.
  private deviceGone(): void {
    if (this.gone) return;
    this.gone = true;
    void this.close();
    for (const handler of this.closeHandlers) {
      try {
        handler();
      } catch (err) {
        this.logger.error(`${this.name}: close handler failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
