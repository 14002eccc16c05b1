// Encoding and decoding of VPP binary API messages from their JSON definitions.
//
// Wire rules (VPP's vppapigen C layout, packed, no padding): every integer is big-endian;
// bool is one byte; f64 is an IEEE double in network order; `string name[N]` is N bytes,
// NUL-padded; `string name[]` (length 0) is a u32 byte count followed by the bytes;
// `T name[N]` is N elements; `T name[count_field]` is as many elements as an earlier field
// says; enums travel as their enumtype; aliases are their target type; unions take the
// size of their largest member.
//
// Values: integers up to 32 bits and f64 are numbers, u64/i64 are bigints, bool is boolean,
// strings are strings, arrays of u8 are Uint8Array, other arrays are arrays, structs are
// plain objects, enums are numbers, and unions are their raw bytes (Uint8Array). Decoding
// never reads past the end of its input: it throws VppDecodeError instead.

import { VppDecodeError, VppDefinitionError, VppEncodeError } from './errors.js';
import type { MessageDef, RawField, TypeScope } from './definitions.js';

export type ApiValue = number | bigint | boolean | string | Uint8Array | ApiValue[] | ApiRecord;
export interface ApiRecord {
  [field: string]: ApiValue;
}
/** Input to encode: fields may be left out (they take the JSON default, or zero). */
export interface ApiInput {
  [field: string]: ApiValue | ApiInput | undefined;
}

type IntType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';

type Node =
  | { readonly kind: 'int'; readonly type: IntType }
  | { readonly kind: 'bool' }
  | { readonly kind: 'f64' }
  | { readonly kind: 'fstring'; readonly size: number }
  | { readonly kind: 'vstring' }
  | { readonly kind: 'fbytes'; readonly size: number }
  | { readonly kind: 'farray'; readonly elem: Node; readonly size: number }
  | { readonly kind: 'vbytes'; readonly countField: string | null }
  | { readonly kind: 'varray'; readonly elem: Node; readonly countField: string | null }
  | { readonly kind: 'struct'; readonly name: string; readonly fields: readonly FieldNode[] }
  | { readonly kind: 'union'; readonly name: string; readonly size: number; readonly members: readonly FieldNode[] };

interface FieldNode {
  readonly name: string;
  readonly node: Node;
  readonly defaultValue?: number | boolean | string;
  /** Set on count fields: the array field whose length this field carries. */
  readonly countOf?: string;
}

const INT_SIZE: Record<IntType, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

function isIntType(t: string): t is IntType {
  return t in INT_SIZE;
}

// ---------------------------------------------------------------------------------------
// Compilation: JSON fields -> node tree
// ---------------------------------------------------------------------------------------

const MAX_TYPE_DEPTH = 16;

function typeName(t: string): string | null {
  const m = /^vl_api_(.+)_t$/.exec(t);
  return m ? m[1] : null;
}

function compileType(scope: TypeScope, type: string, where: string, depth: number): Node {
  if (depth > MAX_TYPE_DEPTH) throw new VppDefinitionError(`${scope.source}: ${where}: types nest too deep (cycle?)`);
  if (isIntType(type)) return { kind: 'int', type };
  if (type === 'bool') return { kind: 'bool' };
  if (type === 'f64') return { kind: 'f64' };
  const name = typeName(type);
  if (name === null) throw new VppDefinitionError(`${scope.source}: ${where}: unknown type ${type}`);
  const alias = scope.aliases.get(name);
  if (alias) {
    const target = compileType(scope, alias.type, where, depth + 1);
    if (alias.length !== undefined) return arrayOf(target, alias.length, null);
    return target;
  }
  const en = scope.enums.get(name);
  if (en) {
    if (!isIntType(en.baseType)) throw new VppDefinitionError(`${scope.source}: enum ${name}: bad enumtype ${en.baseType}`);
    return { kind: 'int', type: en.baseType };
  }
  const st = scope.types.get(name);
  if (st) return { kind: 'struct', name, fields: compileFields(scope, st.fields, name, depth + 1) };
  const un = scope.unions.get(name);
  if (un) {
    const members = compileFields(scope, un.fields, name, depth + 1);
    let size = 0;
    for (const m of members) {
      const s = fixedSize(m.node);
      if (s === null) throw new VppDefinitionError(`${scope.source}: union ${name}: member ${m.name} has no fixed size`);
      size = Math.max(size, s);
    }
    return { kind: 'union', name, size, members };
  }
  throw new VppDefinitionError(`${scope.source}: ${where}: type ${type} is not defined in this file`);
}

