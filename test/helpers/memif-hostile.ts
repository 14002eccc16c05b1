// A scriptable memif peer for tests: it speaks the control protocol byte by byte, so a test
// can send exactly the defect it wants (wrong sizes, unknown or out-of-order messages,
// missing or wrong descriptors, rings that do not fit, bad cookies) and then play with the
// shared memory (descriptors outside a region, runaway head/tail, a region truncated under
// our feet). It runs in the test process next to the interface under test, so everything
// here is non-blocking: waiting means polling the socket between event-loop turns.
//
// The socket work and descriptor passing go through the addon's test-only `memifTest`
// helpers (node cannot open SOCK_SEQPACKET sockets or pass fds); shared memory is read and
// written with positional fs calls on the memfd.
import { closeSync, readdirSync, readSync, writeSync } from 'node:fs';
import { nativeMemif } from '../../src/tun/memif-native.js';

export const MSG_SIZE = 128;
export const COOKIE = 0x3e31f20;
export const VERSION = 0x0200;
export const RING_DESC = 128;
export const DESC_SIZE = 16;

export const enum Msg {
  Ack = 1,
  Hello = 2,
  Init = 3,
  AddRegion = 4,
  AddRing = 5,
  Connect = 6,
  Connected = 7,
  Disconnect = 8,
}

const helpers = () => nativeMemif().memifTest;

// --- message encoding ---------------------------------------------------------------------

function message(type: number, size = MSG_SIZE): Buffer {
  const b = Buffer.alloc(size);
  if (size >= 2) b.writeUInt16LE(type, 0);
  return b;
}

export function helloMsg(o: {
  name?: string;
  minVersion?: number;
  maxVersion?: number;
  maxRegion?: number;
  maxM2SRing?: number;
  maxS2MRing?: number;
  maxLog2RingSize?: number;
}): Buffer {
  const b = message(Msg.Hello);
  b.write(o.name ?? 'hostile', 2, 31, 'latin1');
  b.writeUInt16LE(o.minVersion ?? VERSION, 34);
  b.writeUInt16LE(o.maxVersion ?? VERSION, 36);
  b.writeUInt16LE(o.maxRegion ?? 255, 38);
  b.writeUInt16LE(o.maxM2SRing ?? 7, 40);
  b.writeUInt16LE(o.maxS2MRing ?? 7, 42);
  b.writeUInt8(o.maxLog2RingSize ?? 14, 44);
  return b;
}

export function initMsg(o: { version?: number; id?: number; mode?: number; secret?: string; name?: string }): Buffer {
  const b = message(Msg.Init);
  b.writeUInt16LE(o.version ?? VERSION, 2);
  b.writeUInt32LE(o.id ?? 0, 4);
  b.writeUInt8(o.mode ?? 0, 8);
  if (o.secret !== undefined) b.write(o.secret, 9, 24, 'latin1');
  b.write(o.name ?? 'hostile', 33, 31, 'latin1');
  return b;
}

export function addRegionMsg(index: number, size: number): Buffer {
  const b = message(Msg.AddRegion);
  b.writeUInt16LE(index, 2);
  b.writeBigUInt64LE(BigInt(size), 4);
  return b;
}

export function addRingMsg(o: {
  s2m: boolean;
  index: number;
  region?: number;
  offset: number;
  log2RingSize: number;
  privateHdrSize?: number;
}): Buffer {
  const b = message(Msg.AddRing);
  b.writeUInt16LE(o.s2m ? 1 : 0, 2);
  b.writeUInt16LE(o.index, 4);
  b.writeUInt16LE(o.region ?? 0, 6);
  b.writeUInt32LE(o.offset, 8);
  b.writeUInt8(o.log2RingSize, 12);
  b.writeUInt16LE(o.privateHdrSize ?? 0, 13);
  return b;
}

export function nameMsg(type: Msg.Connect | Msg.Connected, name: string): Buffer {
  const b = message(type);
  b.write(name, 2, 31, 'latin1');
  return b;
}

export function disconnectMsg(reason: string): Buffer {
  const b = message(Msg.Disconnect);
  b.write(reason, 6, 95, 'latin1');
  return b;
}

export function bareMsg(type: number, size = MSG_SIZE): Buffer {
  return message(type, size);
}

