// Interop against wireguard-go, in network namespaces, configured only with wg(8) and ip(8).
//
//            nsA                          nsB                          nsC
//   wireguard-go (wga…)  --veth--  wireguard-ts (wgb…)  --veth--  wireguard-go (wgc…)
//   192.0.2.1/25                   192.0.2.2/25 | 192.0.2.130/25  192.0.2.129/25
//   fd00:a::1/64                   fd00:a::2/64 | fd00:c::2/64    fd00:c::1/64
//   (roaming adds 203.0.113.65/26 and .66/26 on the A-B link for a while)
//   tunnel: 198.51.100.1, fd00:1::1   198.51.100.2, fd00:1::2     198.51.100.3, fd00:1::3
//
// Set WG_TS_INTEROP_PEER_B=wireguard-go to run wireguard-go in nsB as well: that checks
// the harness and the expectations themselves against the reference implementation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, waitFor } from '../helpers/exec.js';
import { Harness, addAddress, type ManagedProcess, type Netns } from '../helpers/netns.js';
import { iperf3 } from '../helpers/iperf.js';
import { alive, pidsWith, quietEnv } from '../helpers/process.js';
import {
  WIREGUARD_TS_CLI,
  assertCliBasics,
  dump,
  genKeyPair,
  peerDump,
  setInterface,
  startWireguard,
  uapiSocketPath,
  type Implementation,
  type KeyPair,
} from '../helpers/wireguard.js';

const IMPL_B: Implementation = process.env.WG_TS_INTEROP_PEER_B === 'wireguard-go' ? 'wireguard-go' : 'wireguard-ts';
const JUNK_SCRIPT = fileURLToPath(new URL('../helpers/udp-junk.js', import.meta.url));

const PORT = { a: 51821, b: 51822, c: 51823 } as const;
const OUTER = {
  a4: '192.0.2.1',
  b4: '192.0.2.2',
  /** A second subnet on the A-B link that wireguard-go's outer address moves to. */
  a4roamed: '203.0.113.65',
  b4roamed: '203.0.113.66',
  a6: 'fd00:a::1',
  b6: 'fd00:a::2',
  c4: '192.0.2.129',
  bc4: '192.0.2.130',
  c6: 'fd00:c::1',
  bc6: 'fd00:c::2',
} as const;
const INNER = {
  a4: '198.51.100.1',
  b4: '198.51.100.2',
  c4: '198.51.100.3',
  a6: 'fd00:1::1',
  b6: 'fd00:1::2',
  c6: 'fd00:1::3',
  /** A "service" address both wireguard-go peers answer on; ours routes it to one of them. */
  moved: '203.0.113.7',
} as const;

/**
 * Transfer counters of both ends must agree within one message: the largest message that
 * can legitimately be in flight or counted on one side only when we read them is a
 * handshake initiation (148 bytes); an idle ping-sized data packet is 128 bytes and a
 * keepalive 32.
 */
const COUNTER_TOLERANCE = 148;
/** One ICMP echo of ping's default size on the wire: 84-byte IPv4 packet padded to 96 + 32. */
const PING_WIRE_BYTES = 128;

const h = new Harness();
let nsA: Netns;
let nsB: Netns;
let nsC: Netns;
const ifA = h.ifname('wga');
const ifB = h.ifname('wgb');
const ifC = h.ifname('wgc');
let keysA: KeyPair;
let keysB: KeyPair;
let keysC: KeyPair;
let procB: ManagedProcess;

async function wg(ns: Netns, ...args: string[]): Promise<string> {
  return ns.runOk('wg', args);
}

async function bringUp(ns: Netns, ifname: string, addrs: readonly string[]): Promise<void> {
  for (const a of addrs) await addAddress(ns, ifname, a);
  await ns.ip('link', 'set', ifname, 'up');
}

