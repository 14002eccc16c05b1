import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatMac, isUsableUnicastMac, macFromWords, macWords, parseMac } from '../../src/ethernet/frames.js';
import { icmpv6Checksum, writeNeighbourAdvertisement, writeNeighbourSolicitation } from '../../src/ethernet/ndp.js';
import { INCOMPLETE, NeighbourTable, PROBE_INTERVAL_MS, REACHABLE } from '../../src/ethernet/neighbours.js';
import { PrefixSet, usableAddresses } from '../../src/ethernet/ranges.js';
import type { Prefix } from '../../src/wireguard/config.js';
import { formatAddress, parsePrefix } from '../../src/wireguard/ip.js';
import { FakeClock } from '../helpers/fakeclock.js';
import { icmp6Checksum, ip4, ip6, mac, parseNdFrame } from '../helpers/ethernet.js';

const p = (s: string): Prefix => parsePrefix(s) as Prefix;

test('MACs parse in the spellings Go accepts for 6 bytes and print canonically', () => {
  for (const text of ['0A:42:00:00:00:03', '0a-42-00-00-00-03', '0a42.0000.0003']) {
    assert.equal(formatMac(parseMac(text) as Uint8Array), '0a:42:00:00:00:03', text);
  }
  for (const bad of ['', '0a:42:00:00:00', '0a:42:00:00:00:03:04', '0a:42-00:00:00:03', '0g:42:00:00:00:03', '0a42.0000.00031', ' 0a:42:00:00:00:03']) {
    assert.equal(parseMac(bad), null, bad);
  }
  const w = macWords(mac('fe:dc:ba:98:76:54'));
  assert.deepEqual(w, { hi: 0xfedcba98, lo: 0x7654 });
  assert.deepEqual(macFromWords(w.hi, w.lo), Uint8Array.from(mac('fe:dc:ba:98:76:54')));
  assert.equal(isUsableUnicastMac(mac('0a:42:00:00:00:03')), true);
  assert.equal(isUsableUnicastMac(mac('01:00:5e:00:00:01')), false);
  assert.equal(isUsableUnicastMac(mac('00:00:00:00:00:00')), false);
});

test('prefix sets answer membership for addresses read out of buffers', () => {
  const v4 = new PrefixSet(4, [p('192.168.37.128/30'), p('10.0.0.0/8')]);
  assert.equal(v4.contains(ip4('192.168.37.131'), 0), true);
  assert.equal(v4.contains(ip4('192.168.37.132'), 0), false);
  assert.equal(v4.containsV4(0x0a010203), true);
  assert.equal(v4.indexOf(Buffer.concat([Buffer.alloc(3), ip4('10.255.0.1')]), 3), 1);
  const all = new PrefixSet(4, [p('0.0.0.0/0')]);
  assert.equal(all.containsV4(0xffffffff), true);
  const v6 = new PrefixSet(6, [p('fd42::/64'), p('2001:db8::1/128')]);
  assert.equal(v6.contains(ip6('fd42::ffff:1'), 0), true);
  assert.equal(v6.contains(ip6('fd42:0:0:1::1'), 0), false);
  assert.equal(v6.contains(ip6('2001:db8::1'), 0), true);
  assert.equal(v6.contains(ip6('2001:db8::2'), 0), false);
  assert.equal(new PrefixSet(6, []).contains(ip6('::1'), 0), false);
  assert.throws(() => new PrefixSet(4, [p('fd42::/64')]));
});

test('solicited-node groups: any low 24 bits for a /64, only matching ones for a narrow range', () => {
  assert.equal(new PrefixSet(6, [p('fd42::/64')]).hasLow24(0x123456), true);
  const narrow = new PrefixSet(6, [p('fd42::1:2300/120')]);
  assert.equal(narrow.hasLow24(0x0123ff), true);
  assert.equal(narrow.hasLow24(0x012400), false);
  const host = new PrefixSet(6, [p('fd42::abcd/128')]);
  assert.equal(host.hasLow24(0x00abcd), true);
  assert.equal(host.hasLow24(0x00abce), false);
});

