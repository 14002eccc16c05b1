// A stand-in for VPP's binary API socket server, for tests only (never shipped).
//
// It speaks the real socket framing (16-byte msgbuf_t header: 8 bytes queue pointer, 4 bytes
// big-endian length, 4 bytes GC timestamp; like VPP it puts non-zero junk in the pointer and
// timestamp fields of what it sends), hands out a message table built from VPP's own JSON API
// descriptions in ../shared/vpp-api (memclnt first, so sockclnt_create is 15 and its reply 16),
// and implements the messages the product uses with VPP's state and error codes: memif socket
// files, memif interfaces, sw_if_index allocation, admin/link flags, bridge domains, the
// l2fib, interface events.
//
// To stay honest it has its own small codec that walks the JSON field lists directly; it
// shares no code with src/vpp/.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------
// Locating the definitions
// ---------------------------------------------------------------------------------------

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('vpp-api-server: cannot find the repository root');
    dir = up;
  }
  return dir;
}

/** ../shared/vpp-api beside the repository (as in CI: a fresh clone with shared/ next to it). */
export const SHARED_VPP_API_DIR = path.resolve(repoRoot(), '../shared/vpp-api');

// ---------------------------------------------------------------------------------------
// A small codec over the JSON, independent of the product's
// ---------------------------------------------------------------------------------------

/* eslint-disable @typescript-eslint/no-explicit-any */
type JField = any[];
export type WireValue = number | bigint | boolean | string | Buffer | WireValue[] | WireObject;
export interface WireObject {
  [k: string]: WireValue;
}

interface JsonScope {
  readonly types: Map<string, JField[]>;
  readonly unions: Map<string, JField[]>;
  readonly enums: Map<string, string>;
  readonly aliases: Map<string, { type: string; length?: number }>;
}

export interface WireMessage {
  readonly name: string;
  readonly crc: string; // 8 lowercase hex digits
  readonly fields: JField[];
  readonly scope: JsonScope;
  readonly module: string;
}

const SCALAR_BYTES: Record<string, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, f64: 8, bool: 1 };

class Writer {
  private buf = Buffer.alloc(256);
  len = 0;
  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }
  scalar(type: string, v: WireValue | undefined): void {
    const at = this.room(SCALAR_BYTES[type]);
    const n = v === undefined ? 0 : v;
    switch (type) {
      case 'u8':
        this.buf.writeUInt8(Number(n), at);
        break;
      case 'i8':
        this.buf.writeInt8(Number(n), at);
        break;
      case 'u16':
        this.buf.writeUInt16BE(Number(n), at);
        break;
      case 'i16':
        this.buf.writeInt16BE(Number(n), at);
        break;
      case 'u32':
        this.buf.writeUInt32BE(Number(n), at);
        break;
      case 'i32':
        this.buf.writeInt32BE(Number(n), at);
        break;
      case 'u64':
        this.buf.writeBigUInt64BE(BigInt(n as number | bigint), at);
        break;
      case 'i64':
        this.buf.writeBigInt64BE(BigInt(n as number | bigint), at);
        break;
      case 'f64':
        this.buf.writeDoubleBE(Number(n), at);
        break;
      case 'bool':
        this.buf.writeUInt8(n ? 1 : 0, at);
        break;
      default:
        throw new Error(`server codec: not a scalar: ${type}`);
    }
  }
  raw(b: Uint8Array, padTo?: number): void {
    const n = padTo ?? b.length;
    const at = this.room(n);
    this.buf.fill(0, at, at + n);
    Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, n)).copy(this.buf, at);
  }
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  take(n: number): number {
    if (this.off + n > this.buf.length) throw new Error(`server codec: short message (${this.buf.length} bytes)`);
    const at = this.off;
    this.off += n;
    return at;
  }
  scalar(type: string): WireValue {
    const at = this.take(SCALAR_BYTES[type]);
    switch (type) {
      case 'u8':
        return this.buf.readUInt8(at);
      case 'i8':
        return this.buf.readInt8(at);
      case 'u16':
        return this.buf.readUInt16BE(at);
      case 'i16':
        return this.buf.readInt16BE(at);
      case 'u32':
        return this.buf.readUInt32BE(at);
      case 'i32':
        return this.buf.readInt32BE(at);
      case 'u64':
        return this.buf.readBigUInt64BE(at);
      case 'i64':
        return this.buf.readBigInt64BE(at);
      case 'f64':
        return this.buf.readDoubleBE(at);
      case 'bool':
        return this.buf.readUInt8(at) !== 0;
      default:
        throw new Error(`server codec: not a scalar: ${type}`);
    }
  }
  bytes(n: number): Buffer {
    const at = this.take(n);
    return Buffer.from(this.buf.subarray(at, at + n));
  }
}

function innerName(t: string): string {
  return t.replace(/^vl_api_/, '').replace(/_t$/, '');
}