before(
  async () => {
    nsA = await h.netns('a');
    nsB = await h.netns('b');
    nsC = await h.netns('c');
    await h.veth(nsA, h.ifname('va'), [`${OUTER.a4}/25`, `${OUTER.a6}/64`], nsB, h.ifname('vb'), [
      `${OUTER.b4}/25`,
      `${OUTER.b6}/64`,
    ]);
    await h.veth(nsC, h.ifname('vc'), [`${OUTER.c4}/25`, `${OUTER.c6}/64`], nsB, h.ifname('vd'), [
      `${OUTER.bc4}/25`,
      `${OUTER.bc6}/64`,
    ]);
    [keysA, keysB, keysC] = await Promise.all([genKeyPair(), genKeyPair(), genKeyPair()]);

    await startWireguard(h, nsA, 'wireguard-go', ifA);
    procB = await startWireguard(h, nsB, IMPL_B, ifB);
    await startWireguard(h, nsC, 'wireguard-go', ifC);

    await setInterface(h, nsA, ifA, keysA.privateKey, PORT.a);
    await setInterface(h, nsB, ifB, keysB.privateKey, PORT.b);
    await setInterface(h, nsC, ifC, keysC.privateKey, PORT.c);
    await bringUp(nsA, ifA, [`${INNER.a4}/24`, `${INNER.a6}/64`, `${INNER.moved}/32`]);
    await bringUp(nsB, ifB, [`${INNER.b4}/24`, `${INNER.b6}/64`]);
    await bringUp(nsC, ifC, [`${INNER.c4}/24`, `${INNER.c6}/64`, `${INNER.moved}/32`]);
    await nsB.ip('route', 'add', `${INNER.moved}/32`, 'dev', ifB);
  },
  { timeout: 60_000 },
);

after(() => h.cleanup(), { timeout: 60_000 });

type Side = 'A' | 'B';

function outerEndpoint(side: 'a' | 'b', family: 4 | 6): string {
  const port = side === 'a' ? PORT.a : PORT.b;
  return family === 4 ? `${OUTER[`${side}4`]}:${port}` : `[${OUTER[`${side}6`]}]:${port}`;
}

/**
 * Recreates the A<->B peer entries on both sides (fresh sessions, counters at zero). Only
 * the initiator is given an endpoint: the responder must learn it from the handshake.
 */
async function configurePair(initiator: Side, family: 4 | 6): Promise<void> {
  await wg(nsA, 'set', ifA, 'peer', keysB.publicKey, 'remove');
  await wg(nsB, 'set', ifB, 'peer', keysA.publicKey, 'remove');
  const aArgs = ['set', ifA, 'peer', keysB.publicKey, 'allowed-ips', `${INNER.b4}/32,${INNER.b6}/128`];
  const bArgs = ['set', ifB, 'peer', keysA.publicKey, 'allowed-ips', `${INNER.a4}/32,${INNER.a6}/128`];
  if (initiator === 'A') aArgs.push('endpoint', outerEndpoint('b', family));
  else bArgs.push('endpoint', outerEndpoint('a', family));
  await wg(nsA, ...aArgs);
  await wg(nsB, ...bArgs);
}

async function pingAllWays(): Promise<void> {
  await nsA.pingReliably(INNER.b4);
  await nsA.pingReliably(INNER.b6);
  await nsB.pingReliably(INNER.a4);
  await nsB.pingReliably(INNER.a6);
}

for (const [initiator, family] of [
  ['A', 4],
  ['B', 4],
  ['A', 6],
  ['B', 6],
] as const) {
  const who = initiator === 'A' ? 'wireguard-go' : IMPL_B;
  test(`handshake started by ${who} over outer IPv${family}; ping both ways over IPv4 and IPv6`, { timeout: 60_000 }, () =>
    h.withLogs(async () => {
      await configurePair(initiator, family);
      if (initiator === 'A') await nsA.pingReliably(INNER.b4);
      else await nsB.pingReliably(INNER.a4);
      await pingAllWays();

      const ours = await peerDump(nsB, ifB, keysA.publicKey);
      const theirs = await peerDump(nsA, ifA, keysB.publicKey);
      assert.equal(ours.endpoint, outerEndpoint('a', family), 'our endpoint for wireguard-go');
      assert.equal(theirs.endpoint, outerEndpoint('b', family), "wireguard-go's endpoint for us");
      const now = Date.now() / 1000;
      assert.ok(ours.latestHandshake > now - 60 && ours.latestHandshake <= now + 2, `latest handshake ${ours.latestHandshake}`);
      assert.ok(ours.rxBytes > 0 && ours.txBytes > 0, `transfer ${ours.rxBytes}/${ours.txBytes}`);
    }),
  );
}