function arrayOf(elem: Node, length: number, countField: string | null): Node {
  const isByte = elem.kind === 'int' && elem.type === 'u8';
  if (length > 0) return isByte ? { kind: 'fbytes', size: length } : { kind: 'farray', elem, size: length };
  return isByte ? { kind: 'vbytes', countField } : { kind: 'varray', elem, countField };
}

function compileField(scope: TypeScope, f: RawField, owner: string, depth: number): Node {
  const where = `${owner}.${f.name}`;
  if (f.type === 'string') {
    if (f.length === undefined || f.length === 0) return { kind: 'vstring' };
    return { kind: 'fstring', size: f.length };
  }
  const base = compileType(scope, f.type, where, depth);
  if (f.length === undefined) return base;
  return arrayOf(base, f.length, f.lengthField ?? null);
}

function compileFields(scope: TypeScope, raw: readonly RawField[], owner: string, depth: number): FieldNode[] {
  const countOf = new Map<string, string>();
  const seen = new Set<string>();
  for (const f of raw) {
    if (f.lengthField !== undefined) {
      // VPP always puts the count before the array; decoding relies on it.
      if (!seen.has(f.lengthField)) {
        throw new VppDefinitionError(`${scope.source}: ${owner}.${f.name}: length field ${f.lengthField} must come first`);
      }
      countOf.set(f.lengthField, f.name);
    }
    seen.add(f.name);
  }
  const out: FieldNode[] = [];
  for (const f of raw) {
    const node = compileField(scope, f, owner, depth);
    const c = countOf.get(f.name);
    if (c !== undefined && node.kind !== 'int') {
      throw new VppDefinitionError(`${scope.source}: ${owner}.${f.name}: length field is not an integer`);
    }
    out.push({ name: f.name, node, defaultValue: f.defaultValue, countOf: c });
  }
  return out;
}

function fixedSize(node: Node): number | null {
  switch (node.kind) {
    case 'int':
      return INT_SIZE[node.type];
    case 'bool':
      return 1;
    case 'f64':
      return 8;
    case 'fstring':
    case 'fbytes':
    case 'union':
      return node.size;
    case 'farray': {
      const e = fixedSize(node.elem);
      return e === null ? null : e * node.size;
    }
    case 'struct': {
      let total = 0;
      for (const f of node.fields) {
        const s = fixedSize(f.node);
        if (s === null) return null;
        total += s;
      }
      return total;
    }
    default:
      return null;
  }
}