/** Resolves an alias/enum to what is on the wire: [baseType, fixedLength?]. */
function resolveType(scope: JsonScope, type: string): { base: string; length?: number } {
  if (type in SCALAR_BYTES || type === 'string') return { base: type };
  const n = innerName(type);
  const alias = scope.aliases.get(n);
  if (alias) {
    const r = resolveType(scope, alias.type);
    return alias.length !== undefined ? { base: r.base, length: alias.length } : r;
  }
  const e = scope.enums.get(n);
  if (e) return { base: e };
  return { base: type };
}

function fixedBytes(scope: JsonScope, type: string): number {
  const r = resolveType(scope, type);
  const one = (): number => {
    if (r.base in SCALAR_BYTES) return SCALAR_BYTES[r.base];
    const n = innerName(r.base);
    const st = scope.types.get(n);
    if (st) {
      return st.reduce((acc, f) => {
        const cnt = typeof f[2] === 'number' ? f[2] : 1;
        if (cnt === 0) throw new Error(`server codec: ${n} is not fixed size`);
        return acc + (f[0] === 'string' ? cnt : fixedBytes(scope, f[0]) * cnt);
      }, 0);
    }
    const un = scope.unions.get(n);
    if (un) return Math.max(...un.map((f) => fixedBytes(scope, f[0]) * (typeof f[2] === 'number' ? f[2] : 1)));
    throw new Error(`server codec: unknown type ${type}`);
  };
  return one() * (r.length ?? 1);
}

function fieldsOnly(list: any[]): JField[] {
  return list.filter((x) => Array.isArray(x));
}

function writeOne(scope: JsonScope, w: Writer, type: string, v: WireValue | undefined): void {
  const r = resolveType(scope, type);
  if (r.length !== undefined) {
    // an alias to a fixed array, e.g. mac_address = u8[6]
    writeArray(scope, w, r.base, r.length, v);
    return;
  }
  if (r.base in SCALAR_BYTES) {
    w.scalar(r.base, v);
    return;
  }
  const n = innerName(r.base);
  const st = scope.types.get(n);
  if (st) {
    writeStruct(scope, w, fieldsOnly(st), (v ?? {}) as WireObject);
    return;
  }
  if (scope.unions.has(n)) {
    w.raw((v as Buffer | undefined) ?? Buffer.alloc(0), fixedBytes(scope, type));
    return;
  }
  throw new Error(`server codec: unknown type ${type}`);
}

function writeArray(scope: JsonScope, w: Writer, type: string, count: number | null, v: WireValue | undefined): void {
  if (resolveType(scope, type).base === 'u8' && resolveType(scope, type).length === undefined) {
    const b = (v as Buffer | undefined) ?? Buffer.alloc(0);
    w.raw(b, count ?? b.length);
    return;
  }
  const arr = (v as WireValue[] | undefined) ?? [];
  const n = count ?? arr.length;
  for (let i = 0; i < n; i++) writeOne(scope, w, type, arr[i]);
}

function writeStruct(scope: JsonScope, w: Writer, fields: JField[], obj: WireObject): void {
  // Count fields always follow the arrays they count.
  const counts = new Map<string, number>();
  for (const f of fields) {
    if (typeof f[3] === 'string') {
      const a = obj[f[1]] as Buffer | WireValue[] | undefined;
      counts.set(f[3], a ? a.length : 0);
    }
  }
  for (const f of fields) {
    const [type, name, len] = f;
    const v = counts.has(name) ? counts.get(name) : obj[name];
    if (type === 'string') {
      const b = Buffer.from((v as string | undefined) ?? '', 'utf8');
      if (len > 0) {
        w.raw(b.subarray(0, len - 1), len); // like strncpy(dst, src, N-1)
      } else {
        w.scalar('u32', b.length);
        w.raw(b);
      }
    } else if (typeof len === 'number') {
      writeArray(scope, w, type, len > 0 ? len : null, v);
    } else {
      writeOne(scope, w, type, v);
    }
  }
}

function readOne(scope: JsonScope, r: Reader, type: string): WireValue {
  const t = resolveType(scope, type);
  if (t.length !== undefined) return readArray(scope, r, t.base, t.length);
  if (t.base in SCALAR_BYTES) return r.scalar(t.base);
  const n = innerName(t.base);
  const st = scope.types.get(n);
  if (st) return readStruct(scope, r, fieldsOnly(st));
  if (scope.unions.has(n)) return r.bytes(fixedBytes(scope, type));
  throw new Error(`server codec: unknown type ${type}`);
}

function readArray(scope: JsonScope, r: Reader, type: string, count: number | null): WireValue {
  const isBytes = resolveType(scope, type).base === 'u8' && resolveType(scope, type).length === undefined;
  if (isBytes) return r.bytes(count ?? r.buf.length - r.off);
  const out: WireValue[] = [];
  if (count === null) {
    while (r.off < r.buf.length) out.push(readOne(scope, r, type));
  } else {
    for (let i = 0; i < count; i++) out.push(readOne(scope, r, type));
  }
  return out;
}

