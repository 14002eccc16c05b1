// Outside input never throws: random, truncated and mutated frames and packets go through
// the adapter, and every frame is accounted for by exactly one counter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { L2Adapter } from '../../src/ethernet/l2adapter.js';
import { MemoryFramePort } from '../../src/ethernet/memory-port.js';
import { PacketBatch } from '../../src/wireguard/batch.js';
import type { Prefix } from '../../src/wireguard/config.js';
import { parsePrefix } from '../../src/wireguard/ip.js';
import { FakeClock } from '../helpers/fakeclock.js';
import { arpFrame, ethFrame, mac, naFrame, nsFrame, solicitedMac, solicitedNode } from '../helpers/ethernet.js';
import { ipv4Udp } from '../helpers/packets.js';

const OUR_MAC = mac('0a:42:00:00:00:03');
const p = (s: string): Prefix => parsePrefix(s) as Prefix;

function adapter() {
  const clock = new FakeClock();
  const port = new MemoryFramePort(1514, 16);
  const l2 = new L2Adapter(port, {
    mac: OUR_MAC,
    gatewayMac: mac('42:42:42:42:42:42'),
    mtu: 1420,
    ipv4ResponseRanges: [p('192.168.37.128/30')],
    ipv4LearningRanges: [p('192.168.37.0/24')],
    ipv6ResponseRanges: [p('fd42::/64')],
    ipv6LearningRanges: [p('fd42::/64')],
    maxNeighbours: 32,
    queueTotal: 16,
    clock,
  });
  const delivered: Buffer[] = [];
  l2.onPackets((b) => {
    for (let i = 0; i < b.count; i++) {
      assert.ok(b.offsets[i] + b.lengths[i] <= b.slab.length);
      delivered.push(Buffer.from(b.packet(i)));
    }
  });
  return { clock, port, l2, delivered };
}

const macArb = fc.oneof(
  fc.constant(OUR_MAC),
  fc.constant(mac('ff:ff:ff:ff:ff:ff')),
  fc.constant(mac('33:33:00:00:00:01')),
  fc.constant(solicitedMac('fd42::1')),
  fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Buffer.from(b)),
);
/** Source MACs: mostly plausible unicast hosts, so frames get past the first checks. */
const srcMacArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(mac('aa:bb:cc:00:00:01'), mac('aa:bb:cc:00:00:02')) },
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Buffer.from([b[0] & 0xfe, ...b.subarray(1)])) },
  { weight: 1, arbitrary: macArb },
);
const v4Arb = fc.oneof(fc.constantFrom('192.168.37.129', '192.168.37.10', '0.0.0.0', '10.0.0.1'), fc.ipV4());
const v6Arb = fc.constantFrom('fd42::1', 'fd42::10', '::', 'ff02::1', '2001:db8::1', 'fd42::ffff:1');

const validish = fc.oneof(
  fc.record({ ethDst: macArb, ethSrc: srcMacArb, op: fc.constantFrom(1 as const, 2 as const), sha: srcMacArb, spa: v4Arb, tha: macArb, tpa: v4Arb }).map(arpFrame),
  fc
    .record({ ethDst: macArb, ethSrc: srcMacArb, src: v6Arb, target: v6Arb, lla: fc.option(srcMacArb, { nil: undefined }), hopLimit: fc.constantFrom(255, 255, 64), multicast: fc.boolean() })
    .map((r) => nsFrame({ ...r, dst: r.multicast ? solicitedNode(r.target) : r.target })),
  fc
    .record({ ethDst: macArb, ethSrc: srcMacArb, src: v6Arb, dst: v6Arb, target: v6Arb, lla: fc.option(srcMacArb, { nil: undefined }), flags: fc.integer({ min: 0, max: 255 }) })
    .map(naFrame),
  fc.record({ dst: macArb, src: srcMacArb, a: v4Arb, b: v4Arb }).map((r) => ethFrame(r.dst, r.src, 0x0800, ipv4Udp(r.a, r.b))),
);

const mutated = fc
  .tuple(validish, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.boolean())
  .map(([frame, cut, flips, truncate]) => {
    const f = Buffer.from(frame);
    for (const [at, v] of flips) f[at % f.length] = v;
    return truncate ? f.subarray(0, cut % (f.length + 1)) : f;
  });

const randomFrame = fc.oneof(
  fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
  fc.tuple(macArb, srcMacArb, fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8100, 0x88cc, 0xffff), fc.uint8Array({ maxLength: 120 })).map(([d, s, t, body]) => ethFrame(d, s, t, body)),
);

test('random, truncated and mutated frames never throw and are each counted once', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(validish, mutated, randomFrame), { minLength: 1, maxLength: 40 }), (frames) => {
      const { port, l2 } = adapter();
      port.inject(frames);
      const c = l2.counters;
      const outcomes =
        c.rxIpv4 + c.rxIpv6 + c.rxArp + c.rxNdp + c.rxDropRunt + c.rxDropVlan + c.rxDropEthertype + c.rxDropNotForUs + c.rxDropBadSource + c.rxDropMalformed;
      assert.equal(c.rxFrames, frames.length);
      assert.equal(outcomes, frames.length);
      for (const f of port.take()) {
        assert.ok(f.length >= 60 && f.length <= 1514);
        assert.deepEqual(f.subarray(6, 12), OUR_MAC, 'everything we send comes from our MAC');
      }
    }),
    { numRuns: 300 },
  );
});

test('random packets from the core and random timing never throw', () => {
  const packet = fc.oneof(
    fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
    fc.tuple(fc.constantFrom(0x45, 0x60), fc.uint8Array({ minLength: 39, maxLength: 100 }), v4Arb).map(([first, rest, dst]) => {
      const b = Buffer.from([first, ...rest]);
      if (first === 0x45) Buffer.from(dst.split('.').map(Number)).copy(b, 16);
      return b;
    }),
  );
  const step = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), packets: fc.array(packet, { maxLength: 8 }) }),
    fc.record({ kind: fc.constant('frames' as const), frames: fc.array(fc.oneof(validish, mutated), { maxLength: 8 }) }),
    fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 400_000 }) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
      const { port, l2, clock } = adapter();
      for (const s of steps) {
        if (s.kind === 'write') {
          const batch = new PacketBatch(8, 1420);
          for (const pkt of s.packets) batch.push(pkt);
          l2.write(batch);
        } else if (s.kind === 'frames') port.inject(s.frames);
        else clock.advance(s.ms);
      }
      for (const f of port.take()) assert.ok(f.length >= 14 && f.length <= 1514);
      assert.ok(l2.neighbours.size <= 32);
      assert.ok(l2.neighbours.queue.size <= 16);
    }),
    { numRuns: 200 },
  );
});
