// Two devices in one process over an in-memory network: handshakes, data both ways,
// preshared keys, cookies under load, allowed-IPs enforcement and hostile datagrams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Device } from '../../src/wireguard/device.js';
import { MemoryBind, MemoryNetwork } from '../../src/bind/memory.js';
import { MemoryTun } from '../../src/tun/memory.js';
import { generatePrivateKey, publicKey, sharedSecret } from '../../src/crypto/x25519.js';
import { CookieGenerator } from '../../src/wireguard/cookie.js';
import { createInitiation, Handshake, makeIdentity } from '../../src/wireguard/noise.js';
import { parsePrefix } from '../../src/wireguard/ip.js';
import type { Prefix } from '../../src/wireguard/config.js';
import { MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT } from '../../src/wireguard/messages.js';
import { FakeClock } from '../helpers/fakeclock.js';
import { ipv4Udp, ipv6Udp, settle } from '../helpers/packets.js';

function prefix(text: string): Prefix {
  const p = parsePrefix(text);
  assert.ok(p, text);
  return p;
}

interface Node {
  dev: Device;
  tun: MemoryTun;
  bind: MemoryBind;
  priv: Uint8Array;
  pub: Uint8Array;
}

async function makeNode(net: MemoryNetwork, address: string, clock?: FakeClock, underLoadDepth?: number): Promise<Node> {
  const tun = new MemoryTun();
  const bind = new MemoryBind(net, address);
  const dev = new Device({ tun, bind, clock, underLoadDepth });
  const priv = generatePrivateKey();
  await dev.applyConfig({ privateKey: priv, replacePeers: false, peers: [] });
  await dev.up();
  return { dev, tun, bind, priv, pub: publicKey(priv) };
}

/** Two nodes, A (10.0.0.1, fd00::1) and B (10.0.0.2, fd00::2), each knowing the other. */
async function pair(opts: { psk?: Uint8Array; clock?: FakeClock; underLoadDepthB?: number } = {}) {
  const net = new MemoryNetwork();
  const a = await makeNode(net, '192.0.2.1', opts.clock);
  const b = await makeNode(net, '192.0.2.2', opts.clock, opts.underLoadDepthB);
  await a.dev.applyConfig({
    replacePeers: false,
    peers: [{ publicKey: b.pub, remove: false, updateOnly: false, presharedKey: opts.psk, endpoint: b.bind.endpoint, replaceAllowedIps: false, allowedIps: [prefix('10.0.0.2/32'), prefix('fd00::2/128')] }],
  });
  await b.dev.applyConfig({
    replacePeers: false,
    peers: [{ publicKey: a.pub, remove: false, updateOnly: false, presharedKey: opts.psk, endpoint: a.bind.endpoint, replaceAllowedIps: false, allowedIps: [prefix('10.0.0.1/32'), prefix('fd00::1/128')] }],
  });
  return { net, a, b };
}

function typesSent(net: MemoryNetwork, from: MemoryBind): number[] {
  return net.log.filter((d) => d.from.port === from.port && d.from.address === from.address).map((d) => d.data[0]);
}

const V6_1 = Buffer.from('fd000000000000000000000000000001', 'hex');
const V6_2 = Buffer.from('fd000000000000000000000000000002', 'hex');

for (const psk of [undefined, randomBytes(32)]) {
  test(`handshake and data both ways (${psk ? 'with' : 'without'} preshared key)`, async () => {
    const { net, a, b } = await pair({ psk });
    const p1 = ipv4Udp('10.0.0.1', '10.0.0.2', Buffer.from('hello B'));
    a.tun.inject([p1]);
    await settle();
    assert.deepEqual(b.tun.written, [p1], 'B receives the staged packet once the handshake completes');
    const p2 = ipv6Udp(V6_2, V6_1, Buffer.from('hello A'));
    b.tun.inject([p2]);
    await settle();
    assert.deepEqual(a.tun.written, [p2]);
    const types = typesSent(net, a.bind);
    assert.equal(types[0], MESSAGE_INITIATION);
    assert.ok(typesSent(net, b.bind).includes(MESSAGE_RESPONSE));
    const sa = a.dev.state().peers[0];
    const sb = b.dev.state().peers[0];
    assert.ok(sa.lastHandshakeTimeSec > 0 && sb.lastHandshakeTimeSec > 0);
    assert.equal(sa.txBytes, sb.rxBytes, "A's tx equals B's rx");
    assert.equal(sb.txBytes, sa.rxBytes, "B's tx equals A's rx");
    await a.dev.close();
    await b.dev.close();
  });
}