/** The smallest number of bytes one element can take; guards counts read off the wire. */
function minSize(node: Node): number {
  switch (node.kind) {
    case 'vstring':
      return 4;
    case 'vbytes':
    case 'varray':
      return 0;
    case 'farray':
      return minSize(node.elem) * node.size;
    case 'struct':
      return node.fields.reduce((acc, f) => acc + minSize(f.node), 0);
    default:
      return fixedSize(node) ?? 0;
  }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8');

/** A value checked against its node, ready to size and write. */
type Ready =
  | { readonly k: 'num'; readonly v: number }
  | { readonly k: 'big'; readonly v: bigint }
  | { readonly k: 'bytes'; readonly v: Uint8Array }
  | { readonly k: 'list'; readonly v: readonly Ready[] };

function encErr(path: string, what: string): never {
  throw new VppEncodeError(`cannot encode ${path}: ${what}`);
}

const INT_RANGE: Record<'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32', [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function defaultFor(f: FieldNode): ApiValue | undefined {
  const d = f.defaultValue;
  if (d === undefined) return undefined;
  if (f.node.kind === 'bool') {
    if (typeof d === 'string') return d === 'true';
    return Boolean(d);
  }
  if (f.node.kind === 'int') {
    if (typeof d !== 'number') return undefined;
    return f.node.type === 'u64' || f.node.type === 'i64' ? BigInt(d) : d;
  }
  if (f.node.kind === 'f64' && typeof d === 'number') return d;
  return undefined;
}

function prepare(node: Node, value: unknown, path: string): Ready {
  switch (node.kind) {
    case 'int': {
      if (node.type === 'u64' || node.type === 'i64') {
        let v: bigint;
        if (typeof value === 'bigint') v = value;
        else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
        else if (value === undefined) v = 0n;
        else encErr(path, `expected a ${node.type} integer`);
        const ok = node.type === 'u64' ? BigInt.asUintN(64, v) === v : BigInt.asIntN(64, v) === v;
        if (!ok) encErr(path, `out of range for ${node.type}`);
        return { k: 'big', v };
      }
      const v = value === undefined ? 0 : value;
      const [lo, hi] = INT_RANGE[node.type];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
        encErr(path, `expected an integer ${lo}..${hi} (${node.type})`);
      }
      return { k: 'num', v };
    }
    case 'bool': {
      const v = value === undefined ? false : value;
      if (typeof v !== 'boolean') encErr(path, 'expected a boolean');
      return { k: 'num', v: v ? 1 : 0 };
    }
    case 'f64': {
      const v = value === undefined ? 0 : value;
      if (typeof v !== 'number') encErr(path, 'expected a number');
      return { k: 'num', v };
    }
    case 'fstring':
    case 'vstring': {
      const s = value === undefined ? '' : value;
      if (typeof s !== 'string') encErr(path, 'expected a string');
      const bytes = textEncoder.encode(s);
      if (node.kind === 'fstring') {
        if (bytes.includes(0)) encErr(path, 'a fixed-size string cannot contain NUL');
        // VPP reads these as C strings and overwrites the last byte with NUL.
        if (bytes.length > node.size - 1) encErr(path, `${bytes.length} bytes, at most ${node.size - 1} fit`);
      }
      return { k: 'bytes', v: bytes };
    }
    case 'fbytes':
    case 'vbytes': {
      const v = value === undefined ? new Uint8Array(0) : value;
      if (!(v instanceof Uint8Array)) encErr(path, 'expected bytes (Uint8Array)');
      if (node.kind === 'fbytes' && v.length > node.size) encErr(path, `${v.length} bytes, at most ${node.size} fit`);
      return { k: 'bytes', v };
    }
    case 'union': {
      if (value === undefined) return { k: 'bytes', v: new Uint8Array(0) };
      if (value instanceof Uint8Array) {
        if (value.length > node.size) encErr(path, `${value.length} bytes, union holds ${node.size}`);
        return { k: 'bytes', v: value };
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) encErr(path, 'expected bytes or {member: value}');
      const keys = Object.keys(value);
      const member = node.members.find((m) => m.name === keys[0]);
      if (keys.length !== 1 || !member) encErr(path, 'expected exactly one union member');
      const r = prepare(member.node, (value as Record<string, unknown>)[member.name], `${path}.${member.name}`);
      const buf = new Uint8Array(node.size);
      write(member.node, r, new DataView(buf.buffer), 0);
      return { k: 'bytes', v: buf };
    }
    case 'farray':
    case 'varray': {
      const v = value === undefined ? [] : value;
      if (!Array.isArray(v)) encErr(path, 'expected an array');
      if (node.kind === 'farray' && v.length > node.size) encErr(path, `${v.length} elements, at most ${node.size} fit`);
      return { k: 'list', v: v.map((e, i) => prepare(node.elem, e, `${path}[${i}]`)) };
    }
    case 'struct':
      return prepareStruct(node.fields, value, path);
  }
}

function prepareStruct(fields: readonly FieldNode[], value: unknown, path: string): Ready {
  const rec = value === undefined ? {} : value;
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec) || rec instanceof Uint8Array) {
    encErr(path, 'expected an object');
  }
  const input = rec as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (input[key] !== undefined && !fields.some((f) => f.name === key)) encErr(`${path}.${key}`, 'no such field');
  }
  const out: Ready[] = [];
  for (const f of fields) {
    let v = input[f.name];
    if (f.countOf !== undefined) {
      // The count is derived from the array it describes; a given count must agree.
      const arr = input[f.countOf];
      const n = arr === undefined ? 0 : Array.isArray(arr) || arr instanceof Uint8Array ? arr.length : -1;
      if (n < 0) encErr(`${path}.${f.countOf}`, 'expected an array');
      if (v !== undefined && v !== n && v !== BigInt(n)) encErr(`${path}.${f.name}`, `count disagrees with ${f.countOf}`);
      v = f.node.kind === 'int' && (f.node.type === 'u64' || f.node.type === 'i64') ? BigInt(n) : n;
    } else if (v === undefined) {
      v = defaultFor(f);
    }
    out.push(prepare(f.node, v, `${path}.${f.name}`));
  }
  return { k: 'list', v: out };
}

function sizeOf(node: Node, r: Ready): number {
  const fixed = fixedSize(node);
  if (fixed !== null) return fixed;
  switch (node.kind) {
    case 'vstring':
      return 4 + (r as { v: Uint8Array }).v.length;
    case 'vbytes':
      return (r as { v: Uint8Array }).v.length;
    case 'farray': {
      const items = (r as { v: readonly Ready[] }).v;
      let total = 0;
      for (const it of items) total += sizeOf(node.elem, it);
      // Missing trailing elements of a fixed array are written as zero elements.
      return total + (node.size - items.length) * minSize(node.elem);
    }
    case 'varray': {
      let total = 0;
      for (const it of (r as { v: readonly Ready[] }).v) total += sizeOf(node.elem, it);
      return total;
    }
    case 'struct': {
      const items = (r as { v: readonly Ready[] }).v;
      let total = 0;
      node.fields.forEach((f, i) => (total += sizeOf(f.node, items[i])));
      return total;
    }
    default:
      // Every other kind has a fixed size, answered above.
      throw new Error(`no size for ${node.kind}`);
  }
}