function cString(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('latin1');
}

export interface Received {
  type: number;
  bytes: Buffer;
  fds: number[];
}

export function disconnectReason(m: Received): string {
  return cString(m.bytes, 6, 96);
}

export interface ParsedAddRing {
  s2m: boolean;
  index: number;
  region: number;
  offset: number;
  log2RingSize: number;
}

export function parseAddRing(m: Received): ParsedAddRing {
  return {
    s2m: (m.bytes.readUInt16LE(2) & 1) !== 0,
    index: m.bytes.readUInt16LE(4),
    region: m.bytes.readUInt16LE(6),
    offset: m.bytes.readUInt32LE(8),
    log2RingSize: m.bytes.readUInt8(12),
  };
}

export function parseInit(m: Received): { version: number; id: number; mode: number; secret: string; name: string } {
  return {
    version: m.bytes.readUInt16LE(2),
    id: m.bytes.readUInt32LE(4),
    mode: m.bytes.readUInt8(8),
    secret: cString(m.bytes, 9, 24),
    name: cString(m.bytes, 33, 32),
  };
}

export function parseHello(m: Received): { maxRegion: number; maxM2SRing: number; maxS2MRing: number; maxLog2RingSize: number } {
  return {
    maxRegion: m.bytes.readUInt16LE(38),
    maxM2SRing: m.bytes.readUInt16LE(40),
    maxS2MRing: m.bytes.readUInt16LE(42),
    maxLog2RingSize: m.bytes.readUInt8(44),
  };
}

// --- a control connection -----------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ControlSocket {
  private readonly owned = new Set<number>();

  constructor(readonly fd: number) {}

  /** Sends raw bytes with descriptors; returns false if the peer is gone. */
  send(bytes: Uint8Array, fds: number[] = []): boolean {
    return helpers().sendMessage(this.fd, bytes, fds) === bytes.length;
  }

  /** The next message, or 'closed' when the peer hung up; rejects after timeoutMs. */
  async recv(timeoutMs = 3000): Promise<Received | 'closed'> {
    const deadline = Date.now() + timeoutMs;
    const buf = Buffer.alloc(512);
    for (;;) {
      const r = helpers().recvMessage(this.fd, buf);
      if (!('errno' in r)) {
        for (const fd of r.fds) this.owned.add(fd);
        if (r.closed === true) return 'closed';
        const bytes = Buffer.from(buf.subarray(0, r.length));
        return { type: r.length >= 2 ? bytes.readUInt16LE(0) : 0, bytes, fds: r.fds };
      }
      if (Date.now() > deadline) throw new Error(`no control message within ${timeoutMs} ms`);
      await sleep(2);
    }
  }

  /** The next message, which must be of `type`. */
  async expect(type: Msg, timeoutMs = 3000): Promise<Received> {
    const m = await this.recv(timeoutMs);
    if (m === 'closed') throw new Error(`expected message ${type}, the peer hung up`);
    if (m.type !== type) {
      const why = m.type === Msg.Disconnect ? `: ${disconnectReason(m)}` : '';
      throw new Error(`expected message ${type}, got ${m.type}${why}`);
    }
    return m;
  }

  /** Waits for DISCONNECT, returns its reason, and checks the peer then hangs up. */
  async expectDisconnect(timeoutMs = 3000): Promise<string> {
    const m = await this.expect(Msg.Disconnect, timeoutMs);
    const after = await this.recv(timeoutMs);
    if (after !== 'closed') throw new Error(`peer sent message ${after.type} after DISCONNECT`);
    return disconnectReason(m);
  }

  /** Resolves once the peer has hung up (messages before that are skipped). */
  async expectClosed(timeoutMs = 3000): Promise<void> {
    for (;;) {
      const m = await this.recv(timeoutMs);
      if (m === 'closed') return;
    }
  }

  close(): void {
    for (const fd of this.owned) closeQuietly(fd);
    this.owned.clear();
    closeQuietly(this.fd);
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Connects to a master's socket and reads its HELLO. */
export async function connectToMaster(path: string): Promise<{ sock: ControlSocket; hello: Received }> {
  let fd = helpers().seqpacketConnect(path);
  // EAGAIN: the listener's backlog is full for the moment; it drains as the loop runs.
  for (let i = 0; i < 100 && fd === -11; i++) {
    await sleep(5);
    fd = helpers().seqpacketConnect(path);
  }
  if (fd < 0) throw new Error(`connect ${path}: errno ${-fd}`);
  const sock = new ControlSocket(fd);
  const hello = await sock.expect(Msg.Hello);
  return { sock, hello };
}

/** A listening socket standing in for a master; accept() waits for our slave. */
export class FakeMasterListener {
  readonly fd: number;
  constructor(readonly path: string) {
    this.fd = helpers().seqpacketListen(path);
  }
  async accept(timeoutMs = 3000): Promise<ControlSocket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = helpers().seqpacketAccept(this.fd);
      if (c >= 0) return new ControlSocket(c);
      if (Date.now() > deadline) throw new Error(`nobody connected within ${timeoutMs} ms`);
      await sleep(2);
    }
  }
  close(): void {
    closeQuietly(this.fd);
  }
}

