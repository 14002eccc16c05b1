import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllowedIps } from '../../src/wireguard/allowedips.js';
import type { Prefix } from '../../src/wireguard/config.js';
import { formatPrefix, maskAddress, parsePrefix } from '../../src/wireguard/ip.js';

function p(text: string): Prefix {
  const prefix = parsePrefix(text);
  assert.ok(prefix, `test prefix ${text}`);
  return prefix;
}

function addr(text: string): Uint8Array {
  return p(text.includes(':') ? `${text}/128` : `${text}/32`).address;
}

/** Raw (unmasked) prefix, as a caller might hand it in. */
function raw(family: 4 | 6, bytes: number[], bits: number): Prefix {
  return { family, address: Uint8Array.from(bytes), bits };
}

// ---- naive model: a list of (masked prefix, value), scanned for the longest match ----

interface ModelEntry {
  prefix: Prefix;
  value: number;
}

function inside(prefix: Prefix, address: Uint8Array): boolean {
  const masked = maskAddress(address, prefix.bits);
  for (let i = 0; i < masked.length; i++) if (masked[i] !== prefix.address[i]) return false;
  return true;
}

class Model {
  // Keyed by canonical prefix text; Map order = order of (last) assignment.
  readonly entries = new Map<string, ModelEntry>();

  insert(prefix: Prefix, value: number): void {
    const masked: Prefix = { family: prefix.family, address: maskAddress(prefix.address, prefix.bits), bits: prefix.bits };
    const key = formatPrefix(masked);
    this.entries.delete(key);
    this.entries.set(key, { prefix: masked, value });
  }

  remove(prefix: Prefix): boolean {
    return this.entries.delete(formatPrefix({ ...prefix, address: maskAddress(prefix.address, prefix.bits) }));
  }

  removeValue(value: number): void {
    for (const [k, e] of this.entries) if (e.value === value) this.entries.delete(k);
  }

  lookup(address: Uint8Array): number | undefined {
    let best: ModelEntry | undefined;
    for (const e of this.entries.values()) {
      if (e.prefix.address.length !== address.length) continue;
      if (inside(e.prefix, address) && (best === undefined || e.prefix.bits > best.prefix.bits)) best = e;
    }
    return best?.value;
  }

  entriesFor(value: number): string[] {
    return [...this.entries.values()].filter((e) => e.value === value).map((e) => formatPrefix(e.prefix));
  }
}

/** The trie's private shape, read only to check its structural invariants. */
interface NodeView {
  bits: number;
  hasValue: boolean;
  child0: NodeView | null;
  child1: NodeView | null;
  parent: NodeView | null;
}

/** Every value-less node branches (two children), parent links are right, lengths grow. */
function checkInvariants(trie: AllowedIps<number>): void {
  const roots = trie as unknown as { root4: NodeView | null; root6: NodeView | null };
  const visit = (node: NodeView, parent: NodeView | null): void => {
    assert.equal(node.parent, parent);
    if (parent !== null) assert.ok(node.bits > parent.bits);
    if (!node.hasValue) assert.ok(node.child0 !== null && node.child1 !== null, 'value-less node must branch');
    if (node.child0 !== null) visit(node.child0, node);
    if (node.child1 !== null) visit(node.child1, node);
  };
  if (roots.root4 !== null) visit(roots.root4, null);
  if (roots.root6 !== null) visit(roots.root6, null);
}

// Bytes drawn mostly from a few values so that generated prefixes nest and collide often.
const byteArb = fc.oneof(fc.constantFrom(0, 1, 10, 128, 255), fc.integer({ min: 0, max: 255 }));
const v4Bytes = fc.array(byteArb, { minLength: 4, maxLength: 4 });
const v6Bytes = fc.array(fc.oneof(fc.constant(0), byteArb), { minLength: 16, maxLength: 16 });
const bitsArb = (max: number) =>
  fc.oneof(fc.constantFrom(0, 1, 7, 8, 9, 16, 24, max - 1, max), fc.integer({ min: 0, max }));
const prefixArb: fc.Arbitrary<Prefix> = fc.oneof(
  fc.tuple(v4Bytes, bitsArb(32)).map(([b, bits]) => raw(4, b, bits)),
  fc.tuple(v6Bytes, bitsArb(128)).map(([b, bits]) => raw(6, b, bits)),
);
const valueArb = fc.integer({ min: 0, max: 3 });
type Op =
  | { kind: 'insert'; prefix: Prefix; value: number }
  | { kind: 'remove'; prefix: Prefix }
  | { kind: 'removeValue'; value: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('insert' as const), prefix: prefixArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), prefix: prefixArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeValue' as const), value: valueArb }) },
);
const addressArb = fc.oneof(v4Bytes, v6Bytes).map((b) => Uint8Array.from(b));