test('iperf3 TCP runs 5 s in each direction', { timeout: 90_000 }, (t) =>
  h.withLogs(async () => {
    await configurePair('A', 4);
    await nsA.pingReliably(INNER.b4);
    const before = await peerDump(nsB, ifB, keysA.publicKey);
    let total = 0;
    for (const reverse of [false, true]) {
      const received = await iperf3(h, nsA, INNER.a4, nsB, { reverse });
      total += received.bytes;
      t.diagnostic(
        `${reverse ? 'wireguard-go -> ' + IMPL_B : IMPL_B + ' -> wireguard-go'}: ` +
          `${(received.bitsPerSecond / 1e6).toFixed(1)} Mbit/s, ${received.bytes} bytes`,
      );
    }
    const afterRun = await peerDump(nsB, ifB, keysA.publicKey);
    const moved = afterRun.rxBytes - before.rxBytes + (afterRun.txBytes - before.txBytes);
    assert.ok(moved >= total, `counters grew by ${moved} bytes, iperf3 moved ${total}`);
  }),
);

test("transfer counters and latest handshake agree with wireguard-go's", { timeout: 60_000 }, (t) =>
  h.withLogs(async () => {
    await configurePair('B', 4);
    await nsB.pingReliably(INNER.a4);
    for (const [ns, target] of [
      [nsA, INNER.b4],
      [nsB, INNER.a4],
      [nsA, INNER.b6],
      [nsB, INNER.a6],
    ] as const) {
      await ns.runOk('ping', ['-n', '-c', '10', '-i', '0.05', '-W', '2', target], { timeoutMs: 20_000 });
    }
    // Traffic has stopped; read both sides until two reads agree (a keepalive may be in
    // flight at the first), at most a few times.
    let diff = { rx: Infinity, tx: Infinity };
    let detail = '';
    for (let i = 0; i < 5 && (diff.rx > COUNTER_TOLERANCE || diff.tx > COUNTER_TOLERANCE); i++) {
      await sleep(300);
      const [ours, theirs] = await Promise.all([
        peerDump(nsB, ifB, keysA.publicKey),
        peerDump(nsA, ifA, keysB.publicKey),
      ]);
      diff = { rx: Math.abs(ours.rxBytes - theirs.txBytes), tx: Math.abs(ours.txBytes - theirs.rxBytes) };
      detail = `ours rx ${ours.rxBytes} tx ${ours.txBytes}; wireguard-go rx ${theirs.rxBytes} tx ${theirs.txBytes}`;
      assert.ok(ours.rxBytes >= 20 * PING_WIRE_BYTES, `ours rx too small: ${detail}`);
      assert.ok(Math.abs(ours.latestHandshake - theirs.latestHandshake) <= 2, 'latest handshakes differ');
      assert.ok(ours.latestHandshake > Date.now() / 1000 - 60, 'no recent handshake on ours');
    }
    t.diagnostic(detail);
    assert.ok(diff.rx <= COUNTER_TOLERANCE && diff.tx <= COUNTER_TOLERANCE, `counters disagree: ${detail}`);
  }),
);

