import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ethernetSettings, loadVppConfig } from '../../src/config/vpp-config.js';
import { L2Adapter, type L2AdapterOptions } from '../../src/ethernet/l2adapter.js';
import { MemoryFramePort } from '../../src/ethernet/memory-port.js';
import { PROBE_INTERVAL_MS } from '../../src/ethernet/neighbours.js';
import { HEADROOM, PacketBatch } from '../../src/wireguard/batch.js';
import { parsePrefix } from '../../src/wireguard/ip.js';
import type { Prefix } from '../../src/wireguard/config.js';
import { FakeClock } from '../helpers/fakeclock.js';
import { ipv4Udp, ipv6Udp } from '../helpers/packets.js';
import {
  arpFrame,
  ethFrame,
  ip6,
  mac,
  naFrame,
  nsFrame,
  parseArpFrame,
  parseNdFrame,
  solicitedMac,
  solicitedNode,
} from '../helpers/ethernet.js';

const OUR_MAC = mac('0a:42:00:00:00:03');
const GW_MAC = mac('42:42:42:42:42:42');
const HOST_MAC = mac('aa:bb:cc:00:00:01');
const HOST2_MAC = mac('aa:bb:cc:00:00:02');
const BCAST = mac('ff:ff:ff:ff:ff:ff');
const ZERO = mac('00:00:00:00:00:00');

const p = (s: string): Prefix => parsePrefix(s) as Prefix;

// The seed example's ranges.
const EXAMPLE: Omit<L2AdapterOptions, 'clock'> = {
  mac: OUR_MAC,
  gatewayMac: GW_MAC,
  mtu: 1420,
  ipv4ResponseRanges: [p('192.168.37.128/30')],
  ipv4LearningRanges: [p('192.168.37.0/24')],
  ipv6ResponseRanges: [p('fd42::/64')],
  ipv6LearningRanges: [p('fd42::/64')],
};

function setup(extra: Partial<L2AdapterOptions> = {}) {
  const clock = new FakeClock();
  const port = new MemoryFramePort(1514);
  const l2 = new L2Adapter(port, { ...EXAMPLE, clock, ...extra });
  const delivered: Buffer[] = [];
  const batches: PacketBatch[] = [];
  l2.onPackets((b) => {
    batches.push(b);
    for (let i = 0; i < b.count; i++) delivered.push(Buffer.from(b.packet(i)));
  });
  return { clock, port, l2, delivered, batches };
}

/** Sends IP packets out through the adapter, as the core does with decrypted packets. */
function writePackets(l2: L2Adapter, packets: Buffer[]): void {
  const batch = new PacketBatch(64, 1420);
  for (const pkt of packets) assert.ok(batch.push(pkt));
  l2.write(batch);
}

const arpRequest = (spa: string, tpa: string, from = HOST_MAC, ethDst: Uint8Array = BCAST) =>
  arpFrame({ ethDst, ethSrc: from, op: 1, sha: from, spa, tha: ZERO, tpa });

const arpReply = (spa: string, from: Uint8Array, ethDst: Uint8Array = OUR_MAC) =>
  arpFrame({ ethDst, ethSrc: from, op: 2, sha: from, spa, tha: OUR_MAC, tpa: '192.168.37.129' });

function neighbour(l2: L2Adapter, address: string) {
  return l2.neighbours.entries().find((e) => e.address === address);
}

// ---- ARP ----

test('broadcast ARP request for an address in the response range is answered with our MAC', () => {
  const { port, l2 } = setup();
  port.inject([arpRequest('192.168.37.10', '192.168.37.129')]);
  const sent = port.take();
  assert.equal(sent.length, 1);
  const r = parseArpFrame(sent[0]);
  assert.deepEqual(
    { ...r },
    {
      ethDst: 'aa:bb:cc:00:00:01',
      ethSrc: '0a:42:00:00:00:03',
      type: 0x0806,
      op: 2,
      sha: '0a:42:00:00:00:03',
      spa: '192.168.37.129',
      tha: 'aa:bb:cc:00:00:01',
      tpa: '192.168.37.10',
      length: 60,
    },
  );
  assert.equal(l2.counters.arpRepliesSent, 1);
});