function readStruct(scope: JsonScope, r: Reader, fields: JField[]): WireObject {
  const obj: WireObject = {};
  for (const f of fields) {
    const [type, name, len, lenField] = f;
    if (type === 'string') {
      if (len > 0) {
        const b = r.bytes(len);
        const z = b.indexOf(0);
        obj[name] = b.subarray(0, z < 0 ? len : z).toString('utf8');
      } else {
        const n = r.scalar('u32') as number;
        obj[name] = r.bytes(n).toString('utf8');
      }
    } else if (typeof len === 'number') {
      const count = len > 0 ? len : typeof lenField === 'string' ? Number(obj[lenField]) : null;
      obj[name] = readArray(scope, r, type, count);
    } else {
      obj[name] = readOne(scope, r, type);
    }
  }
  return obj;
}

/** Encode a message (fields by name; missing ones are zero). */
export function serverEncode(m: WireMessage, obj: WireObject): Buffer {
  const w = new Writer();
  writeStruct(m.scope, w, m.fields, obj);
  return w.done();
}

/** Decode a message; throws on short input. */
export function serverDecode(m: WireMessage, buf: Buffer): WireObject {
  return readStruct(m.scope, new Reader(buf), m.fields);
}

/** All messages of the shared JSON files, by name. */
export function loadSharedMessages(dir: string = SHARED_VPP_API_DIR): Map<string, WireMessage> {
  const out = new Map<string, WireMessage>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.api.json')).sort()) {
    const j = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const scope: JsonScope = {
      types: new Map((j.types ?? []).map((t: any[]) => [t[0], t.slice(1)])),
      unions: new Map((j.unions ?? []).map((t: any[]) => [t[0], t.slice(1)])),
      enums: new Map(
        [...(j.enums ?? []), ...(j.enumflags ?? [])].map((e: any[]) => {
          const meta = e[e.length - 1];
          return [e[0], meta && !Array.isArray(meta) && meta.enumtype ? meta.enumtype : 'u32'];
        }),
      ),
      aliases: new Map(Object.entries(j.aliases ?? {})),
    };
    for (const m of j.messages ?? []) {
      const meta = m[m.length - 1];
      if (!out.has(m[0])) {
        out.set(m[0], {
          name: m[0],
          crc: String(meta.crc).replace(/^0x/, '').toLowerCase(),
          fields: fieldsOnly(m.slice(1)),
          scope,
          module: String(j.module ?? file),
        });
      }
    }
  }
  return out;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------------------------------
// State VPP keeps
// ---------------------------------------------------------------------------------------

export interface FakeMemif {
  socketId: number;
  id: number;
  role: 'master' | 'slave';
  mode: number;
  rxQueues: number;
  txQueues: number;
  ringSize: number;
  bufferSize: number;
  zeroCopy: boolean;
  secret: string;
}

export interface FakeInterface {
  swIfIndex: number;
  name: string;
  mac: Buffer;
  adminUp: boolean;
  linkUp: boolean;
  bdId: number | null;
  memif: FakeMemif | null;
}

export interface FakeBridgeDomain {
  bdId: number;
  flood: boolean;
  uuFlood: boolean;
  forward: boolean;
  learn: boolean;
  arpTerm: boolean;
  macAge: number;
  tag: string;
  members: Set<number>;
}

export interface FakeL2fibEntry {
  bdId: number;
  mac: string;
  swIfIndex: number;
  static: boolean;
}

const E = {
  INVALID_SW_IF_INDEX: -2,
  NO_SUCH_ENTRY: -6,
  INVALID_VALUE: -7,
  INVALID_REGISTRATION: -31,
  SUBIF_ALREADY_EXISTS: -68,
  INVALID_ARGUMENT: -73,
  UNEXPECTED_INTF_STATE: -74,
  ENTRY_ALREADY_EXISTS: -116,
  BD_ALREADY_EXISTS: -119,
  BD_IN_USE: -120,
  BD_NOT_MODIFIABLE: -121,
  BD_ID_EXCEED_MAX: -122,
};

const NONE = 0xffffffff;
const DEFAULT_MEMIF_SOCKET = '/run/vpp/memif.sock';