function write(node: Node, r: Ready, view: DataView, off: number): number {
  switch (node.kind) {
    case 'int': {
      if (r.k === 'big') {
        if (node.type === 'u64') view.setBigUint64(off, r.v);
        else view.setBigInt64(off, r.v);
        return off + 8;
      }
      const v = (r as { v: number }).v;
      switch (node.type) {
        case 'u8':
          view.setUint8(off, v);
          break;
        case 'i8':
          view.setInt8(off, v);
          break;
        case 'u16':
          view.setUint16(off, v);
          break;
        case 'i16':
          view.setInt16(off, v);
          break;
        case 'u32':
          view.setUint32(off, v);
          break;
        default:
          view.setInt32(off, v);
      }
      return off + INT_SIZE[node.type];
    }
    case 'bool':
      view.setUint8(off, (r as { v: number }).v);
      return off + 1;
    case 'f64':
      view.setFloat64(off, (r as { v: number }).v);
      return off + 8;
    case 'fstring':
    case 'fbytes':
    case 'union': {
      const b = (r as { v: Uint8Array }).v;
      new Uint8Array(view.buffer, view.byteOffset + off, b.length).set(b);
      return off + node.size;
    }
    case 'vstring': {
      const b = (r as { v: Uint8Array }).v;
      view.setUint32(off, b.length);
      new Uint8Array(view.buffer, view.byteOffset + off + 4, b.length).set(b);
      return off + 4 + b.length;
    }
    case 'vbytes': {
      const b = (r as { v: Uint8Array }).v;
      new Uint8Array(view.buffer, view.byteOffset + off, b.length).set(b);
      return off + b.length;
    }
    case 'farray': {
      const items = (r as { v: readonly Ready[] }).v;
      for (const it of items) off = write(node.elem, it, view, off);
      // The buffer starts zeroed, so absent elements only advance the offset.
      const elem = fixedSize(node.elem) ?? minSize(node.elem);
      return off + (node.size - items.length) * elem;
    }
    case 'varray':
      for (const it of (r as { v: readonly Ready[] }).v) off = write(node.elem, it, view, off);
      return off;
    case 'struct': {
      const items = (r as { v: readonly Ready[] }).v;
      node.fields.forEach((f, i) => (off = write(f.node, items[i], view, off)));
      return off;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

interface Cursor {
  readonly view: DataView;
  readonly bytes: Uint8Array;
  off: number;
  readonly what: string;
}

function need(c: Cursor, n: number, path: string): void {
  if (c.off + n > c.bytes.length) {
    throw new VppDecodeError(
      `${c.what} is truncated at ${path}: needs ${n} bytes at offset ${c.off}, message has ${c.bytes.length}`,
    );
  }
}

function read(node: Node, c: Cursor, path: string, counts: ReadonlyMap<string, number>): ApiValue {
  switch (node.kind) {
    case 'int': {
      const n = INT_SIZE[node.type];
      need(c, n, path);
      const o = c.off;
      c.off += n;
      switch (node.type) {
        case 'u8':
          return c.view.getUint8(o);
        case 'i8':
          return c.view.getInt8(o);
        case 'u16':
          return c.view.getUint16(o);
        case 'i16':
          return c.view.getInt16(o);
        case 'u32':
          return c.view.getUint32(o);
        case 'i32':
          return c.view.getInt32(o);
        case 'u64':
          return c.view.getBigUint64(o);
        default:
          return c.view.getBigInt64(o);
      }
    }
    case 'bool':
      need(c, 1, path);
      return c.view.getUint8(c.off++) !== 0;
    case 'f64': {
      need(c, 8, path);
      const v = c.view.getFloat64(c.off);
      c.off += 8;
      return v;
    }
    case 'fstring': {
      need(c, node.size, path);
      const raw = c.bytes.subarray(c.off, c.off + node.size);
      c.off += node.size;
      const nul = raw.indexOf(0);
      return textDecoder.decode(nul < 0 ? raw : raw.subarray(0, nul));
    }
    case 'vstring': {
      need(c, 4, path);
      const len = c.view.getUint32(c.off);
      c.off += 4;
      need(c, len, path);
      const s = textDecoder.decode(c.bytes.subarray(c.off, c.off + len));
      c.off += len;
      return s;
    }
    case 'fbytes':
    case 'union': {
      need(c, node.size, path);
      // A copy, as a plain Uint8Array: the frame buffer is not kept alive by decoded values.
      const b = new Uint8Array(c.bytes.subarray(c.off, c.off + node.size));
      c.off += node.size;
      return b;
    }
    case 'vbytes': {
      const len = node.countField === null ? c.bytes.length - c.off : countFor(counts, node.countField, path);
      need(c, len, path);
      const b = new Uint8Array(c.bytes.subarray(c.off, c.off + len));
      c.off += len;
      return b;
    }
    case 'farray': {
      const out: ApiValue[] = [];
      for (let i = 0; i < node.size; i++) out.push(read(node.elem, c, `${path}[${i}]`, counts));
      return out;
    }
    case 'varray': {
      const out: ApiValue[] = [];
      if (node.countField === null) {
        // A trailing array without a count runs to the end of the message.
        const step = Math.max(1, minSize(node.elem));
        while (c.bytes.length - c.off >= step) out.push(read(node.elem, c, `${path}[${out.length}]`, counts));
        return out;
      }
      const n = countFor(counts, node.countField, path);
      // Refuse counts the remaining bytes cannot hold before allocating anything.
      need(c, n * minSize(node.elem), path);
      for (let i = 0; i < n; i++) out.push(read(node.elem, c, `${path}[${i}]`, counts));
      return out;
    }
    case 'struct':
      return readStruct(node.fields, c, path);
  }
}

function countFor(counts: ReadonlyMap<string, number>, field: string, path: string): number {
  const n = counts.get(field);
  if (n === undefined) throw new VppDecodeError(`${path}: count field ${field} missing`);
  return n;
}

function readStruct(fields: readonly FieldNode[], c: Cursor, path: string): ApiRecord {
  const out: ApiRecord = {};
  const counts = new Map<string, number>();
  for (const f of fields) {
    const v = read(f.node, c, `${path}.${f.name}`, counts);
    out[f.name] = v;
    if (f.countOf !== undefined) {
      const n = typeof v === 'bigint' ? v : BigInt(v as number);
      if (n < 0n || n > BigInt(c.bytes.length)) {
        throw new VppDecodeError(`${c.what}: count ${f.name} is larger than the message`);
      }
      counts.set(f.name, Number(n));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/** Encoder/decoder for one message definition (one name and CRC). */
export class MessageCodec {
  readonly name: string;
  readonly crc: string;
  private readonly fields: readonly FieldNode[];

  constructor(readonly def: MessageDef) {
    this.name = def.name;
    this.crc = def.crc;
    this.fields = compileFields(def.scope, def.fields, def.name, 0);
  }

  /** Field names in wire order. */
  get fieldNames(): string[] {
    return this.fields.map((f) => f.name);
  }

  hasField(name: string): boolean {
    return this.fields.some((f) => f.name === name);
  }

  /** Bytes for the whole message, _vl_msg_id included (it is the first field). */
  encode(input: ApiInput): Uint8Array {
    const ready = prepareStruct(this.fields, input, this.name);
    const root: Node = { kind: 'struct', name: this.name, fields: this.fields };
    const buf = new Uint8Array(sizeOf(root, ready));
    write(root, ready, new DataView(buf.buffer), 0);
    return buf;
  }

  /**
   * Decode a whole message. Bytes after the last field are ignored (VPP may round up its
   * allocations); missing bytes throw VppDecodeError.
   */
  decode(bytes: Uint8Array): ApiRecord {
    const c: Cursor = {
      view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      bytes,
      off: 0,
      what: `message ${this.name}`,
    };
    return readStruct(this.fields, c, this.name);
  }

  /** Like decode, and also says how many bytes the fields used. */
  decodeWithLength(bytes: Uint8Array): { value: ApiRecord; length: number } {
    const c: Cursor = {
      view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      bytes,
      off: 0,
      what: `message ${this.name}`,
    };
    const value = readStruct(this.fields, c, this.name);
    return { value, length: c.off };
  }
}

const codecCache = new WeakMap<MessageDef, MessageCodec>();

/** The (cached) codec of a definition. Throws VppDefinitionError if its types do not resolve. */
export function codecFor(def: MessageDef): MessageCodec {
  let c = codecCache.get(def);
  if (!c) {
    c = new MessageCodec(def);
    codecCache.set(def, c);
  }
  return c;
}