// --- shared memory --------------------------------------------------------------------------

export function memfd(size: number, opts: { allowSealing?: boolean; seal?: boolean } = {}): number {
  return helpers().memfdCreate(size, opts.allowSealing ?? true, opts.seal ?? true);
}

export function eventfd(): number {
  return helpers().eventfdCreate();
}

/** Reads an eventfd's counter; 0 when nothing was signalled. */
export function drainEventfd(fd: number): number {
  const b = Buffer.alloc(8);
  try {
    readSync(fd, b, 0, 8, null);
    return Number(b.readBigUInt64LE(0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    throw err;
  }
}

export function kick(fd: number): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(1n, 0);
  writeSync(fd, b, 0, 8, null);
}

/** Positional access to a region through its memfd. */
export class RegionView {
  constructor(readonly fd: number) {}
  write(offset: number, bytes: Uint8Array): void {
    writeSync(this.fd, bytes, 0, bytes.length, offset);
  }
  read(offset: number, length: number): Buffer {
    const b = Buffer.alloc(length);
    readSync(this.fd, b, 0, length, offset);
    return b;
  }
  u16(offset: number): number {
    return this.read(offset, 2).readUInt16LE(0);
  }
  setU16(offset: number, v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff, 0);
    this.write(offset, b);
  }
  setU32(offset: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    this.write(offset, b);
  }
  desc(ring: number, slot: number, mask: number): { flags: number; region: number; length: number; offset: number } {
    const d = this.read(ring + RING_DESC + (slot & mask) * DESC_SIZE, DESC_SIZE);
    return { flags: d.readUInt16LE(0), region: d.readUInt16LE(2), length: d.readUInt32LE(4), offset: d.readUInt32LE(8) };
  }
  setDesc(ring: number, slot: number, mask: number, d: { flags?: number; region?: number; length: number; offset: number }): void {
    const b = Buffer.alloc(DESC_SIZE);
    b.writeUInt16LE(d.flags ?? 0, 0);
    b.writeUInt16LE(d.region ?? 0, 2);
    b.writeUInt32LE(d.length >>> 0, 4);
    b.writeUInt32LE(d.offset >>> 0, 8);
    this.write(ring + RING_DESC + (slot & mask) * DESC_SIZE, b);
  }
}

export const RING_HEAD = 6;
export const RING_TAIL = 64;
export const RING_FLAGS = 4;

export function ringBytes(log2: number): number {
  return RING_DESC + DESC_SIZE * (1 << log2);
}

/**
 * A well-formed slave memory layout with one S2M and one M2S ring: region 0 holds the two
 * rings and then 2 * 2^log2 buffers. Tests corrupt it on purpose afterwards.
 */
export class SlaveMemory {
  readonly fd: number;
  readonly view: RegionView;
  readonly size: number;
  readonly s2m = 0;
  readonly m2s: number;
  readonly bufStart: number;
  readonly slots: number;
  readonly mask: number;
  readonly s2mEventfd: number;
  readonly m2sEventfd: number;