function macKey(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

class VppState {
  sockets = new Map<number, string>([[0, DEFAULT_MEMIF_SOCKET]]);
  interfaces = new Map<number, FakeInterface>();
  bds = new Map<number, FakeBridgeDomain>();
  l2fib = new Map<string, FakeL2fibEntry>();

  constructor() {
    this.interfaces.set(0, { swIfIndex: 0, name: 'local0', mac: Buffer.alloc(6), adminUp: false, linkUp: false, bdId: null, memif: null });
  }

  allocSwIfIndex(): number {
    // VPP's pools hand out the lowest free slot.
    let i = 1;
    while (this.interfaces.has(i)) i++;
    return i;
  }

  bd(bdId: number): FakeBridgeDomain {
    let bd = this.bds.get(bdId);
    if (!bd) {
      // bd_find_or_add_bd_index: learn, forward, flood and unknown-unicast flood on
      bd = { bdId, flood: true, uuFlood: true, forward: true, learn: true, arpTerm: false, macAge: 0, tag: '', members: new Set() };
      this.bds.set(bdId, bd);
    }
    return bd;
  }

  leaveBridge(itf: FakeInterface): void {
    if (itf.bdId === null) return;
    this.bds.get(itf.bdId)?.members.delete(itf.swIfIndex);
    // Learned MACs of the interface go; static entries stay until deleted.
    for (const [k, e] of this.l2fib) if (e.swIfIndex === itf.swIfIndex && !e.static) this.l2fib.delete(k);
    itf.bdId = null;
  }
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

export interface FakeVppOptions {
  readonly socketPath: string;
  /** Definitions directory (default ../shared/vpp-api). */
  readonly apiDir?: string;
  /** Announce these CRCs instead of the real ones (simulates another VPP version). */
  readonly crcOverrides?: Readonly<Record<string, string>>;
  /** Leave these messages out of the table (simulates an older VPP). */
  readonly omit?: readonly string[];
  /** First id of the non-memclnt modules (VPP's plugin ids move between versions). */
  readonly idBase?: number;
  /** Put junk into the pointer and timestamp fields of frames we send (default true). */
  readonly junkHeaders?: boolean;
  /**
   * Send interface events this much later. VPP sends them from a process node, not from the
   * request handler, so they can arrive after later replies.
   */
  readonly eventDelayMs?: number;
}

interface Conn {
  readonly sock: net.Socket;
  buf: Buffer;
  handle: number | null;
  wantEvents: boolean;
  pid: number;
}

export interface ServerStats {
  /** Client frames whose pointer or timestamp bytes were not zero. */
  nonZeroHeaders: number;
  /** Requests dropped because client_index did not match the registration. */
  badClientIndex: number;
  /** Frames that did not decode. */
  undecodable: number;
  /** Frames with an id not in the table. */
  unknownIds: number;
}

const HEADER = 16;

export class FakeVpp {
  readonly messages: Map<string, WireMessage>;
  readonly stats: ServerStats = { nonZeroHeaders: 0, badClientIndex: 0, undecodable: 0, unknownIds: 0 };
  /** Names of requests received, in order (sockclnt_create included). */
  readonly log: string[] = [];
  /** Decoded requests received, in order. */
  readonly received: { name: string; msg: WireObject }[] = [];
  state = new VppState();
  private readonly idByName = new Map<string, number>();
  private readonly nameById = new Map<number, string>();
  private readonly conns = new Set<Conn>();
  private server: net.Server | null = null;
  private nextHandle = 0x100;
  private readonly failures = new Map<string, number[]>();
  private readonly silenced = new Set<string>();

  private constructor(readonly opts: FakeVppOptions) {
    this.messages = loadSharedMessages(opts.apiDir ?? SHARED_VPP_API_DIR);
    const omit = new Set(opts.omit ?? []);
    // memclnt first, from id 1, in file order: sockclnt_create lands on 15, its reply on 16.
    let id = 1;
    const ordered = [...this.messages.values()];
    for (const m of ordered.filter((x) => x.module === 'memclnt')) this.assign(m.name, id++, omit);
    id = opts.idBase ?? 100;
    for (const m of ordered.filter((x) => x.module !== 'memclnt')) this.assign(m.name, id++, omit);
  }

  private assign(name: string, id: number, omit: Set<string>): void {
    if (omit.has(name)) return;
    this.idByName.set(name, id);
    this.nameById.set(id, name);
  }

  static async start(opts: FakeVppOptions): Promise<FakeVpp> {
    const vpp = new FakeVpp(opts);
    await vpp.listen();
    return vpp;
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** The id this server gave a message (undefined when omitted). */
  idOf(name: string): number | undefined {
    return this.idByName.get(name);
  }

  /** Accept connections (again). */
  listen(): Promise<void> {
    if (this.server) return Promise.resolve();
    fs.rmSync(this.opts.socketPath, { force: true });
    const server = net.createServer((sock) => this.accept(sock));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stop accepting and drop every client (VPP going down). State is kept unless reset. */
  async stopListening(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.conns) c.sock.destroy();
    this.conns.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.opts.socketPath, { force: true });
  }

  /** VPP restarts: every client is dropped and all state is lost. */
  async restart(opts: { downMs?: number } = {}): Promise<void> {
    await this.stopListening();
    this.state = new VppState();
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.listen();
  }

  async close(): Promise<void> {
    await this.stopListening();
  }

  /** The next `count` requests of `name` are answered with `retval` and change nothing. */
  failNext(name: string, retval: number, count = 1): void {
    const list = this.failures.get(name) ?? [];
    for (let i = 0; i < count; i++) list.push(retval);
    this.failures.set(name, list);
  }

  /** Never answer `name` (the client must time out). */
  silence(name: string): void {
    this.silenced.add(name);
  }

  unsilence(name: string): void {
    this.silenced.delete(name);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  get eventSubscribers(): number {
    return [...this.conns].filter((c) => c.wantEvents).length;
  }

  // -------------------------------------------------------------------------------------
  // Operator actions (what vppctl would do)
  // -------------------------------------------------------------------------------------

  /** `delete interface memif memifX/Y`: the interface goes, subscribers get deleted=1. */
  operatorDeleteInterface(swIfIndex: number): void {
    const itf = this.state.interfaces.get(swIfIndex);
    if (!itf || !itf.memif) throw new Error(`no memif with sw_if_index ${swIfIndex}`);
    this.deleteInterface(itf);
  }

  /** The memif peer connects or goes away. */
  setLinkUp(swIfIndex: number, up: boolean): void {
    const itf = this.state.interfaces.get(swIfIndex);
    if (!itf) throw new Error(`no interface ${swIfIndex}`);
    itf.linkUp = up;
    this.event(itf, false);
  }

  /** Find a memif by socket id and interface id. */
  memif(socketId: number, id: number): FakeInterface | undefined {
    return [...this.state.interfaces.values()].find((i) => i.memif?.socketId === socketId && i.memif.id === id);
  }

  /** Sends raw bytes to every registered client. */
  sendRaw(bytes: Buffer): void {
    for (const c of this.conns) c.sock.write(bytes);
  }

  /** A framed payload with the header VPP would put in front of it. */
  frame(payload: Buffer): Buffer {
    const h = Buffer.alloc(HEADER);
    if (this.opts.junkHeaders !== false) {
      // VPP writes its own msgbuf_t: queue pointer and GC timestamp need not be zero.
      h.writeBigUInt64BE(0x00007f1234567890n, 0);
      h.writeUInt32BE(0xdeadbeef, 12);
    }
    h.writeUInt32BE(payload.length, 8);
    return Buffer.concat([h, payload]);
  }

  /** Encode a message by name with this server's table and codec. */
  encode(name: string, obj: WireObject): Buffer {
    const m = this.messages.get(name);
    const id = this.idByName.get(name);
    if (!m || id === undefined) throw new Error(`fake vpp: no message ${name}`);
    return serverEncode(m, { ...obj, _vl_msg_id: id });
  }

  /** Send a message to every registered client. */
  broadcast(name: string, obj: WireObject): void {
    for (const c of this.conns) {
      if (c.handle !== null) c.sock.write(this.frame(this.encode(name, { client_index: c.handle, ...obj })));
    }
  }

  // -------------------------------------------------------------------------------------
  // Connections and dispatch
  // -------------------------------------------------------------------------------------

  private accept(sock: net.Socket): void {
    const c: Conn = { sock, buf: Buffer.alloc(0), handle: null, wantEvents: false, pid: 0 };
    this.conns.add(c);
    sock.on('data', (d) => this.onData(c, d));
    sock.on('error', () => {});
    sock.on('close', () => this.conns.delete(c));
  }

  private onData(c: Conn, d: Buffer): void {
    c.buf = Buffer.concat([c.buf, d]);
    while (c.buf.length >= HEADER) {
      const len = c.buf.readUInt32BE(8);
      if (c.buf.length < HEADER + len) return;
      if (c.buf.readBigUInt64BE(0) !== 0n || c.buf.readUInt32BE(12) !== 0) this.stats.nonZeroHeaders++;
      const payload = Buffer.from(c.buf.subarray(HEADER, HEADER + len));
      c.buf = Buffer.from(c.buf.subarray(HEADER + len));
      this.onMessage(c, payload);
    }
  }

  private reply(c: Conn, name: string, obj: WireObject): void {
    if (c.sock.destroyed) return;
    c.sock.write(this.frame(this.encode(name, obj)));
  }

  private onMessage(c: Conn, payload: Buffer): void {
    if (payload.length < 2) return;
    const name = this.nameById.get(payload.readUInt16BE(0));
    const def = name === undefined ? undefined : this.messages.get(name);
    if (!name || !def) {
      this.stats.unknownIds++;
      return;
    }
    let msg: WireObject;
    try {
      msg = serverDecode(def, payload);
    } catch {
      this.stats.undecodable++;
      return;
    }
    this.log.push(name);
    this.received.push({ name, msg });
    if (name === 'sockclnt_create') {
      this.onCreate(c, msg);
      return;
    }
    // Like VPP: a request from an unknown client_index has nobody to answer to.
    if ('client_index' in msg && msg['client_index'] !== c.handle) {
      this.stats.badClientIndex++;
      return;
    }
    if (this.silenced.has(name)) return;
    const context = msg['context'] as number;
    const fails = this.failures.get(name);
    if (fails && fails.length > 0) {
      const retval = fails.shift() as number;
      this.reply(c, this.replyName(name), { context, retval });
      return;
    }
    const handler = this.handlers[name];
    if (!handler) return; // VPP only logs "no handler" for ids it does not serve
    handler(c, msg, context);
  }

  private replyName(name: string): string {
    return name.endsWith('_dump') ? 'control_ping_reply' : `${name}_reply`;
  }

  private onCreate(c: Conn, msg: WireObject): void {
    c.handle = this.nextHandle++;
    const table: WireObject[] = [];
    for (const [name, id] of this.idByName) {
      const m = this.messages.get(name) as WireMessage;
      const crc = this.opts.crcOverrides?.[name] ?? m.crc;
      table.push({ index: id, name: `${name}_${crc}` });
    }
    this.reply(c, 'sockclnt_create_reply', { client_index: 0, context: msg['context'], response: 0, index: c.handle, message_table: table });
  }

  private event(itf: FakeInterface, deleted: boolean): void {
    const flags = (itf.adminUp ? 1 : 0) | (itf.linkUp ? 2 : 0);
    const send = () => {
      for (const c of this.conns) {
        if (!c.wantEvents || c.handle === null) continue;
        this.reply(c, 'sw_interface_event', { client_index: c.handle, pid: c.pid, sw_if_index: itf.swIfIndex, flags, deleted });
      }
    };
    if (this.opts.eventDelayMs) setTimeout(send, this.opts.eventDelayMs);
    else send();
  }

  private deleteInterface(itf: FakeInterface): void {
    this.state.leaveBridge(itf);
    itf.adminUp = false;
    itf.linkUp = false;
    this.state.interfaces.delete(itf.swIfIndex);
    this.event(itf, true);
  }

  private rv(c: Conn, name: string, context: number, retval: number, extra: WireObject = {}): void {
    this.reply(c, `${name}_reply`, { context, retval, ...extra });
  }

  private socketAddDel(c: Conn, name: string, msg: WireObject, context: number, v2: boolean): void {
    const s = this.state;
    let id = msg['socket_id'] as number;
    const file = msg['socket_filename'] as string;
    if (!msg['is_add']) {
      if (id === 0 || id === NONE) return this.rv(c, name, context, E.INVALID_ARGUMENT);
      if (!s.sockets.has(id)) return this.rv(c, name, context, E.INVALID_ARGUMENT);
      const inUse = [...s.interfaces.values()].some((i) => i.memif?.socketId === id);
      if (inUse) return this.rv(c, name, context, E.UNEXPECTED_INTF_STATE);
      s.sockets.delete(id);
      return this.rv(c, name, context, 0, v2 ? { socket_id: id } : {});
    }
    if (id === 0 || (id === NONE && !v2)) return this.rv(c, name, context, E.INVALID_ARGUMENT);
    if (id === NONE) {
      id = 1;
      while (s.sockets.has(id)) id++;
    }
    if (!file) return this.rv(c, name, context, E.INVALID_ARGUMENT);
    // VPP checks that the directory exists and is accessible (faccessat).
    if (file.startsWith('/') && !fs.existsSync(path.dirname(file))) return this.rv(c, name, context, E.INVALID_ARGUMENT);
    const existing = s.sockets.get(id);
    if (existing !== undefined && existing !== file) return this.rv(c, name, context, E.ENTRY_ALREADY_EXISTS);
    s.sockets.set(id, file);
    return this.rv(c, name, context, 0, v2 ? { socket_id: id } : {});
  }

  private memifCreate(c: Conn, name: string, msg: WireObject, context: number): void {
    const s = this.state;
    const socketId = msg['socket_id'] as number;
    if (!s.sockets.has(socketId)) return this.rv(c, name, context, E.INVALID_ARGUMENT, { sw_if_index: NONE });
    const ringSize = (msg['ring_size'] as number) || 1024;
    if ((ringSize & (ringSize - 1)) !== 0) return this.rv(c, name, context, E.INVALID_ARGUMENT, { sw_if_index: NONE });
    const isMaster = msg['role'] === 0;
    const onSocket = [...s.interfaces.values()].filter((i) => i.memif?.socketId === socketId);
    if (onSocket.some((i) => (i.memif as FakeMemif).role !== (isMaster ? 'master' : 'slave'))) {
      return this.rv(c, name, context, E.SUBIF_ALREADY_EXISTS, { sw_if_index: NONE });
    }
    if (onSocket.some((i) => (i.memif as FakeMemif).id === msg['id'])) {
      return this.rv(c, name, context, E.SUBIF_ALREADY_EXISTS, { sw_if_index: NONE });
    }
    let mac = msg['hw_addr'] as Buffer;
    if (mac.every((b) => b === 0)) mac = Buffer.from([0x02, 0xfe, 0x11, 0x22, 0x33, s.allocSwIfIndex() & 0xff]);
    const swIfIndex = s.allocSwIfIndex();
    s.interfaces.set(swIfIndex, {
      swIfIndex,
      name: `memif${socketId}/${msg['id']}`,
      mac,
      adminUp: false,
      linkUp: false,
      bdId: null,
      memif: {
        socketId,
        id: msg['id'] as number,
        role: isMaster ? 'master' : 'slave',
        mode: msg['mode'] as number,
        // Queue counts only apply to a slave (the master takes the slave's).
        rxQueues: isMaster ? 0 : (msg['rx_queues'] as number) || 1,
        txQueues: isMaster ? 0 : (msg['tx_queues'] as number) || 1,
        ringSize,
        bufferSize: (msg['buffer_size'] as number) || 2048,
        zeroCopy: !msg['no_zero_copy'],
        secret: msg['secret'] as string,
      },
    });
    this.rv(c, name, context, 0, { sw_if_index: swIfIndex });
  }

  private readonly handlers: Record<string, (c: Conn, msg: WireObject, context: number) => void> = {
    sockclnt_delete: (c, msg, context) => {
      if (msg['index'] !== c.handle) {
        this.reply(c, 'sockclnt_delete_reply', { context, response: -1 });
        return;
      }
      // VPP answers 1 on success, then closes the connection.
      this.reply(c, 'sockclnt_delete_reply', { context, response: 1 });
      c.handle = null;
      c.sock.end();
    },
    control_ping: (c, _msg, context) => {
      this.reply(c, 'control_ping_reply', { context, retval: 0, client_index: c.handle ?? 0, vpe_pid: process.pid });
    },
    memclnt_keepalive_reply: () => {},
    show_version: (c, _msg, context) => {
      this.reply(c, 'show_version_reply', { context, retval: 0, program: 'vpe', version: '26.10-fake', build_date: '', build_directory: '' });
    },
    want_interface_events: (c, msg, context) => {
      const enable = msg['enable_disable'] !== 0;
      if (enable === c.wantEvents) return this.rv(c, 'want_interface_events', context, E.INVALID_REGISTRATION);
      c.wantEvents = enable;
      c.pid = msg['pid'] as number;
      this.rv(c, 'want_interface_events', context, 0);
    },
    memif_socket_filename_add_del: (c, msg, context) => this.socketAddDel(c, 'memif_socket_filename_add_del', msg, context, false),
    memif_socket_filename_add_del_v2: (c, msg, context) => this.socketAddDel(c, 'memif_socket_filename_add_del_v2', msg, context, true),
    memif_create: (c, msg, context) => this.memifCreate(c, 'memif_create', msg, context),
    memif_create_v2: (c, msg, context) => this.memifCreate(c, 'memif_create_v2', msg, context),
    memif_delete: (c, msg, context) => {
      const itf = this.state.interfaces.get(msg['sw_if_index'] as number);
      if (!itf || !itf.memif) return this.rv(c, 'memif_delete', context, E.INVALID_SW_IF_INDEX);
      this.deleteInterface(itf);
      this.rv(c, 'memif_delete', context, 0);
    },
    memif_dump: (c, _msg, context) => {
      for (const itf of this.state.interfaces.values()) {
        const m = itf.memif;
        if (!m) continue;
        this.reply(c, 'memif_details', {
          context,
          sw_if_index: itf.swIfIndex,
          hw_addr: itf.mac,
          id: m.id,
          role: m.role === 'master' ? 0 : 1,
          mode: m.mode,
          zero_copy: m.zeroCopy,
          socket_id: m.socketId,
          ring_size: m.ringSize,
          buffer_size: m.bufferSize,
          flags: (itf.adminUp ? 1 : 0) | (itf.linkUp ? 2 : 0),
          if_name: itf.name,
        });
      }
    },
    memif_socket_filename_dump: (c, _msg, context) => {
      for (const [id, file] of this.state.sockets) {
        this.reply(c, 'memif_socket_filename_details', { context, socket_id: id, socket_filename: file });
      }
    },
    sw_interface_set_flags: (c, msg, context) => {
      const itf = this.state.interfaces.get(msg['sw_if_index'] as number);
      if (!itf) return this.rv(c, 'sw_interface_set_flags', context, E.INVALID_SW_IF_INDEX);
      itf.adminUp = ((msg['flags'] as number) & 1) !== 0;
      this.rv(c, 'sw_interface_set_flags', context, 0);
      this.event(itf, false);
    },
    sw_interface_dump: (c, msg, context) => {
      const only = msg['sw_if_index'] as number;
      for (const itf of this.state.interfaces.values()) {
        if (only !== NONE && itf.swIfIndex !== only) continue;
        if (msg['name_filter_valid'] && !itf.name.includes(msg['name_filter'] as string)) continue;
        this.reply(c, 'sw_interface_details', {
          context,
          sw_if_index: itf.swIfIndex,
          sup_sw_if_index: itf.swIfIndex,
          l2_address: itf.mac,
          flags: (itf.adminUp ? 1 : 0) | (itf.linkUp ? 2 : 0),
          link_mtu: 9000,
          interface_name: itf.name,
          interface_dev_type: itf.memif ? 'memif' : 'local',
        });
      }
    },
    bridge_domain_add_del: (c, msg, context) => this.bdAddDel(c, 'bridge_domain_add_del', msg, context, false),
    bridge_domain_add_del_v2: (c, msg, context) => this.bdAddDel(c, 'bridge_domain_add_del_v2', msg, context, true),
    bridge_domain_dump: (c, msg, context) => {
      const want = msg['bd_id'] as number;
      const sw = msg['sw_if_index'] as number;
      if (want === 0) return;
      for (const bd of this.state.bds.values()) {
        if (bd.bdId === 0) continue;
        if (want !== NONE && bd.bdId !== want) continue;
        if (sw !== NONE && !bd.members.has(sw)) continue;
        this.reply(c, 'bridge_domain_details', {
          context,
          bd_id: bd.bdId,
          flood: bd.flood,
          uu_flood: bd.uuFlood,
          forward: bd.forward,
          learn: bd.learn,
          arp_term: bd.arpTerm,
          arp_ufwd: false,
          mac_age: bd.macAge,
          bd_tag: bd.tag,
          bvi_sw_if_index: NONE,
          uu_fwd_sw_if_index: NONE,
          sw_if_details: [...bd.members].map((m) => ({ context, sw_if_index: m, shg: 0 })),
        });
      }
    },
    sw_interface_set_l2_bridge: (c, msg, context) => {
      const itf = this.state.interfaces.get(msg['rx_sw_if_index'] as number);
      if (!itf) return this.rv(c, 'sw_interface_set_l2_bridge', context, E.INVALID_SW_IF_INDEX);
      const pt = msg['port_type'] as number;
      if (pt > 2) return this.rv(c, 'sw_interface_set_l2_bridge', context, E.INVALID_VALUE);
      if (msg['enable']) {
        const bdId = msg['bd_id'] as number;
        if (bdId > 0xffffff) return this.rv(c, 'sw_interface_set_l2_bridge', context, E.BD_ID_EXCEED_MAX);
        this.state.leaveBridge(itf);
        this.state.bd(bdId).members.add(itf.swIfIndex);
        itf.bdId = bdId;
      } else {
        this.state.leaveBridge(itf);
      }
      this.rv(c, 'sw_interface_set_l2_bridge', context, 0);
    },
    l2fib_add_del: (c, msg, context) => {
      const bdId = msg['bd_id'] as number;
      if (!this.state.bds.has(bdId)) return this.rv(c, 'l2fib_add_del', context, E.NO_SUCH_ENTRY);
      const key = `${bdId}/${macKey(msg['mac'] as Buffer)}`;
      if (msg['is_add']) {
        const itf = this.state.interfaces.get(msg['sw_if_index'] as number);
        if (!itf || itf.bdId === null) return this.rv(c, 'l2fib_add_del', context, E.INVALID_SW_IF_INDEX);
        this.state.l2fib.set(key, { bdId, mac: macKey(msg['mac'] as Buffer), swIfIndex: itf.swIfIndex, static: Boolean(msg['static_mac']) });
        return this.rv(c, 'l2fib_add_del', context, 0);
      }
      const e = this.state.l2fib.get(key);
      if (!e) return this.rv(c, 'l2fib_add_del', context, E.NO_SUCH_ENTRY);
      this.state.l2fib.delete(key);
      this.rv(c, 'l2fib_add_del', context, 0);
    },
  };

  private bdAddDel(c: Conn, name: string, msg: WireObject, context: number, v2: boolean): void {
    const s = this.state;
    let bdId = msg['bd_id'] as number;
    if (bdId === 0) return this.rv(c, name, context, E.BD_NOT_MODIFIABLE, v2 ? { bd_id: bdId } : {});
    if (msg['is_add']) {
      if (v2 && bdId === NONE) {
        bdId = 1;
        while (s.bds.has(bdId)) bdId++;
      }
      if (bdId > 0xffffff) return this.rv(c, name, context, E.BD_ID_EXCEED_MAX, v2 ? { bd_id: bdId } : {});
      if (s.bds.has(bdId)) return this.rv(c, name, context, E.BD_ALREADY_EXISTS, v2 ? { bd_id: bdId } : {});
      const bd = s.bd(bdId);
      bd.flood = Boolean(msg['flood']);
      bd.uuFlood = Boolean(msg['uu_flood']);
      bd.forward = Boolean(msg['forward']);
      bd.learn = Boolean(msg['learn']);
      bd.arpTerm = Boolean(msg['arp_term']);
      bd.macAge = msg['mac_age'] as number;
      bd.tag = msg['bd_tag'] as string;
      return this.rv(c, name, context, 0, v2 ? { bd_id: bdId } : {});
    }
    const bd = s.bds.get(bdId);
    if (!bd) return this.rv(c, name, context, E.NO_SUCH_ENTRY, v2 ? { bd_id: bdId } : {});
    if (bd.members.size > 0) return this.rv(c, name, context, E.BD_IN_USE, v2 ? { bd_id: bdId } : {});
    s.bds.delete(bdId);
    for (const [k, e] of s.l2fib) if (e.bdId === bdId) s.l2fib.delete(k);
    return this.rv(c, name, context, 0, v2 ? { bd_id: bdId } : {});
  }
}