test('unicast ARP request (to our MAC) is answered too', () => {
  const { port } = setup();
  port.inject([arpRequest('192.168.37.10', '192.168.37.130', HOST_MAC, OUR_MAC)]);
  const sent = port.take();
  assert.equal(sent.length, 1);
  assert.equal(parseArpFrame(sent[0]).spa, '192.168.37.130');
  assert.equal(parseArpFrame(sent[0]).ethDst, 'aa:bb:cc:00:00:01');
});

test('the ARP requester is learned when inside a learning range', () => {
  const { port, l2 } = setup();
  port.inject([arpRequest('192.168.37.10', '192.168.37.129')]);
  const e = neighbour(l2, '192.168.37.10');
  assert.equal(e?.mac, 'aa:bb:cc:00:00:01');
  assert.equal(e?.state, 'reachable');
});

test('ARP requests outside the response range are not answered and teach nothing new', () => {
  const { port, l2 } = setup();
  port.inject([arpRequest('192.168.37.10', '192.168.37.5'), arpRequest('192.168.37.10', '192.168.37.132')]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxArpIgnored, 2);
  assert.equal(neighbour(l2, '192.168.37.10'), undefined);
});

test('a requester outside every learning range is answered but not learned', () => {
  const { port, l2 } = setup();
  port.inject([arpRequest('10.9.9.9', '192.168.37.129')]);
  assert.equal(port.take().length, 1);
  assert.equal(l2.neighbours.size, 0);
});

test('ARP probes and gratuitous ARP for our addresses are not answered (we never defend)', () => {
  const { port, l2 } = setup();
  port.inject([arpRequest('0.0.0.0', '192.168.37.129'), arpRequest('192.168.37.129', '192.168.37.129')]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxArpIgnored, 2);
});

test('an address learned as a neighbour is not answered for, even inside the response range', () => {
  const { port, l2 } = setup();
  // .130 asks for .129: we answer and learn .130 (it is inside the learning /24).
  port.inject([arpRequest('192.168.37.130', '192.168.37.129')]);
  assert.equal(port.take().length, 1);
  // Now a request for .130 is someone else's business.
  port.inject([arpRequest('192.168.37.10', '192.168.37.130', HOST2_MAC)]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxArpIgnored, 1);
});

test('ARP replies addressed to us are learned; broadcast ones only update known neighbours', () => {
  const { port, l2 } = setup();
  port.inject([arpReply('192.168.37.20', HOST_MAC)]);
  assert.equal(neighbour(l2, '192.168.37.20')?.mac, 'aa:bb:cc:00:00:01');
  port.inject([arpReply('192.168.37.21', HOST_MAC, BCAST)]);
  assert.equal(neighbour(l2, '192.168.37.21'), undefined);
  port.inject([arpReply('192.168.37.20', HOST2_MAC, BCAST)]);
  assert.equal(neighbour(l2, '192.168.37.20')?.mac, 'aa:bb:cc:00:00:02');
  assert.equal(port.take().length, 0);
});

test('malformed ARP (wrong sizes, multicast sender, bad opcode) is dropped with a counter', () => {
  const { port, l2 } = setup();
  const good = arpRequest('192.168.37.10', '192.168.37.129');
  const badHlen = Buffer.from(good);
  badHlen[18] = 8;
  const badOp = Buffer.from(good);
  badOp.writeUInt16BE(3, 20);
  const multicastSender = arpFrame({ ethDst: BCAST, ethSrc: HOST_MAC, op: 1, sha: mac('01:00:5e:00:00:01'), spa: '192.168.37.10', tha: ZERO, tpa: '192.168.37.129' });
  port.inject([badHlen, badOp, multicastSender, good.subarray(0, 40)]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxDropArpInvalid, 4);
});

// ---- NDP ----