test('a batch of many packets to the same peer all arrive in order', async () => {
  const { a, b } = await pair();
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  const packets = Array.from({ length: 200 }, (_, i) => ipv4Udp('10.0.0.1', '10.0.0.2', randomBytes(1 + (i * 7) % 1300)));
  a.tun.inject(packets);
  await settle();
  assert.deepEqual(b.tun.written.slice(1), packets);
});

test('mismatched preshared keys never complete a handshake', async () => {
  const { a, b } = await pair({ psk: randomBytes(32) });
  await b.dev.applyConfig({ replacePeers: false, peers: [{ publicKey: a.pub, remove: false, updateOnly: true, presharedKey: randomBytes(32), replaceAllowedIps: false, allowedIps: [] }] });
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(b.tun.written.length, 0);
  assert.equal(a.dev.state().peers[0].lastHandshakeTimeSec, 0);
  assert.ok(a.dev.counters.rxHandshakeFailed > 0, 'A could not open B\'s response');
});

test('under load, an initiation without mac2 gets a cookie reply, and the retry with the cookie succeeds', async () => {
  const clock = new FakeClock();
  const { net, a, b } = await pair({ clock, underLoadDepthB: 1 });
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.deepEqual(typesSent(net, b.bind), [MESSAGE_COOKIE_REPLY], 'B answers with a cookie only');
  assert.equal(b.dev.counters.txCookieReplies, 1);
  clock.advance(5400); // A's retransmission, now with mac2
  await settle();
  assert.ok(typesSent(net, b.bind).includes(MESSAGE_RESPONSE));
  assert.equal(b.tun.written.length, 1, 'the staged packet arrives after the cookie round');
});

test('packets whose inner source is outside the sending peer\'s allowed IPs are dropped', async () => {
  const { a, b } = await pair();
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  // A's route to B is fine, but the source 10.9.9.9 is not one of A's addresses in B's table.
  a.tun.inject([ipv4Udp('10.9.9.9', '10.0.0.2')]);
  await settle();
  assert.equal(b.tun.written.length, 1);
  assert.equal(b.dev.counters.rxNotAllowed, 1);
});

test('a replayed transport message is dropped', async () => {
  const { net, a, b } = await pair();
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  const data = net.log.find((d) => d.from.port === a.bind.port && d.data[0] === MESSAGE_TRANSPORT && d.data.length > 32);
  assert.ok(data);
  b.bind.arrive(data.data, data.from);
  await settle();
  assert.equal(b.tun.written.length, 1);
  assert.equal(b.dev.counters.rxReplay, 1);
});

test('the endpoint follows the newest authenticated packet (roaming)', async () => {
  const { net, a, b } = await pair();
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  await a.bind.open(a.bind.port + 1000); // A's outer port changes (NAT rebinding)
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(b.dev.state().peers[0].endpoint?.port, a.bind.port);
  b.tun.inject([ipv4Udp('10.0.0.2', '10.0.0.1')]);
  await settle();
  assert.equal(a.tun.written.length, 1, 'B answers at the new address');
  void net;
});

test('hostile datagrams are counted and dropped, and the tunnel keeps working', async () => {
  const { a, b } = await pair();
  const from = { family: 4 as const, address: '198.51.100.7', port: 666 };
  const junk: Buffer[] = [];
  for (const type of [1, 2, 3, 4]) {
    for (const len of [0, 1, 4, 16, 31, 32, 63, 64, 91, 92, 147, 148, 149, 1500]) {
      const d = randomBytes(len);
      if (len >= 4) d.writeUInt32LE(type, 0);
      junk.push(d);
    }
  }
  for (let i = 0; i < 200; i++) junk.push(randomBytes(Math.floor(Math.random() * 2000)));
  for (const d of junk) b.bind.arrive(d, from);
  await settle();
  const c = b.dev.counters;
  assert.ok(c.rxInvalid > 0 && c.rxBadMac1 > 0 && c.rxUnknownIndex > 0, JSON.stringify(c));
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(b.tun.written.length, 1);
});