test('allowed IPs agree with a naive longest-prefix scan under random inserts and removals', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(addressArb, { minLength: 1, maxLength: 40 }), (ops, probes) => {
      const trie = new AllowedIps<number>();
      const model = new Model();
      for (const op of ops) {
        if (op.kind === 'insert') {
          trie.insert(op.prefix, op.value);
          model.insert(op.prefix, op.value);
        } else if (op.kind === 'remove') {
          assert.equal(trie.remove(op.prefix), model.remove(op.prefix));
        } else {
          trie.removeValue(op.value);
          model.removeValue(op.value);
        }
      }
      // Probe random addresses and every stored prefix's first and last address.
      const all: Uint8Array[] = [...probes];
      for (const e of model.entries.values()) {
        all.push(e.prefix.address);
        const last = Uint8Array.from(e.prefix.address);
        for (let bit = e.prefix.bits; bit < last.length * 8; bit++) last[bit >> 3] |= 0x80 >> (bit & 7);
        all.push(last);
      }
      for (const a of all) assert.equal(trie.lookupAddress(a), model.lookup(a));
      for (let v = 0; v <= 3; v++) assert.deepEqual(trie.entriesFor(v).map(formatPrefix), model.entriesFor(v));
      assert.equal(trie.size, model.entries.size);
      checkInvariants(trie);
    }),
    { numRuns: 300 },
  );
});

test('lookup reads source and destination straight from IP headers in a slab at an offset', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(prefixArb, valueArb), { maxLength: 30 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 200 }),
      addressArb,
      addressArb,
      (inserts, six, offset, srcSeed, dstSeed) => {
        const trie = new AllowedIps<number>();
        for (const [prefix, value] of inserts) trie.insert(prefix, value);
        const len = six ? 16 : 4;
        // Reuse the seeds' bytes at the family's length (pad or cut).
        const src = new Uint8Array(len);
        const dst = new Uint8Array(len);
        src.set(srcSeed.subarray(0, len));
        dst.set(dstSeed.subarray(0, len));
        const slab = new Uint8Array(offset + 64 + 16).fill(0xa5);
        if (six) {
          slab[offset] = 0x60;
          slab.set(src, offset + 8);
          slab.set(dst, offset + 24);
        } else {
          slab[offset] = 0x45;
          slab.set(src, offset + 12);
          slab.set(dst, offset + 16);
        }
        const family = six ? 6 : 4;
        assert.equal(trie.lookup(slab, offset, family, 'src'), trie.lookupAddress(src));
        assert.equal(trie.lookup(slab, offset, family, 'dst'), trie.lookupAddress(dst));
      },
    ),
    { numRuns: 200 },
  );
});

test('host bits beyond the prefix length are masked off on insert', () => {
  const trie = new AllowedIps<string>();
  trie.insert(raw(4, [10, 0, 0, 1], 8), 'a');
  assert.deepEqual(trie.entriesFor('a').map(formatPrefix), ['10.0.0.0/8']);
  assert.equal(trie.lookupAddress(addr('10.200.3.4')), 'a');
  assert.equal(trie.lookupAddress(addr('11.0.0.1')), undefined);
  trie.insert(p('fd00::/8'), 'b');
  trie.insert(raw(6, [0xfd, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff], 20), 'b');
  assert.deepEqual(trie.entriesFor('b').map(formatPrefix), ['fd00::/8', 'fd00:1000::/20']);
  // Removing with host bits set removes the masked prefix.
  assert.equal(trie.remove(raw(4, [10, 9, 9, 9], 8)), true);
  assert.equal(trie.lookupAddress(addr('10.0.0.1')), undefined);
});

test('a prefix belongs to one value: inserting it for another value moves it', () => {
  const trie = new AllowedIps<string>();
  trie.insert(p('192.168.0.0/16'), 'a');
  trie.insert(p('192.168.1.0/24'), 'a');
  trie.insert(p('192.168.1.0/24'), 'b');
  assert.deepEqual(trie.entriesFor('a').map(formatPrefix), ['192.168.0.0/16']);
  assert.deepEqual(trie.entriesFor('b').map(formatPrefix), ['192.168.1.0/24']);
  assert.equal(trie.lookupAddress(addr('192.168.1.7')), 'b');
  assert.equal(trie.lookupAddress(addr('192.168.2.7')), 'a');
  assert.equal(trie.size, 2);
});

