// The protocol's timers, driven by a fake clock: rekey, retransmission and giving up,
// passive and persistent keepalives, and zeroing of old keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/wireguard/device.js';
import { MemoryBind, MemoryNetwork } from '../../src/bind/memory.js';
import { MemoryTun } from '../../src/tun/memory.js';
import { generatePrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { parsePrefix } from '../../src/wireguard/ip.js';
import type { Prefix } from '../../src/wireguard/config.js';
import type { Endpoint } from '../../src/wireguard/endpoint.js';
import { MESSAGE_INITIATION, MESSAGE_TRANSPORT } from '../../src/wireguard/messages.js';
import { FakeClock } from '../helpers/fakeclock.js';
import { ipv4Udp, settle } from '../helpers/packets.js';

function prefix(text: string): Prefix {
  const p = parsePrefix(text);
  assert.ok(p);
  return p;
}

interface Sent {
  at: number;
  from: Endpoint;
  data: Buffer;
}

async function setup() {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const sent: Sent[] = [];
  let blocked = false;
  net.filter = (from, _to, data) => {
    sent.push({ at: clock.now(), from, data });
    return !blocked;
  };
  const mk = async (address: string) => {
    const tun = new MemoryTun();
    const bind = new MemoryBind(net, address);
    const dev = new Device({ tun, bind, clock });
    const priv = generatePrivateKey();
    await dev.applyConfig({ privateKey: priv, replacePeers: false, peers: [] });
    await dev.up();
    return { tun, bind, dev, pub: publicKey(priv) };
  };
  const a = await mk('192.0.2.1');
  const b = await mk('192.0.2.2');
  const peerOf = (o: typeof a, addr: string) => ({
    publicKey: o.pub, remove: false, updateOnly: false, endpoint: o.bind.endpoint, replaceAllowedIps: false, allowedIps: [prefix(addr)],
  });
  await a.dev.applyConfig({ replacePeers: false, peers: [peerOf(b, '10.0.0.2/32')] });
  await b.dev.applyConfig({ replacePeers: false, peers: [peerOf(a, '10.0.0.1/32')] });
  const from = (o: typeof a, type: number, len?: number) =>
    sent.filter((s) => s.from.address === o.bind.address && s.data[0] === type && (len === undefined || s.data.length === len));
  /** Advances the fake clock in small steps, letting the in-memory network deliver between them. */
  const run = async (ms: number, step = 100) => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      await settle(4);
    }
  };
  return { clock, net, a, b, sent, from, run, block: (v: boolean) => (blocked = v) };
}

const KEEPALIVE_LEN = 32;

test('an initiator starts a new handshake when it sends after REKEY_AFTER_TIME (120 s)', async () => {
  const s = await setup();
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(s.from(s.a, MESSAGE_INITIATION).length, 1);
  await s.run(119_000, 1000);
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(s.from(s.a, MESSAGE_INITIATION).length, 1, 'no rekey before 120 s');
  await s.run(2_000, 1000);
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(s.from(s.a, MESSAGE_INITIATION).length, 2, 'rekey after 120 s');
  assert.equal(s.b.tun.written.length, 3, 'traffic continues across the rekey');
});

test('an unanswered initiation is retransmitted every 5 s (+jitter) and given up after 90 s', async () => {
  const s = await setup();
  s.block(true);
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await s.run(130_000, 50);
  const times = s.from(s.a, MESSAGE_INITIATION).map((x) => x.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  for (const g of gaps) assert.ok(g >= 5000 && g <= 5400, `gap ${g} ms`);
  assert.ok(times.length >= 18 && times.length <= 20, `${times.length} initiations`);
  assert.ok(times[times.length - 1] - times[0] <= 105_000, 'stopped after about 90 s of attempts');
  assert.equal(s.a.dev.counters.txStagedDropped, 1, 'the staged packet is dropped on giving up');
  s.block(false);
  await s.run(20_000, 1000);
  assert.equal(s.from(s.a, MESSAGE_INITIATION).length, times.length, 'nothing more is sent');
});

test('a peer that only receives data sends a keepalive after KEEPALIVE_TIMEOUT (10 s)', async () => {
  const s = await setup();
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(s.from(s.b, MESSAGE_TRANSPORT, KEEPALIVE_LEN).length, 0);
  await s.run(9_800);
  assert.equal(s.from(s.b, MESSAGE_TRANSPORT, KEEPALIVE_LEN).length, 0);
  await s.run(400);
  assert.equal(s.from(s.b, MESSAGE_TRANSPORT, KEEPALIVE_LEN).length, 1);
  await s.run(30_000, 1000);
  assert.equal(s.from(s.b, MESSAGE_TRANSPORT, KEEPALIVE_LEN).length, 1, 'one keepalive per received burst');
});

test('persistent keepalive sends every interval while the tunnel is idle', async () => {
  const s = await setup();
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await s.run(20_000, 1000); // B's passive keepalive has come and gone: the tunnel is idle
  await s.a.dev.applyConfig({ replacePeers: false, peers: [{ publicKey: s.b.pub, remove: false, updateOnly: true, persistentKeepaliveInterval: 25, replaceAllowedIps: false, allowedIps: [] }] });
  await settle();
  const start = s.clock.now();
  await s.run(101_000, 500);
  const ka = s.from(s.a, MESSAGE_TRANSPORT, KEEPALIVE_LEN).filter((x) => x.at >= start);
  // One right away when it is switched on, then every 25 s: at 0, 25, 50, 75, 100.
  assert.equal(ka.length, 5, ka.map((x) => x.at - start).join(','));
});

test('all keys are zeroed after 3 x REJECT_AFTER_TIME (540 s) without a new handshake', async () => {
  const s = await setup();
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.ok(s.a.dev.indices.size > 0 && s.b.dev.indices.size > 0);
  await s.run(535_000, 5000);
  assert.ok(s.a.dev.indices.size > 0, 'still there before 540 s');
  await s.run(10_000, 1000);
  assert.equal(s.a.dev.indices.size, 0);
  assert.equal(s.b.dev.indices.size, 0);
  // A new packet simply starts a new handshake.
  s.a.tun.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();
  assert.equal(s.b.tun.written.length, 2);
});