test('our endpoint follows wireguard-go when its outer address changes', { timeout: 60_000 }, () =>
  h.withLogs(async () => {
    await configurePair('A', 4);
    await nsA.pingReliably(INNER.b4);
    assert.equal((await peerDump(nsB, ifB, keysA.publicKey)).endpoint, `${OUTER.a4}:${PORT.a}`);
    const va = h.ifname('va');
    const vb = h.ifname('vb');
    try {
      await nsA.ip('addr', 'add', `${OUTER.a4roamed}/26`, 'dev', va);
      await nsB.ip('addr', 'add', `${OUTER.b4roamed}/26`, 'dev', vb);
      // A fresh endpoint has no sticky source: wireguard-go now sends from its new
      // address. Its old one goes away, so ours reaches it only by following it.
      await wg(nsA, 'set', ifA, 'peer', keysB.publicKey, 'endpoint', `${OUTER.b4roamed}:${PORT.b}`);
      await nsA.ip('addr', 'del', `${OUTER.a4}/25`, 'dev', va);
      await nsA.pingReliably(INNER.b4);
      assert.equal((await peerDump(nsB, ifB, keysA.publicKey)).endpoint, `${OUTER.a4roamed}:${PORT.a}`);
    } finally {
      await nsA.ip('addr', 'del', `${OUTER.a4roamed}/26`, 'dev', va).catch(() => '');
      await nsB.ip('addr', 'del', `${OUTER.b4roamed}/26`, 'dev', vb).catch(() => '');
      await nsA.ip('addr', 'add', `${OUTER.a4}/25`, 'dev', va).catch(() => '');
    }
    // And back again.
    await wg(nsA, 'set', ifA, 'peer', keysB.publicKey, 'endpoint', `${OUTER.b4}:${PORT.b}`);
    await nsA.pingReliably(INNER.b4);
    assert.equal((await peerDump(nsB, ifB, keysA.publicKey)).endpoint, `${OUTER.a4}:${PORT.a}`);
  }),
);

test('a second wg set moving an allowed IP between peers changes where packets go', { timeout: 60_000 }, () =>
  h.withLogs(async () => {
    await configurePair('A', 4);
    await nsA.pingReliably(INNER.b4);
    await wg(nsC, 'set', ifC, 'peer', keysB.publicKey, 'allowed-ips', `${INNER.b4}/32,${INNER.b6}/128`);
    await wg(
      nsB,
      'set',
      ifB,
      'peer',
      keysA.publicKey,
      'allowed-ips',
      `${INNER.a4}/32,${INNER.a6}/128,${INNER.moved}/32`,
    );
    await wg(nsB, 'set', ifB, 'peer', keysC.publicKey, 'allowed-ips', `${INNER.c4}/32`, 'endpoint', `${OUTER.c4}:${PORT.c}`);
    await nsB.pingReliably(INNER.c4);

    const rx = async (): Promise<{ a: number; c: number }> => ({
      a: (await peerDump(nsA, ifA, keysB.publicKey)).rxBytes,
      c: (await peerDump(nsC, ifC, keysB.publicKey)).rxBytes,
    });
    const pings = 5;
    const pingMoved = (): Promise<string> =>
      nsB.runOk('ping', ['-n', '-c', String(pings), '-i', '0.2', '-W', '2', INNER.moved], { timeoutMs: 20_000 });

    let r0 = await rx();
    await pingMoved();
    let r1 = await rx();
    assert.ok(r1.a - r0.a >= pings * PING_WIRE_BYTES, `peer A got ${r1.a - r0.a} bytes before the move`);
    assert.ok(r1.c - r0.c < pings * PING_WIRE_BYTES, `peer C got ${r1.c - r0.c} bytes before the move`);

    await wg(nsB, 'set', ifB, 'peer', keysC.publicKey, 'allowed-ips', `${INNER.c4}/32,${INNER.moved}/32`);
    const allowed = await wg(nsB, 'show', ifB, 'allowed-ips');
    assert.match(allowed, new RegExp(`^${escape(keysC.publicKey)}\\t.*${INNER.moved}/32`, 'm'));
    assert.doesNotMatch(allowed, new RegExp(`^${escape(keysA.publicKey)}\\t.*${INNER.moved}/32`, 'm'));

    r0 = await rx();
    await pingMoved();
    r1 = await rx();
    assert.ok(r1.c - r0.c >= pings * PING_WIRE_BYTES, `peer C got ${r1.c - r0.c} bytes after the move`);
    assert.ok(r1.a - r0.a < pings * PING_WIRE_BYTES, `peer A got ${r1.a - r0.a} bytes after the move`);
    await wg(nsB, 'set', ifB, 'peer', keysC.publicKey, 'remove');
  }),
);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