  constructor(
    readonly log2: number = 4,
    readonly bufSize = 2048,
    opts: { allowSealing?: boolean; seal?: boolean; cookie?: number } = {},
  ) {
    this.slots = 1 << log2;
    this.mask = this.slots - 1;
    this.m2s = ringBytes(log2);
    this.bufStart = Math.ceil((2 * ringBytes(log2)) / 4096) * 4096;
    this.size = this.bufStart + 2 * this.slots * bufSize;
    this.fd = memfd(this.size, opts);
    this.view = new RegionView(this.fd);
    for (const [ring, base] of [
      [this.s2m, this.bufStart],
      [this.m2s, this.bufStart + this.slots * bufSize],
    ] as const) {
      this.view.setU32(ring, opts.cookie ?? COOKIE);
      for (let s = 0; s < this.slots; s++) this.view.setDesc(ring, s, this.mask, { length: bufSize, offset: base + s * bufSize });
    }
    this.s2mEventfd = eventfd();
    this.m2sEventfd = eventfd();
  }

  /** The buffer offset of S2M slot s (the slave's transmit ring). */
  s2mBuffer(slot: number): number {
    return this.bufStart + (slot & this.mask) * this.bufSize;
  }
  m2sBuffer(slot: number): number {
    return this.bufStart + (this.slots + (slot & this.mask)) * this.bufSize;
  }

  close(): void {
    closeQuietly(this.fd);
    closeQuietly(this.s2mEventfd);
    closeQuietly(this.m2sEventfd);
  }
}

/**
 * Runs a slave handshake against a master socket, step by step, with `memory`. Returns the
 * control socket once CONNECTED arrived.
 */
export async function slaveHandshake(
  path: string,
  memory: SlaveMemory,
  o: { id?: number; secret?: string } = {},
): Promise<ControlSocket> {
  const { sock } = await connectToMaster(path);
  const step = async (bytes: Buffer, fds: number[], reply: Msg): Promise<void> => {
    if (!sock.send(bytes, fds)) throw new Error('master went away');
    await sock.expect(reply);
  };
  await step(initMsg({ id: o.id ?? 0, secret: o.secret }), [], Msg.Ack);
  await step(addRegionMsg(0, memory.size), [memory.fd], Msg.Ack);
  await step(addRingMsg({ s2m: true, index: 0, offset: memory.s2m, log2RingSize: memory.log2 }), [memory.s2mEventfd], Msg.Ack);
  await step(addRingMsg({ s2m: false, index: 0, offset: memory.m2s, log2RingSize: memory.log2 }), [memory.m2sEventfd], Msg.Ack);
  await step(nameMsg(Msg.Connect, 'hostile0'), [], Msg.Connected);
  return sock;
}

/** Number of open descriptors of this process (for leak checks). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export interface MasterSide {
  sock: ControlSocket;
  init: ReturnType<typeof parseInit>;
  regionFd: number;
  regionSize: number;
  view: RegionView;
  rings: Array<ParsedAddRing & { eventfd: number }>;
}

/**
 * Plays a well-behaved master for one of our slaves that connected to `listener`: HELLO
 * (with `hello` overrides), then ACKs INIT, ADD_REGION and every ADD_RING, and answers
 * CONNECT with CONNECTED.
 */
export async function masterHandshake(
  listener: FakeMasterListener,
  hello: Parameters<typeof helloMsg>[0] = {},
): Promise<MasterSide> {
  const sock = await listener.accept();
  sock.send(helloMsg(hello));
  const init = parseInit(await sock.expect(Msg.Init));
  sock.send(bareMsg(Msg.Ack));
  const region = await sock.expect(Msg.AddRegion);
  if (region.fds.length !== 1) throw new Error('ADD_REGION came without exactly one fd');
  const regionSize = Number(region.bytes.readBigUInt64LE(4));
  sock.send(bareMsg(Msg.Ack));
  const rings: MasterSide['rings'] = [];
  for (;;) {
    const m = await sock.recv();
    if (m === 'closed') throw new Error('slave hung up during the handshake');
    if (m.type === Msg.Connect) break;
    if (m.type !== Msg.AddRing) throw new Error(`unexpected message ${m.type} from the slave`);
    rings.push({ ...parseAddRing(m), eventfd: m.fds[0] });
    sock.send(bareMsg(Msg.Ack));
  }
  sock.send(nameMsg(Msg.Connected, 'fake-master'));
  return { sock, init, regionFd: region.fds[0], regionSize, view: new RegionView(region.fds[0]), rings };
}