test('NS to the solicited-node group is answered with a correct NA', () => {
  const { port, l2 } = setup();
  port.inject([nsFrame({ ethDst: solicitedMac('fd42::1'), ethSrc: HOST_MAC, src: 'fd42::10', dst: solicitedNode('fd42::1'), target: 'fd42::1', lla: HOST_MAC })]);
  const sent = port.take();
  assert.equal(sent.length, 1);
  const na = parseNdFrame(sent[0]);
  assert.equal(na.ethDst, 'aa:bb:cc:00:00:01');
  assert.equal(na.ethSrc, '0a:42:00:00:00:03');
  assert.equal(na.type, 0x86dd);
  assert.equal(na.hopLimit, 255);
  assert.deepEqual(na.src, ip6('fd42::1'));
  assert.deepEqual(na.dst, ip6('fd42::10'));
  assert.equal(na.icmpType, 136);
  assert.equal(na.code, 0);
  assert.ok(na.checksumOk, 'ICMPv6 checksum');
  assert.equal(na.flags, 0x60, 'solicited and override, not router');
  assert.deepEqual(na.target, ip6('fd42::1'));
  assert.deepEqual(na.options, [[2, mac('0a:42:00:00:00:03')]]);
  assert.equal(l2.counters.neighbourAdvertsSent, 1);
  assert.equal(neighbour(l2, 'fd42::10')?.mac, 'aa:bb:cc:00:00:01');
});