test('packets for addresses no peer owns are dropped and counted', async () => {
  const { a, b } = await pair();
  a.tun.inject([ipv4Udp('10.0.0.1', '10.7.7.7'), Buffer.from([0x45, 0])]);
  await settle();
  assert.equal(a.dev.counters.txNoRoute, 2);
  assert.equal(b.tun.written.length, 0);
});

test('moving an allowed IP to another peer moves the traffic', async () => {
  const { a, b } = await pair();
  const net2 = new MemoryNetwork();
  const c = await makeNode(net2, '192.0.2.3');
  await a.dev.applyConfig({ replacePeers: false, peers: [{ publicKey: c.pub, remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: [prefix('10.0.0.2/32')] }] });
  const st = a.dev.state();
  const byKey = new Map(st.peers.map((p) => [Buffer.from(p.publicKey).toString('hex'), p.allowedIps.length]));
  assert.equal(byKey.get(Buffer.from(b.pub).toString('hex')), 1, 'B keeps only fd00::2/128');
  assert.equal(byKey.get(Buffer.from(c.pub).toString('hex')), 1);
});

test('a replayed initiation (timestamp not newer) and an initiation flood (< 20 ms apart) are refused', async () => {
  const clock = new FakeClock();
  const { net, a, b } = await pair({ clock });
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  const init = net.log.find((d) => d.data[0] === MESSAGE_INITIATION);
  assert.ok(init);
  const responses = () => typesSent(net, b.bind).filter((t) => t === MESSAGE_RESPONSE).length;
  assert.equal(responses(), 1);
  b.bind.arrive(init.data, init.from);
  await settle();
  assert.equal(responses(), 1, 'the replayed initiation is not answered');
  assert.equal(b.dev.counters.rxHandshakeFailed, 1);

  // Two fresh initiations from A, 17 ms apart: newer timestamps, but too close together.
  const craft = () => {
    const hs = new Handshake(b.pub);
    hs.precomputedStaticStatic = sharedSecret(a.priv, b.pub);
    const msg = createInitiation(makeIdentity(a.priv), hs, 1234, clock.wallNow());
    assert.ok(msg);
    new CookieGenerator(b.pub).addMacs(msg, clock.now());
    return msg;
  };
  clock.advance(1000);
  b.bind.arrive(craft(), a.bind.endpoint);
  await settle();
  assert.equal(responses(), 2);
  clock.advance(17);
  b.bind.arrive(craft(), a.bind.endpoint);
  await settle();
  assert.equal(responses(), 2, 'the second initiation within 20 ms is dropped');
  assert.equal(b.dev.counters.rxHandshakeFailed, 2);
});

test('plaintext is padded to a multiple of 16, never beyond the MTU', async () => {
  const { net, a, b } = await pair();
  a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  const sizes = (payloads: number[]) => {
    const before = net.log.length;
    a.tun.inject(payloads.map((n) => ipv4Udp('10.0.0.1', '10.0.0.2', Buffer.alloc(n))));
    return net.log.slice(before).filter((d) => d.data[0] === MESSAGE_TRANSPORT).map((d) => d.data.length);
  };
  // IP length 28 + payload; datagram = 16 header + padded plaintext + 16 tag.
  assert.deepEqual(sizes([0, 4, 5, 1392 - 28, 1420 - 28 - 1, 1420 - 28]), [32 + 32, 32 + 32, 32 + 48, 32 + 1392, 32 + 1420, 32 + 1420]);
  await settle();
  assert.equal(b.tun.written.length, 7, 'padding is stripped on receive: every packet arrives');
  assert.deepEqual(b.tun.written.slice(1).map((p) => p.length), [28, 32, 33, 1392, 1419, 1420]);
});
