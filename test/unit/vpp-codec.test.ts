import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { codecFor, type ApiRecord, type ApiValue } from '../../src/vpp/codec.js';
import { ApiRegistry, parseApiFile, type MessageDef } from '../../src/vpp/definitions.js';
import { BUILTIN_API_FILES, KNOWN_CRCS } from '../../src/vpp/builtin-api.js';
import { builtinRegistry } from '../../src/vpp/api-loader.js';
import { VppDecodeError, VppEncodeError } from '../../src/vpp/errors.js';
import { SHARED_VPP_API_DIR, loadSharedMessages, serverEncode } from '../helpers/vpp-api-server.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = any;

interface SharedFile {
  file: string;
  json: Json;
}

function sharedFiles(): SharedFile[] {
  return fs
    .readdirSync(SHARED_VPP_API_DIR)
    .filter((f) => f.endsWith('.api.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(fs.readFileSync(path.join(SHARED_VPP_API_DIR, file), 'utf8')) }));
}

function sharedRegistry(): ApiRegistry {
  const reg = new ApiRegistry();
  for (const f of sharedFiles()) reg.addFile(parseApiFile(f.json, f.file));
  return reg;
}

function def(reg: ApiRegistry, name: string): MessageDef {
  const crc = reg.knownCrcs(name)[0];
  const d = reg.get(name, crc);
  assert.ok(d, `definition of ${name}`);
  return d;
}

// ---------------------------------------------------------------------------------------
// Value generators, written from the JSON field lists (not from the codec's compiled form)
// ---------------------------------------------------------------------------------------

const INT_ARB: Record<string, () => fc.Arbitrary<ApiValue>> = {
  u8: () => fc.integer({ min: 0, max: 0xff }),
  i8: () => fc.integer({ min: -0x80, max: 0x7f }),
  u16: () => fc.integer({ min: 0, max: 0xffff }),
  i16: () => fc.integer({ min: -0x8000, max: 0x7fff }),
  u32: () => fc.integer({ min: 0, max: 0xffffffff }),
  i32: () => fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  u64: () => fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  i64: () => fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  f64: () => fc.double(),
  bool: () => fc.boolean(),
};

/** A string that fits `max` UTF-8 bytes and has no NUL (what a C string field can carry). */
function cString(max: number): fc.Arbitrary<string> {
  return fc.string({ unit: 'grapheme', maxLength: Math.min(max, 12) }).map((s) => {
    let out = s.replace(/\0/g, '');
    while (Buffer.byteLength(out, 'utf8') > max) out = [...out].slice(0, -1).join('');
    return out;
  });
}

function fixedSizeOf(scope: Json, type: string): number {
  const scalars: Record<string, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8, f64: 8, bool: 1 };
  if (type in scalars) return scalars[type];
  const n = type.replace(/^vl_api_/, '').replace(/_t$/, '');
  const alias = scope.aliases?.[n];
  if (alias) return fixedSizeOf(scope, alias.type) * (alias.length ?? 1);
  const en = [...(scope.enums ?? []), ...(scope.enumflags ?? [])].find((e: Json) => e[0] === n);
  if (en) return fixedSizeOf(scope, en[en.length - 1].enumtype ?? 'u32');
  const st = (scope.types ?? []).find((t: Json) => t[0] === n);
  if (st) {
    return st
      .slice(1)
      .filter(Array.isArray)
      .reduce((a: number, f: Json) => a + (f[0] === 'string' ? f[2] : fixedSizeOf(scope, f[0]) * countOf(f)), 0);
  }
  const un = (scope.unions ?? []).find((t: Json) => t[0] === n);
  if (un) return Math.max(...un.slice(1).filter(Array.isArray).map((f: Json) => fixedSizeOf(scope, f[0]) * countOf(f)));
  throw new Error(`unknown type ${type}`);
}

/** The element count of a fixed field (the third element may be an options object instead). */
function countOf(f: Json): number {
  return typeof f[2] === 'number' ? f[2] : 1;
}

function typeArb(scope: Json, type: string): fc.Arbitrary<ApiValue> {
  if (type in INT_ARB) return INT_ARB[type]();
  const n = type.replace(/^vl_api_/, '').replace(/_t$/, '');
  const alias = scope.aliases?.[n];
  if (alias) return alias.length !== undefined ? arrayArb(scope, alias.type, alias.length) : typeArb(scope, alias.type);
  const en = [...(scope.enums ?? []), ...(scope.enumflags ?? [])].find((e: Json) => e[0] === n);
  if (en) return typeArb(scope, en[en.length - 1].enumtype ?? 'u32');
  const st = (scope.types ?? []).find((t: Json) => t[0] === n);
  if (st) return structArb(scope, st.slice(1).filter(Array.isArray));
  const un = (scope.unions ?? []).find((t: Json) => t[0] === n);
  if (un) {
    const size = fixedSizeOf(scope, type);
    return fc.uint8Array({ minLength: size, maxLength: size });
  }
  throw new Error(`unknown type ${type}`);
}

function arrayArb(scope: Json, type: string, length: number | null): fc.Arbitrary<ApiValue> {
  const isBytes = type === 'u8';
  if (length !== null) {
    return isBytes ? fc.uint8Array({ minLength: length, maxLength: length }) : fc.array(typeArb(scope, type), { minLength: length, maxLength: length });
  }
  return isBytes ? fc.uint8Array({ maxLength: 24 }) : fc.array(typeArb(scope, type), { maxLength: 3 });
}

function structArb(scope: Json, fields: Json[]): fc.Arbitrary<ApiRecord> {
  const counted = new Map<string, string>();
  for (const f of fields) if (typeof f[3] === 'string') counted.set(f[3], f[1]);
  const parts: Record<string, fc.Arbitrary<ApiValue>> = {};
  for (const f of fields) {
    const [type, name, len] = f;
    if (counted.has(name)) continue;
    if (type === 'string') parts[name] = len > 0 ? cString(len - 1) : fc.string({ unit: 'grapheme', maxLength: 12 });
    else if (typeof len === 'number') parts[name] = arrayArb(scope, type, len > 0 ? len : null);
    else parts[name] = typeArb(scope, type);
  }
  return fc.record(parts).map((rec) => {
    // Rebuild in wire order, with each count equal to the length of its array.
    const out: ApiRecord = {};
    for (const f of fields) {
      const name = f[1];
      if (counted.has(name)) {
        const arr = rec[counted.get(name) as string] as ApiValue[] | Uint8Array;
        out[name] = f[0] === 'u64' || f[0] === 'i64' ? BigInt(arr.length) : arr.length;
      } else {
        out[name] = rec[name];
      }
    }
    return out;
  });
}
/* eslint-enable @typescript-eslint/no-explicit-any */

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

test('every message in shared/vpp-api: random values encode and decode back to themselves', () => {
  const reg = sharedRegistry();
  const serverMsgs = loadSharedMessages();
  let messages = 0;
  for (const { file, json } of sharedFiles()) {
    for (const m of json.messages ?? []) {
      const name: string = m[0];
      const crc = String(m[m.length - 1].crc).slice(2);
      const d = reg.get(name, crc);
      assert.ok(d, `${file}: ${name}`);
      const codec = codecFor(d);
      const fields = m.slice(1, -1).filter(Array.isArray);
      const serverDef = serverMsgs.get(name);
      assert.ok(serverDef);
      fc.assert(
        fc.property(structArb(json, fields), (value) => {
          const bytes = codec.encode(value);
          const { value: back, length } = codec.decodeWithLength(bytes);
          assert.deepStrictEqual(back, value, `${name} round trip`);
          assert.equal(length, bytes.length, `${name} consumes all its bytes`);
          // The test server's independent codec writes the very same bytes.
          assert.deepStrictEqual(Buffer.from(bytes), serverEncode(serverDef, value as never), `${name} vs server codec`);
        }),
        { numRuns: 15 },
      );
      messages++;
    }
  }
  assert.ok(messages > 200, `covered ${messages} messages`);
});

test('sockclnt_create: known bytes, written out by hand from memclnt.api.json', () => {
  const codec = codecFor(def(sharedRegistry(), 'sockclnt_create'));
  // ["u16","_vl_msg_id"], ["u32","context"], ["string","name",64]
  const expected = Buffer.concat([
    Buffer.from([0x00, 0x0f]), // _vl_msg_id 15
    Buffer.from([0x01, 0x02, 0x03, 0x04]), // context
    Buffer.from('wg0', 'ascii'), // name, NUL-padded to 64 bytes
    Buffer.alloc(61),
  ]);
  const bytes = codec.encode({ _vl_msg_id: 15, context: 0x01020304, name: 'wg0' });
  assert.equal(bytes.length, 70);
  assert.deepStrictEqual(Buffer.from(bytes), expected);
  assert.deepStrictEqual(codec.decode(expected), { _vl_msg_id: 15, context: 0x01020304, name: 'wg0' });
});

test('memif_create_v2: known bytes, written out by hand from memif.api.json', () => {
  const codec = codecFor(def(sharedRegistry(), 'memif_create_v2'));
  const hex = [
    '0123', // _vl_msg_id
    '00000100', // client_index
    '00000007', // context
    '00000001', // role: MEMIF_ROLE_API_SLAVE (enum u32)
    '00000000', // mode: MEMIF_MODE_API_ETHERNET
    '02', // rx_queues
    '03', // tx_queues
    '00000003', // id
    '00000004', // socket_id
    '00000400', // ring_size 1024
    '0800', // buffer_size 2048
    '01', // no_zero_copy
    '00', // use_dma
    '02feaabbccdd', // hw_addr
    Buffer.concat([Buffer.from('pwd'), Buffer.alloc(21)]).toString('hex'), // secret[24]
  ].join('');
  const expected = Buffer.from(hex, 'hex');
  assert.equal(expected.length, 66);
  const value = {
    _vl_msg_id: 0x0123,
    client_index: 0x100,
    context: 7,
    role: 1,
    mode: 0,
    rx_queues: 2,
    tx_queues: 3,
    id: 3,
    socket_id: 4,
    ring_size: 1024,
    buffer_size: 2048,
    no_zero_copy: true,
    use_dma: false,
    hw_addr: new Uint8Array([0x02, 0xfe, 0xaa, 0xbb, 0xcc, 0xdd]),
    secret: 'pwd',
  };
  assert.deepStrictEqual(Buffer.from(codec.encode(value)), expected);
  assert.deepStrictEqual(codec.decode(expected), value);
});

test('variable-length fields: count fields follow their arrays, strings carry a u32 length', () => {
  const reg = sharedRegistry();
  const bd = codecFor(def(reg, 'bridge_domain_details'));
  const value = {
    bd_id: 7,
    sw_if_details: [
      { context: 1, sw_if_index: 5, shg: 0 },
      { context: 1, sw_if_index: 9, shg: 2 },
    ],
  };
  const decoded = bd.decode(bd.encode(value));
  assert.equal(decoded['n_sw_ifs'], 2);
  assert.deepStrictEqual(decoded['sw_if_details'], value.sw_if_details);
  // A count that disagrees with its array is refused.
  assert.throws(() => bd.encode({ ...value, n_sw_ifs: 3 }), VppEncodeError);

  const v2 = codecFor(def(reg, 'memif_socket_filename_add_del_v2'));
  const bytes = v2.encode({ _vl_msg_id: 1, socket_filename: '/run/x.sock' });
  // 2 + 4 + 4 + 1 (is_add) + 4 (socket_id) + 4 (length) + 11
  assert.equal(bytes.length, 30);
  assert.equal(Buffer.from(bytes).readUInt32BE(15), 11);
});

test('defaults from the JSON apply to fields left out', () => {
  const reg = sharedRegistry();
  const dump = codecFor(def(reg, 'sw_interface_dump')).decode(codecFor(def(reg, 'sw_interface_dump')).encode({}));
  assert.equal(dump['sw_if_index'], 0xffffffff); // {"default": 4294967295}
  const l2fib = codecFor(def(reg, 'l2fib_add_del'));
  assert.equal(l2fib.decode(l2fib.encode({}))['is_add'], true); // {"default": "true"}
  assert.equal(l2fib.decode(l2fib.encode({ is_add: false }))['is_add'], false);
});

test('every strict prefix of a valid message fails with VppDecodeError, nothing else', () => {
  const reg = sharedRegistry();
  const names = ['sockclnt_create_reply', 'memif_details', 'bridge_domain_details', 'sw_interface_details', 'memif_socket_filename_add_del_v2', 'sw_interface_event'];
  const files = sharedFiles();
  for (const name of names) {
    const codec = codecFor(def(reg, name));
    const file = files.find((f) => (f.json.messages ?? []).some((m: unknown[]) => m[0] === name)) as SharedFile;
    const m = file.json.messages.find((x: unknown[]) => x[0] === name);
    fc.assert(
      fc.property(structArb(file.json, m.slice(1, -1).filter(Array.isArray)), fc.nat(), (value, cut) => {
        const bytes = codec.encode(value);
        const prefix = bytes.subarray(0, cut % bytes.length);
        assert.throws(() => codec.decode(prefix), VppDecodeError);
      }),
      { numRuns: 40 },
    );
  }
});

test('random bytes decode or fail with VppDecodeError; huge counts are refused before allocating', () => {
  const reg = sharedRegistry();
  const codecs = ['sockclnt_create_reply', 'bridge_domain_details', 'memif_socket_filename_add_del_v2', 'sw_interface_details'].map((n) =>
    codecFor(def(reg, n)),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(codecs.length - 1), (bytes, i) => {
      try {
        codecs[i].decode(bytes);
      } catch (err) {
        assert.ok(err instanceof VppDecodeError, String(err));
      }
    }),
    { numRuns: 300 },
  );
  const bd = codecFor(def(reg, 'bridge_domain_details'));
  const bytes = Buffer.from(bd.encode({ bd_id: 1 }));
  bytes.writeUInt32BE(0xffffffff, bytes.length - 4); // n_sw_ifs, the last fixed field
  assert.throws(() => bd.decode(bytes), VppDecodeError);
});