test('longest prefix wins, with default routes and host routes in both families', () => {
  const trie = new AllowedIps<string>();
  trie.insert(p('0.0.0.0/0'), 'v4default');
  trie.insert(p('::/0'), 'v6default');
  trie.insert(p('10.0.0.0/8'), 'ten');
  trie.insert(p('10.1.2.3/32'), 'host');
  trie.insert(p('2001:db8::/32'), 'doc');
  trie.insert(p('2001:db8::1/128'), 'host6');
  assert.equal(trie.lookupAddress(addr('8.8.8.8')), 'v4default');
  assert.equal(trie.lookupAddress(addr('10.1.2.4')), 'ten');
  assert.equal(trie.lookupAddress(addr('10.1.2.3')), 'host');
  assert.equal(trie.lookupAddress(addr('2001:db8::2')), 'doc');
  assert.equal(trie.lookupAddress(addr('2001:db8::1')), 'host6');
  assert.equal(trie.lookupAddress(addr('2001:db9::1')), 'v6default');
  // IPv4 and IPv6 tables are separate: ::a01:203 is not 10.1.2.3.
  trie.remove(p('::/0'));
  assert.equal(trie.lookupAddress(addr('::a01:203')), undefined);
  assert.equal(trie.lookupAddress(new Uint8Array(5)), undefined);
});

test('removeValue drops every prefix of that value and nothing else', () => {
  const trie = new AllowedIps<string>();
  trie.insert(p('10.0.0.0/8'), 'a');
  trie.insert(p('10.1.0.0/16'), 'b');
  trie.insert(p('10.1.1.0/24'), 'a');
  trie.insert(p('fd00::/64'), 'a');
  trie.insert(p('fd00::/48'), 'b');
  trie.removeValue('a');
  assert.deepEqual(trie.entriesFor('a'), []);
  assert.deepEqual(trie.entriesFor('b').map(formatPrefix), ['10.1.0.0/16', 'fd00::/48']);
  assert.equal(trie.lookupAddress(addr('10.1.1.1')), 'b');
  assert.equal(trie.lookupAddress(addr('10.2.0.1')), undefined);
  assert.equal(trie.lookupAddress(addr('fd00::1')), 'b');
  trie.removeValue('nobody');
  assert.equal(trie.size, 2);
});

test('removal prunes the trie back to empty and reports what it removed', () => {
  const trie = new AllowedIps<number>();
  const prefixes = ['10.0.0.0/8', '10.0.0.0/24', '10.0.1.0/24', '10.128.0.0/9', '0.0.0.0/0', 'fd00::/8', 'fd00::1/128', '::/0'];
  prefixes.forEach((text, i) => trie.insert(p(text), i));
  // 10.0.0.0/23 exists only as a branch point (between the two /24s), never as a value.
  assert.equal(trie.remove(p('10.0.0.0/23')), false);
  assert.equal(trie.remove(p('10.0.0.0/16')), false);
  for (const text of prefixes) assert.equal(trie.remove(p(text)), true, text);
  for (const text of prefixes) assert.equal(trie.remove(p(text)), false, text);
  assert.equal(trie.size, 0);
  const roots = trie as unknown as { root4: unknown; root6: unknown };
  assert.equal(roots.root4, null);
  assert.equal(roots.root6, null);
});

test('clear empties both tables; malformed prefixes are refused', () => {
  const trie = new AllowedIps<string>();
  trie.insert(p('1.2.3.0/24'), 'a');
  trie.insert(p('::1/128'), 'a');
  trie.clear();
  assert.equal(trie.lookupAddress(addr('1.2.3.4')), undefined);
  assert.equal(trie.lookupAddress(addr('::1')), undefined);
  assert.deepEqual(trie.entriesFor('a'), []);
  assert.throws(() => trie.insert(raw(4, [1, 2, 3, 4], 33), 'a'), RangeError);
  assert.throws(() => trie.insert(raw(6, [1, 2, 3, 4], 8), 'a'), RangeError);
  assert.throws(() => trie.insert(raw(4, [1, 2, 3, 4], -1), 'a'), RangeError);
});