test('malformed, truncated, oversized and replayed datagrams are dropped; the tunnel keeps working', { timeout: 90_000 }, (t) =>
  h.withLogs(async () => {
    await configurePair('A', 4);
    await nsA.pingReliably(INNER.b4);
    const pcap = join(tmpdir(), `wgts-${h.suffix}.pcap`);
    h.removeLater(pcap);
    const tcpdump = h.spawnIn(nsB, 'tcpdump', 'tcpdump', [
      '-i',
      h.ifname('vb'),
      '-n',
      '--immediate-mode',
      '-U',
      '-w',
      pcap,
      'udp',
      'and',
      'dst',
      'port',
      String(PORT.b),
    ]);
    await waitFor('tcpdump to listen', () => /listening on/.test(tcpdump.output), { timeoutMs: 10_000 });
    await nsA.runOk('ping', ['-n', '-c', '5', '-i', '0.1', '-W', '2', INNER.b4], { timeoutMs: 20_000 });
    await sleep(200);
    await tcpdump.stop('SIGINT');
    assert.ok((await stat(pcap)).size > 24, 'tcpdump captured nothing');

    const endpointBefore = (await peerDump(nsB, ifB, keysA.publicKey)).endpoint;
    const logMark = procB.output.length;
    for (const [target, withReplay] of [
      [`${OUTER.b4}:${PORT.b}`, true],
      [`[${OUTER.b6}]:${PORT.b}`, false],
    ] as const) {
      const env = { ...process.env, WG_TS_JUNK_TARGET: target, ...(withReplay ? { WG_TS_JUNK_PCAP: pcap } : {}) };
      const out = await nsA.runOk(process.execPath, [JUNK_SCRIPT], { env, timeoutMs: 30_000 });
      const sent = JSON.parse(out) as { junk: number; replayed: number; sent: number };
      assert.ok(sent.junk > 200, `sent ${out}`);
      if (withReplay) assert.ok(sent.replayed >= 5, `replayed only ${sent.replayed} captured datagrams`);
    }
    await sleep(500);
    t.diagnostic(`${IMPL_B} logged ${procB.output.slice(logMark).split('\n').length} lines meanwhile`);
    assert.ok(procB.running, `${IMPL_B} exited`);
    // A replayed data packet that were accepted would have moved the endpoint to the
    // junk sender's port.
    assert.equal((await peerDump(nsB, ifB, keysA.publicKey)).endpoint, endpointBefore);
    await pingAllWays();
  }),
);

test('wg setconf with 1000 peers, then wg show peers lists them all', { timeout: 60_000 }, () =>
  h.withLogs(async () => {
    const ifname = h.ifname('wgp');
    await startWireguard(h, nsB, IMPL_B, ifname);
    const keys: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const der = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
      keys.push(der.subarray(der.length - 32).toString('base64'));
    }
    const lines = ['[Interface]', `PrivateKey = ${keysB.privateKey}`, 'ListenPort = 51900', ''];
    keys.forEach((k, i) => lines.push('[Peer]', `PublicKey = ${k}`, `AllowedIPs = fd00:3::${(i + 1).toString(16)}/128`, ''));
    const conf = join(tmpdir(), `wgts-${h.suffix}-1000.conf`);
    h.removeLater(conf);
    await writeFile(conf, lines.join('\n'), { mode: 0o600 });

    await nsB.runOk('wg', ['setconf', ifname, conf], { timeoutMs: 30_000 });
    const listed = (await wg(nsB, 'show', ifname, 'peers')).split('\n').filter(Boolean);
    assert.equal(listed.length, 1000);
    assert.deepEqual(new Set(listed), new Set(keys));
    const d = await dump(nsB, ifname);
    assert.equal(d.listenPort, 51900);
    assert.equal(d.peers.get(keys[999])?.allowedIps.join(), 'fd00:3::3e8/128');
  }),
);