test('usable addresses skip network/broadcast (IPv4) and the subnet-router anycast (IPv6)', () => {
  const f = (s: string, n: number) => usableAddresses(p(s), n).map((a) => formatAddress(a.length === 4 ? 4 : 6, a));
  assert.deepEqual(f('192.168.37.128/30', 10), ['192.168.37.129', '192.168.37.130']);
  assert.deepEqual(f('192.168.37.128/31', 10), ['192.168.37.128', '192.168.37.129']);
  assert.deepEqual(f('192.168.37.7/32', 10), ['192.168.37.7']);
  assert.deepEqual(f('10.0.0.0/8', 3), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.deepEqual(f('fd42::/64', 2), ['fd42::1', 'fd42::2']);
  assert.deepEqual(f('fd42::/126', 10), ['fd42::1', 'fd42::2', 'fd42::3']);
  assert.deepEqual(f('fd42::5/128', 10), ['fd42::5']);
  assert.deepEqual(f('10.0.0.248/29', 300).length, 6);
  assert.equal(usableAddresses(p('::/0'), 1000).length, 1000, 'bounded for huge ranges');
});

test('ICMPv6 checksum agrees with an independent implementation', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 4, maxLength: 200 }), (src, dst, icmp) => {
      const pkt = Buffer.alloc(40 + icmp.length);
      pkt.set(src, 8);
      pkt.set(dst, 24);
      pkt.set(icmp, 40);
      pkt.writeUInt16BE(0, 42);
      const zeroed = Buffer.from(icmp);
      zeroed.writeUInt16BE(0, 2);
      const ours = icmpv6Checksum(pkt, 0, icmp.length);
      assert.equal(ours, icmp6Checksum(src, dst, zeroed));
      pkt.writeUInt16BE(ours, 42);
      assert.equal(icmpv6Checksum(pkt, 0, icmp.length), 0, 'a filled-in checksum verifies');
    }),
    { numRuns: 300 },
  );
});

test('written NS and NA frames parse back with valid checksums', () => {
  const buf = Buffer.alloc(200);
  const me = macWords(mac('0a:42:00:00:00:03'));
  const target = ip6('fd42::20');
  let len = writeNeighbourSolicitation(buf, 10, 0, 0, me.hi, me.lo, ip6('::'), 0, target, 0, true);
  let f = parseNdFrame(buf.subarray(10, 10 + len));
  assert.equal(len, 78, 'no source link-layer option from the unspecified address');
  assert.deepEqual(f.options, []);
  assert.ok(f.checksumOk);
  assert.equal(f.ethDst, '33:33:ff:00:00:20');
  len = writeNeighbourAdvertisement(buf, 0, 0x33330000, 1, me.hi, me.lo, target, 0, ip6('ff02::1'), 0, 0x20);
  f = parseNdFrame(buf.subarray(0, len));
  assert.ok(f.checksumOk);
  assert.equal(f.flags, 0x20);
  assert.deepEqual(f.options, [[2, mac('0a:42:00:00:00:03')]]);
});

function table(capacity: number, clock = new FakeClock(), lifetimeMs = 60_000) {
  return new NeighbourTable({
    clock,
    lifetimeMs,
    capacity,
    maxPacketSize: 1420,
    ipv4LearningRanges: new PrefixSet(4, [p('0.0.0.0/0')]),
    ipv6LearningRanges: new PrefixSet(6, [p('::/0')]),
  });
}