test('unicast NS (to our MAC and the target address) is answered', () => {
  const { port } = setup();
  port.inject([nsFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::10', dst: 'fd42::abcd', target: 'fd42::abcd', lla: HOST_MAC })]);
  const sent = port.take();
  assert.equal(sent.length, 1);
  const na = parseNdFrame(sent[0]);
  assert.ok(na.checksumOk);
  assert.deepEqual(na.target, ip6('fd42::abcd'));
});

test('NS without a source link-layer option is answered to the frame source', () => {
  const { port, l2 } = setup();
  port.inject([nsFrame({ ethDst: OUR_MAC, ethSrc: HOST2_MAC, src: 'fd42::10', dst: 'fd42::1', target: 'fd42::1' })]);
  const sent = port.take();
  assert.equal(parseNdFrame(sent[0]).ethDst, 'aa:bb:cc:00:00:02');
  assert.equal(neighbour(l2, 'fd42::10'), undefined, 'nothing to learn without the option');
});

test('NS/NA with a hop limit other than 255 are ignored', () => {
  const { port, l2 } = setup();
  port.inject([
    nsFrame({ ethDst: solicitedMac('fd42::1'), ethSrc: HOST_MAC, src: 'fd42::10', dst: solicitedNode('fd42::1'), target: 'fd42::1', lla: HOST_MAC, hopLimit: 64 }),
    naFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::20', dst: 'fd42::1', target: 'fd42::20', lla: HOST_MAC, flags: 0x60, hopLimit: 254 }),
  ]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxDropNdpHopLimit, 2);
  assert.equal(l2.neighbours.size, 0);
});

test('NS with a bad checksum, multicast target or zero-length option is dropped', () => {
  const { port, l2 } = setup();
  const base = { ethDst: solicitedMac('fd42::1'), ethSrc: HOST_MAC, src: 'fd42::10', dst: solicitedNode('fd42::1'), target: 'fd42::1', lla: HOST_MAC };
  const zeroOpt = nsFrame(base);
  zeroOpt[14 + 40 + 25] = 0; // option length 0 (checksum now wrong too; both are reasons)
  port.inject([
    nsFrame({ ...base, corruptChecksum: true }),
    nsFrame({ ...base, target: 'ff02::1', dst: solicitedNode('ff02::1'), ethDst: solicitedMac('ff02::1') }),
    zeroOpt,
  ]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxDropNdpInvalid, 3);
});

test('NS for a target outside the response ranges and DAD probes are not answered', () => {
  const { port, l2 } = setup();
  port.inject([
    nsFrame({ ethDst: solicitedMac('fd43::1'), ethSrc: HOST_MAC, src: 'fd42::10', dst: solicitedNode('fd43::1'), target: 'fd43::1', lla: HOST_MAC }),
    nsFrame({ ethDst: solicitedMac('fd42::7'), ethSrc: HOST_MAC, src: '::', dst: solicitedNode('fd42::7'), target: 'fd42::7' }),
  ]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxNdpIgnored, 2);
});

test('NS to a solicited-node group that is not ours is dropped as not for us', () => {
  const { port, l2 } = setup({ ipv6ResponseRanges: [p('fd42::1/128')] });
  port.inject([nsFrame({ ethDst: solicitedMac('fd42::2'), ethSrc: HOST_MAC, src: 'fd42::10', dst: solicitedNode('fd42::2'), target: 'fd42::2', lla: HOST_MAC })]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.rxDropNotForUs, 1);
});

test('NAs addressed to us are learned; unsolicited ones to all-nodes only update', () => {
  const { port, l2 } = setup();
  port.inject([naFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::20', dst: 'fd42::1', target: 'fd42::20', lla: HOST_MAC, flags: 0x60 })]);
  assert.equal(neighbour(l2, 'fd42::20')?.mac, 'aa:bb:cc:00:00:01');
  const allNodes = mac('33:33:00:00:00:01');
  port.inject([naFrame({ ethDst: allNodes, ethSrc: HOST2_MAC, src: 'fd42::21', dst: 'ff02::1', target: 'fd42::21', lla: HOST2_MAC, flags: 0x20 })]);
  assert.equal(neighbour(l2, 'fd42::21'), undefined);
  port.inject([naFrame({ ethDst: allNodes, ethSrc: HOST2_MAC, src: 'fd42::20', dst: 'ff02::1', target: 'fd42::20', lla: HOST2_MAC, flags: 0x20 })]);
  assert.equal(neighbour(l2, 'fd42::20')?.mac, 'aa:bb:cc:00:00:02');
  // Without the override flag a known MAC stays.
  port.inject([naFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::20', dst: 'fd42::1', target: 'fd42::20', lla: HOST_MAC, flags: 0x40 })]);
  assert.equal(neighbour(l2, 'fd42::20')?.mac, 'aa:bb:cc:00:00:02');
});

// ---- outbound ----

test('a learned neighbour MAC is used for outbound packets, header written in the headroom', () => {
  const { port, l2 } = setup();
  port.inject([arpRequest('192.168.37.10', '192.168.37.129')]);
  port.take();
  const pkt = ipv4Udp('10.0.0.2', '192.168.37.10');
  const batch = new PacketBatch(4, 1420);
  batch.push(pkt);
  const before = batch.offsets[0];
  l2.write(batch);
  assert.equal(batch.offsets[0], before - 14, 'offset moved back over the headroom, no copy');
  const sent = port.take();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], ethFrame(HOST_MAC, OUR_MAC, 0x0800, pkt));
  assert.equal(l2.counters.txToNeighbour, 1);
});

test('destinations outside every learning range go to GatewayMacAddr (IPv4 and IPv6)', () => {
  const { port, l2 } = setup();
  const v4 = ipv4Udp('192.168.37.129', '10.1.2.3');
  const v6 = ipv6Udp(ip6('fd42::1'), ip6('2001:db8::1'));
  writePackets(l2, [v4, v6]);
  const sent = port.take();
  assert.deepEqual(sent, [ethFrame(GW_MAC, OUR_MAC, 0x0800, v4), ethFrame(GW_MAC, OUR_MAC, 0x86dd, v6)]);
  assert.equal(l2.counters.txToGateway, 2);
  assert.equal(l2.counters.arpRequestsSent + l2.counters.neighbourSolicitsSent, 0);
});

test('a learning-range destination is probed at most once per 3 s and delivered once answered', () => {
  const { port, l2, clock } = setup();
  const pkt = (n: number) => ipv4Udp('192.168.37.129', '192.168.37.20', Buffer.from([n]));
  writePackets(l2, [pkt(1)]);
  let sent = port.take();
  assert.equal(sent.length, 1, 'only the probe leaves');
  const probe = parseArpFrame(sent[0]);
  assert.equal(probe.ethDst, 'ff:ff:ff:ff:ff:ff');
  assert.equal(probe.op, 1);
  assert.equal(probe.sha, '0a:42:00:00:00:03');
  assert.equal(probe.spa, '192.168.37.129', 'the packet source, one of our addresses');
  assert.equal(probe.tpa, '192.168.37.20');
  for (let t = 1; t <= 2; t++) {
    clock.advance(1000 - 1);
    writePackets(l2, [pkt(1 + t)]);
    assert.equal(port.take().length, 0, 'no second probe within 3 s');
  }
  clock.advance(PROBE_INTERVAL_MS - 2 * 999);
  writePackets(l2, [pkt(4)]);
  sent = port.take();
  assert.equal(sent.length, 1, 'probe again after 3 s');
  assert.equal(parseArpFrame(sent[0]).tpa, '192.168.37.20');
  assert.equal(l2.counters.arpRequestsSent, 2);

  port.inject([arpReply('192.168.37.20', HOST2_MAC)]);
  sent = port.take();
  // pkt(1) waited 3 s and timed out; the other three go out in order.
  assert.deepEqual(
    sent,
    [2, 3, 4].map((n) => ethFrame(HOST2_MAC, OUR_MAC, 0x0800, pkt(n))),
  );
  assert.equal(l2.neighbours.counters.queueDropTimeout, 1);
  writePackets(l2, [pkt(5)]);
  assert.deepEqual(port.take(), [ethFrame(HOST2_MAC, OUR_MAC, 0x0800, pkt(5))]);
});

test('an IPv6 learning-range destination is solicited and delivered once the NA comes', () => {
  const { port, l2 } = setup();
  const pkt = ipv6Udp(ip6('fd42::1'), ip6('fd42::20'));
  writePackets(l2, [pkt]);
  const sent = port.take();
  assert.equal(sent.length, 1);
  const ns = parseNdFrame(sent[0]);
  assert.equal(ns.ethDst, '33:33:ff:00:00:20');
  assert.deepEqual(ns.dst, ip6(solicitedNode('fd42::20')));
  assert.deepEqual(ns.src, ip6('fd42::1'));
  assert.equal(ns.hopLimit, 255);
  assert.equal(ns.icmpType, 135);
  assert.ok(ns.checksumOk);
  assert.deepEqual(ns.target, ip6('fd42::20'));
  assert.deepEqual(ns.options, [[1, mac('0a:42:00:00:00:03')]]);
  port.inject([naFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::20', dst: 'fd42::1', target: 'fd42::20', lla: HOST_MAC, flags: 0x60 })]);
  assert.deepEqual(port.take(), [ethFrame(HOST_MAC, OUR_MAC, 0x86dd, pkt)]);
  assert.equal(l2.counters.neighbourSolicitsSent, 1);
});

test('a probe for a packet from outside our ranges speaks from one of our addresses', () => {
  const { port, l2 } = setup();
  writePackets(l2, [ipv4Udp('10.0.0.2', '192.168.37.20'), ipv6Udp(ip6('fd00::2'), ip6('fd42::20'))]);
  const [arp, ns] = port.take();
  assert.equal(parseArpFrame(arp).spa, '192.168.37.129', 'first usable address of the response range on that subnet');
  assert.deepEqual(parseNdFrame(ns).src, ip6('fd42::1'));
  assert.ok(parseNdFrame(ns).checksumOk);
  assert.equal(l2.counters.txUnresolved, 2);
});

test('the wait queue is small: the oldest packets of a destination give way', () => {
  const { port, l2 } = setup({ queuePerDestination: 4 });
  const pkts = [1, 2, 3, 4, 5, 6].map((n) => ipv4Udp('192.168.37.129', '192.168.37.20', Buffer.from([n])));
  writePackets(l2, pkts);
  port.take();
  port.inject([arpReply('192.168.37.20', HOST_MAC)]);
  assert.deepEqual(port.take(), pkts.slice(2).map((x) => ethFrame(HOST_MAC, OUR_MAC, 0x0800, x)));
  assert.equal(l2.neighbours.counters.queueDropFull, 2);
});

test('waiting packets are dropped with a counter when no answer comes in time', () => {
  const { port, l2, clock } = setup();
  writePackets(l2, [ipv4Udp('192.168.37.129', '192.168.37.20')]);
  port.take();
  clock.advance(3000);
  assert.equal(l2.neighbours.counters.queueDropTimeout, 1);
  assert.equal(l2.neighbours.queue.size, 0);
  port.inject([arpReply('192.168.37.20', HOST_MAC)]);
  assert.equal(port.take().length, 0);
});

test('neighbour entries expire after their lifetime and are re-probed', () => {
  const { port, l2, clock } = setup({ neighbourLifetimeMs: 60_000 });
  port.inject([arpReply('192.168.37.20', HOST_MAC)]);
  const pkt = ipv4Udp('192.168.37.129', '192.168.37.20');
  clock.advance(59_999);
  writePackets(l2, [pkt]);
  assert.deepEqual(port.take(), [ethFrame(HOST_MAC, OUR_MAC, 0x0800, pkt)], 'fresh: no probe');

  clock.advance(1);
  writePackets(l2, [pkt]);
  let sent = port.take();
  assert.equal(sent.length, 2, 'stale: still delivered, plus a unicast probe to the known MAC');
  assert.deepEqual(sent[0], ethFrame(HOST_MAC, OUR_MAC, 0x0800, pkt));
  const probe = parseArpFrame(sent[1]);
  assert.equal(probe.ethDst, 'aa:bb:cc:00:00:01');
  assert.equal(probe.tpa, '192.168.37.20');

  // No answer within the probe interval: the MAC is no longer trusted.
  clock.advance(PROBE_INTERVAL_MS);
  writePackets(l2, [pkt]);
  sent = port.take();
  assert.equal(sent.length, 1);
  assert.equal(parseArpFrame(sent[0]).ethDst, 'ff:ff:ff:ff:ff:ff', 'broadcast probe, packet waits');
  port.inject([arpReply('192.168.37.20', HOST2_MAC)]);
  assert.deepEqual(port.take(), [ethFrame(HOST2_MAC, OUR_MAC, 0x0800, pkt)]);
  assert.equal(neighbour(l2, '192.168.37.20')?.mac, 'aa:bb:cc:00:00:02');
});

test('an answered re-probe keeps the neighbour without interruption', () => {
  const { port, l2, clock } = setup({ neighbourLifetimeMs: 10_000 });
  port.inject([arpReply('192.168.37.20', HOST_MAC)]);
  const pkt = ipv4Udp('192.168.37.129', '192.168.37.20');
  clock.advance(10_000);
  writePackets(l2, [pkt]);
  assert.equal(port.take().length, 2);
  port.inject([arpReply('192.168.37.20', HOST_MAC)]);
  clock.advance(5_000);
  writePackets(l2, [pkt]);
  assert.deepEqual(port.take(), [ethFrame(HOST_MAC, OUR_MAC, 0x0800, pkt)]);
  assert.ok((neighbour(l2, '192.168.37.20')?.expiresInMs ?? 0) > 0);
});

test('multicast and subnet broadcast destinations get group MACs', () => {
  const { port, l2 } = setup();
  const m4 = ipv4Udp('192.168.37.129', '224.0.0.251');
  const b4 = ipv4Udp('192.168.37.129', '192.168.37.255');
  const m6 = ipv6Udp(ip6('fd42::1'), ip6('ff02::fb'));
  writePackets(l2, [m4, b4, m6]);
  assert.deepEqual(port.take(), [
    ethFrame(mac('01:00:5e:00:00:fb'), OUR_MAC, 0x0800, m4),
    ethFrame(BCAST, OUR_MAC, 0x0800, b4),
    ethFrame(mac('33:33:00:00:00:fb'), OUR_MAC, 0x86dd, m6),
  ]);
});

test('non-IP or too short packets from the core are dropped with a counter', () => {
  const { port, l2 } = setup();
  writePackets(l2, [Buffer.alloc(0), Buffer.from([0x45, 0, 0]), Buffer.alloc(30, 0x10), Buffer.alloc(39, 0x60)]);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.txDropMalformed, 4);
});

// ---- announcements ----

test('gratuitous ARP and unsolicited NA at start, bounded per family', () => {
  const { port, l2 } = setup({ gratuitousArp: true, unsolicitedNa: true, announceLimit: 3 });
  assert.equal(l2.announce(), 5);
  const sent = port.take();
  const arps = sent.filter((f) => f.readUInt16BE(12) === 0x0806).map(parseArpFrame);
  assert.deepEqual(
    arps.map((a) => [a.ethDst, a.op, a.sha, a.spa, a.tpa]),
    [
      ['ff:ff:ff:ff:ff:ff', 1, '0a:42:00:00:00:03', '192.168.37.129', '192.168.37.129'],
      ['ff:ff:ff:ff:ff:ff', 1, '0a:42:00:00:00:03', '192.168.37.130', '192.168.37.130'],
    ],
  );
  const nas = sent.filter((f) => f.readUInt16BE(12) === 0x86dd).map(parseNdFrame);
  assert.equal(nas.length, 3);
  nas.forEach((na, i) => {
    assert.equal(na.ethDst, '33:33:00:00:00:01');
    assert.deepEqual(na.dst, ip6('ff02::1'));
    assert.deepEqual(na.target, ip6(`fd42::${i + 1}`));
    assert.equal(na.flags, 0x20, 'override only: unsolicited');
    assert.equal(na.hopLimit, 255);
    assert.ok(na.checksumOk);
  });
});

test('nothing is announced unless configured', () => {
  const { port, l2 } = setup();
  assert.equal(l2.announce(), 0);
  assert.equal(port.take().length, 0);
});

// ---- inbound IP and drops ----

test('IP frames for our MAC become IP packets by moving the offset (no copy), padding trimmed', () => {
  const { port, l2, delivered, batches } = setup();
  const v4 = ipv4Udp('192.168.37.10', '10.0.0.2');
  const short = ipv4Udp('192.168.37.10', '10.0.0.2', new Uint8Array(0));
  const padded = Buffer.concat([ethFrame(OUR_MAC, HOST_MAC, 0x0800, short), Buffer.alloc(18)]);
  const v6 = ipv6Udp(ip6('fd42::10'), ip6('fd00::2'));
  port.inject([ethFrame(OUR_MAC, HOST_MAC, 0x0800, v4), padded, ethFrame(BCAST, HOST_MAC, 0x0800, v4), ethFrame(OUR_MAC, HOST_MAC, 0x86dd, v6)]);
  assert.deepEqual(delivered, [v4, short, v4, v6]);
  assert.equal(batches.length, 1);
  // The port's frames sit just after the headroom of slots 0..3; the packets 14 bytes on.
  const b = batches[0];
  assert.deepEqual(
    Array.from(b.offsets.subarray(0, 4)),
    [0, 1, 2, 3].map((i) => b.slotStart(i) + HEADROOM + 14),
  );
  assert.equal(l2.counters.rxIpv4, 3);
  assert.equal(l2.counters.rxIpv6, 1);
});

test('VLAN tags, unknown ethertypes, foreign MACs, runts and broken IP are dropped with counters', () => {
  const { port, l2, delivered } = setup();
  const v4 = ipv4Udp('192.168.37.10', '10.0.0.2');
  const vlan = Buffer.concat([Buffer.from([0x00, 0x05, 0x08, 0x00]), v4]);
  const truncated = ethFrame(OUR_MAC, HOST_MAC, 0x0800, v4.subarray(0, v4.length - 4));
  const wrongVersion = ethFrame(OUR_MAC, HOST_MAC, 0x0800, ipv6Udp(ip6('fd42::10'), ip6('fd00::2')));
  port.inject([
    ethFrame(OUR_MAC, HOST_MAC, 0x8100, vlan),
    ethFrame(OUR_MAC, HOST_MAC, 0x88a8, vlan),
    ethFrame(OUR_MAC, HOST_MAC, 0x88cc, Buffer.alloc(40)),
    ethFrame(HOST2_MAC, HOST_MAC, 0x0800, v4),
    ethFrame(mac('01:00:5e:00:00:01'), HOST_MAC, 0x0800, v4),
    ethFrame(solicitedMac('fd42::1'), HOST_MAC, 0x0800, v4),
    ethFrame(OUR_MAC, mac('01:02:03:04:05:06'), 0x0800, v4),
    ethFrame(OUR_MAC, OUR_MAC, 0x0800, v4),
    Buffer.alloc(13, 0xff),
    truncated,
    wrongVersion,
  ]);
  const c = l2.counters;
  assert.deepEqual(delivered, []);
  assert.equal(c.rxDropVlan, 2);
  assert.equal(c.rxDropEthertype, 1);
  assert.equal(c.rxDropNotForUs, 3);
  assert.equal(c.rxDropBadSource, 2);
  assert.equal(c.rxDropRunt, 1);
  assert.equal(c.rxDropMalformed, 2);
  assert.equal(c.rxFrames, 11);
  assert.equal(port.take().length, 0);
});

test('after close nothing is sent and writes are counted as dropped', async () => {
  const { port, l2 } = setup({ gratuitousArp: true });
  let gone = 0;
  l2.onClose(() => gone++);
  l2.portGone();
  l2.portGone();
  assert.equal(gone, 1);
  await l2.close();
  writePackets(l2, [ipv4Udp('192.168.37.129', '10.1.2.3')]);
  port.inject([arpRequest('192.168.37.10', '192.168.37.129')]);
  assert.equal(l2.announce(), 0);
  assert.equal(port.take().length, 0);
  assert.equal(l2.counters.txDropClosed, 1);
});

test('an MTU larger than the port carries, or a non-unicast MAC, is refused at construction', () => {
  assert.throws(() => new L2Adapter(new MemoryFramePort(1500), { ...EXAMPLE, mtu: 1500 }), /does not fit/);
  assert.throws(() => new L2Adapter(new MemoryFramePort(1514), { ...EXAMPLE, mac: BCAST }), /not a unicast/);
});

test('ARP replies and NAs are sent in one batch per received batch', () => {
  const { port } = setup();
  port.inject([
    arpRequest('192.168.37.10', '192.168.37.129'),
    arpRequest('192.168.37.11', '192.168.37.130', HOST2_MAC),
    nsFrame({ ethDst: solicitedMac('fd42::1'), ethSrc: HOST_MAC, src: 'fd42::10', dst: solicitedNode('fd42::1'), target: 'fd42::1', lla: HOST_MAC }),
  ]);
  assert.equal(port.take().length, 3);
  assert.equal(port.sendCalls, 1);
});

test('the seed example config drives the adapter (our MAC derived from uid 3)', async () => {
  const etc = fileURLToPath(new URL('../../../etc', import.meta.url));
  const cfg = await loadVppConfig('wg0', { env: { VPP_MEMIF_CONFIG_DIR: etc } });
  const port = new MemoryFramePort(cfg.mtu + 14);
  const l2 = new L2Adapter(port, { ...ethernetSettings(cfg), clock: new FakeClock() });
  assert.equal(l2.mtu, 1420);
  port.inject([arpRequest('192.168.37.10', '192.168.37.130')]);
  const reply = parseArpFrame(port.take()[0]);
  assert.equal(reply.sha, '0a:42:00:00:00:03');
  writePackets(l2, [ipv4Udp('192.168.37.130', '8.8.8.8')]);
  assert.deepEqual(port.take()[0].subarray(0, 6), GW_MAC, 'outside the learning ranges: GatewayMacAddr');
});

test('without IPv6 response ranges the NS comes from :: and the all-nodes NA resolves it', () => {
  const { port, l2 } = setup({ ipv6ResponseRanges: [] });
  const pkt = ipv6Udp(ip6('fd00::2'), ip6('fd42::20'));
  writePackets(l2, [pkt]);
  const ns = parseNdFrame(port.take()[0]);
  assert.deepEqual(ns.src, ip6('::'));
  assert.deepEqual(ns.options, [], 'no source link-layer option from ::');
  assert.ok(ns.checksumOk);
  // The target answers a DAD-form solicitation to all-nodes, without the solicited flag.
  port.inject([naFrame({ ethDst: mac('33:33:00:00:00:01'), ethSrc: HOST_MAC, src: 'fd42::20', dst: 'ff02::1', target: 'fd42::20', lla: HOST_MAC, flags: 0x20 })]);
  assert.deepEqual(port.take(), [ethFrame(HOST_MAC, OUR_MAC, 0x86dd, pkt)]);
});

test('a stale IPv6 neighbour is confirmed with a unicast NS to its address', () => {
  const { port, l2, clock } = setup({ neighbourLifetimeMs: 10_000 });
  port.inject([naFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::20', dst: 'fd42::1', target: 'fd42::20', lla: HOST_MAC, flags: 0x60 })]);
  clock.advance(10_000);
  const pkt = ipv6Udp(ip6('fd42::1'), ip6('fd42::20'));
  writePackets(l2, [pkt]);
  const [data, probe] = port.take();
  assert.deepEqual(data, ethFrame(HOST_MAC, OUR_MAC, 0x86dd, pkt));
  const ns = parseNdFrame(probe);
  assert.equal(ns.ethDst, 'aa:bb:cc:00:00:01');
  assert.deepEqual(ns.dst, ip6('fd42::20'));
  assert.ok(ns.checksumOk);
  // A confirming NA without the option (allowed for a unicast solicitation) refreshes it:
  // past the old grace period the MAC is still used, fresh, with no probe.
  port.inject([naFrame({ ethDst: OUR_MAC, ethSrc: HOST_MAC, src: 'fd42::20', dst: 'fd42::1', target: 'fd42::20', flags: 0x60 })]);
  clock.advance(PROBE_INTERVAL_MS + 1000);
  writePackets(l2, [pkt]);
  assert.deepEqual(port.take(), [ethFrame(HOST_MAC, OUR_MAC, 0x86dd, pkt)]);
});