test('removing the UAPI socket makes it exit cleanly', { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    const ifname = h.ifname('wgr');
    const proc = await startWireguard(h, nsB, IMPL_B, ifname);
    await unlink(uapiSocketPath(ifname));
    const status = await proc.waitExit(5_000);
    assert.deepEqual(status, { code: 0, signal: null });
    await assertInterfaceGone(nsB, ifname);
  }),
);

test('ip link del makes it exit cleanly and remove its socket', { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    const ifname = h.ifname('wgl');
    const proc = await startWireguard(h, nsB, IMPL_B, ifname);
    await nsB.ip('link', 'del', ifname);
    const status = await proc.waitExit(5_000);
    assert.deepEqual(status, { code: 0, signal: null });
    await assert.rejects(stat(uapiSocketPath(ifname)), 'UAPI socket left behind');
  }),
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} makes it exit cleanly, removing interface and socket`, { timeout: 30_000 }, () =>
    h.withLogs(async () => {
      const ifname = h.ifname(signal === 'SIGTERM' ? 'wgs' : 'wgi');
      const proc = await startWireguard(h, nsB, IMPL_B, ifname);
      const status = await proc.stop(signal, 5_000);
      assert.deepEqual(status, { code: 0, signal: null });
      await assert.rejects(stat(uapiSocketPath(ifname)), 'UAPI socket left behind');
      await assertInterfaceGone(nsB, ifname);
    }),
  );
}

async function assertInterfaceGone(ns: Netns, ifname: string): Promise<void> {
  await waitFor(`${ifname} to disappear`, async () => (await ns.run('ip', ['link', 'show', ifname])).code !== 0, {
    timeoutMs: 5_000,
  });
}

function commandFor(impl: Implementation, args: string[]): [string, string[]] {
  return impl === 'wireguard-go' ? ['wireguard-go', args] : [process.execPath, [WIREGUARD_TS_CLI, ...args]];
}

test('without -f it goes to the background; the parent exits 0 once interface and socket are ready', { timeout: 40_000 }, () =>
  h.withLogs(async () => {
    const ifname = h.ifname('wgd');
    const [cmd, args] = commandFor(IMPL_B, [ifname]);
    h.removeLater(uapiSocketPath(ifname));
    const r = await nsB.run(cmd, args, { env: quietEnv(), timeoutMs: 20_000 });
    const daemons = await pidsWith(ifname);
    h.onCleanup(async () => {
      for (const pid of daemons) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    assert.equal(r.code, 0, `parent failed: ${r.stdout}${r.stderr}`);
    // Ready means ready at the moment the parent exits: no waiting here.
    assert.ok((await stat(uapiSocketPath(ifname))).isSocket(), 'no UAPI socket when the parent exited');
    await nsB.ip('link', 'show', ifname);
    assert.equal(daemons.length, 1, `daemon processes: ${daemons.join(',')}`);
    await wg(nsB, 'show', ifname);

    await nsB.ip('link', 'del', ifname);
    await waitFor('the daemon to exit', () => !alive(daemons[0]), { timeoutMs: 5_000 });
    await assert.rejects(stat(uapiSocketPath(ifname)), 'UAPI socket left behind');
  }),
);

test('a second instance on a name in use fails in the parent with the reason, leaving the first alone', { timeout: 40_000 }, (t) =>
  h.withLogs(async () => {
    // nsA has no interface of that name, so the TUN can be created there; the UAPI socket
    // directory is shared, and ours in nsB is answering on it.
    const [cmd, args] = commandFor(IMPL_B, [ifB]);
    const r = await nsA.run(cmd, args, { env: quietEnv(), timeoutMs: 20_000 });
    t.diagnostic(`${cmd} said: ${(r.stdout + r.stderr).trim()}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /in use/i);
    assert.ok(procB.running);
    await wg(nsB, 'show', ifB);
    await assertInterfaceGone(nsA, ifB);
    await pingAllWays();
  }),
);

test('wireguard-ts --version, --help and bad arguments', { timeout: 20_000 }, () => assertCliBasics(WIREGUARD_TS_CLI, 'wireguard-ts'));