test('the neighbour table matches a Map model under inserts, learning and removals', () => {
  const address = fc.oneof(
    fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ({ family: 4 as const, bytes: b })),
    // Few distinct IPv6 addresses so operations collide and repeat.
    fc.integer({ min: 0, max: 40 }).map((n) => ({ family: 6 as const, bytes: ip6(`fd42::${n.toString(16)}`) })),
    fc.integer({ min: 0, max: 40 }).map((n) => ({ family: 4 as const, bytes: ip4(`10.0.0.${n}`) })),
  );
  const op = fc.record({ kind: fc.constantFrom('learn', 'insert', 'remove', 'find'), address, mac: fc.integer({ min: 0, max: 0xffff }) });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const t = table(256); // more than the operations: no eviction here
      const model = new Map<string, number | null>();
      const key = (a: { family: 4 | 6; bytes: Uint8Array }) => `${a.family}/${formatAddress(a.family, a.bytes)}`;
      for (const o of ops) {
        const k = key(o.address);
        const id = t.find(o.address.family, o.address.bytes, 0);
        assert.equal(id >= 0, model.has(k), `find ${k}`);
        if (o.kind === 'learn') {
          t.learn(o.address.family, o.address.bytes, 0, 0x02000000, o.mac, true);
          model.set(k, o.mac);
        } else if (o.kind === 'insert' && id < 0) {
          t.insert(o.address.family, o.address.bytes, 0);
          model.set(k, null);
        } else if (o.kind === 'remove' && id >= 0) {
          t.remove(id);
          model.delete(k);
        }
        assert.equal(t.size, model.size);
      }
      for (const [k, v] of model) {
        const [fam, text] = k.split('/');
        const bytes = fam === '4' ? ip4(text) : ip6(text);
        const id = t.find(Number(fam) as 4 | 6, bytes, 0);
        assert.ok(id >= 0, k);
        assert.equal(t.state(id), v === null ? INCOMPLETE : REACHABLE);
        if (v !== null) assert.equal(t.macLoOf(id), v);
      }
    }),
    { numRuns: 200 },
  );
});

test('a full neighbour table evicts instead of growing, and lookups stay consistent', () => {
  const t = table(16);
  for (let i = 0; i < 100; i++) t.learn(4, ip4(`10.0.${i >> 8}.${i & 0xff}`), 0, 0x02000000, i, true);
  assert.equal(t.size, 16);
  assert.equal(t.counters.evicted, 84);
  let found = 0;
  for (let i = 0; i < 100; i++) if (t.find(4, ip4(`10.0.${i >> 8}.${i & 0xff}`), 0) >= 0) found++;
  assert.equal(found, 16);
});

test('entries outside the learning ranges are never learned', () => {
  const t = new NeighbourTable({
    clock: new FakeClock(),
    lifetimeMs: 1000,
    maxPacketSize: 100,
    ipv4LearningRanges: new PrefixSet(4, [p('192.168.37.0/24')]),
    ipv6LearningRanges: new PrefixSet(6, []),
  });
  assert.equal(t.learn(4, ip4('10.0.0.1'), 0, 0x02000000, 1, true), -1);
  assert.equal(t.learn(6, ip6('fd42::1'), 0, 0x02000000, 1, true), -1);
  assert.ok(t.learn(4, ip4('192.168.37.1'), 0, 0x02000000, 1, true) >= 0);
  assert.equal(t.learn(4, ip4('192.168.37.2'), 0, 0x02000000, 1, false), -1, 'update-only does not create');
});

test('probes are rate-limited per destination and staleness follows the lifetime', () => {
  const clock = new FakeClock();
  const t = table(8, clock, 10_000);
  const a = t.learn(4, ip4('10.0.0.1'), 0, 0x02000000, 1, true);
  const b = t.insert(4, ip4('10.0.0.2'), 0);
  const now = clock.now();
  assert.equal(t.takeProbe(a, now), true);
  assert.equal(t.takeProbe(b, now), true, 'another destination has its own budget');
  assert.equal(t.takeProbe(a, now + PROBE_INTERVAL_MS - 1), false);
  assert.equal(t.takeProbe(a, now + PROBE_INTERVAL_MS), true);
  assert.equal(t.stale(a, now + 9_999), false);
  assert.equal(t.stale(a, now + 10_000), true);
  assert.equal(t.usable(a, now + 10_000 + PROBE_INTERVAL_MS - 1), true);
  assert.equal(t.usable(a, now + 10_000 + PROBE_INTERVAL_MS), false);
  assert.equal(t.usable(b, now), false);
});