test('encode refuses bad values, naming the field but never its value', () => {
  const reg = sharedRegistry();
  const create = codecFor(def(reg, 'memif_create_v2'));
  const secret = 'x'.repeat(24) + 'SECRETVALUE';
  assert.throws(
    () => create.encode({ secret }),
    (err: Error) => err instanceof VppEncodeError && /memif_create_v2\.secret/.test(err.message) && !err.message.includes('SECRETVALUE'),
  );
  // 24 bytes do not fit: VPP overwrites the last byte of a fixed string with NUL.
  assert.throws(() => create.encode({ secret: 'y'.repeat(24) }), VppEncodeError);
  assert.doesNotThrow(() => create.encode({ secret: 'y'.repeat(23) }));
  assert.throws(() => create.encode({ ring_size: 2 ** 32 }), /ring_size/);
  assert.throws(() => create.encode({ rx_queues: -1 }), /rx_queues/);
  assert.throws(() => create.encode({ hw_addr: new Uint8Array(7) }), /hw_addr/);
  assert.throws(() => create.encode({ no_such_field: 1 }), /no_such_field/);
  assert.throws(() => create.encode({ no_zero_copy: 1 as unknown as boolean }), /no_zero_copy/);
});

test('built-in definitions are exactly the shared v26.10 definitions, and KNOWN_CRCS agrees', () => {
  const shared = loadSharedMessages();
  const builtin = builtinRegistry();
  const reg = sharedRegistry();
  const rawShared = new Map<string, Json>();
  for (const f of sharedFiles()) for (const m of f.json.messages ?? []) rawShared.set(m[0], m);
  let count = 0;
  for (const file of BUILTIN_API_FILES as Json[]) {
    for (const m of file.messages) {
      const name: string = m[0];
      const crc = String(m[m.length - 1].crc).slice(2);
      assert.equal(shared.get(name)?.crc, crc, `${name} CRC`);
      assert.equal(KNOWN_CRCS[name]?.crc, crc, `${name} in KNOWN_CRCS`);
      assert.ok(KNOWN_CRCS[name].vpp.includes('26.10'));
      // Same layout: the built-in and the shared definition encode identically.
      const a = codecFor(builtin.get(name, crc) as MessageDef);
      const b = codecFor(reg.get(name, crc) as MessageDef);
      assert.deepStrictEqual(a.fieldNames, b.fieldNames, name);
      assert.deepStrictEqual(m.slice(1, -1), rawShared.get(name).slice(1, -1), `${name} fields`);
      count++;
    }
  }
  assert.equal(count, Object.keys(KNOWN_CRCS).length);
});
