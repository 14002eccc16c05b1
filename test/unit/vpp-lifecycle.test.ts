import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VppLifecycle, type VppLifecycleOptions } from '../../src/vpp/lifecycle.js';
import { VppClient } from '../../src/vpp/client.js';
import { builtinRegistry } from '../../src/vpp/api-loader.js';
import { VppApiError, VppConnectError, VppError, VppMessageUnavailableError, VppTimeoutError } from '../../src/vpp/errors.js';
import { FakeVpp, type FakeVppOptions } from '../helpers/vpp-api-server.js';
import { until } from '../helpers/exec.js';

const SECRET = 'hunter2-SECRET';
const OUR_MAC = '02:00:00:aa:bb:cc';
const OUR_MAC_HEX = '020000aabbcc';

interface Rig {
  vpp: FakeVpp;
  dir: string;
  lines: string[];
  opts: VppLifecycleOptions;
}

function capture(lines: string[]) {
  return {
    error: (m: string) => lines.push(`E ${m}`),
    verbose: (m: string) => lines.push(`V ${m}`),
    debug: (m: string) => lines.push(`D ${m}`),
  };
}

async function rig(vppOpts: Partial<FakeVppOptions> = {}, over: Partial<VppLifecycleOptions> = {}): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpp-lc-'));
  const vpp = await FakeVpp.start({ socketPath: path.join(dir, 'api.sock'), ...vppOpts });
  const lines: string[] = [];
  const opts: VppLifecycleOptions = {
    socketPath: vpp.socketPath,
    uid: 3,
    secret: SECRET,
    bridgeId: 4242,
    ourMac: OUR_MAC,
    vppMac: '02:fe:00:00:00:03',
    memifSocketPath: path.join(dir, 'wg0.sock'),
    ourRole: 'master',
    queues: 2,
    ringSizeLog2: 10,
    bufferSize: 2048,
    logger: capture(lines),
    registry: builtinRegistry(),
    requestTimeoutMs: 1000,
    connectTimeoutMs: 1000,
    reconnect: { initialDelayMs: 20, maxDelayMs: 80, factor: 2 },
    ...over,
  };
  return { vpp, dir, lines, opts };
}

/** A started lifecycle whose memif VPP reports as up (so the l2fib entry is in place). */
async function startLinkedUp(r: Rig): Promise<{ lc: VppLifecycle; sw: number }> {
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  const sw = lc.interfaceIndex as number;
  const connected = once(lc, 'memif-connected');
  r.vpp.setLinkUp(sw, true);
  await connected;
  return { lc, sw };
}

async function done(r: Rig): Promise<void> {
  await r.vpp.close();
  fs.rmSync(r.dir, { recursive: true, force: true });
  // Whatever happened, the secret never reached a log line.
  assert.ok(!r.lines.some((l) => l.includes(SECRET)), 'secret leaked into the log');
}

function once<T>(lc: VppLifecycle, event: string, ms = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    (lc as unknown as NodeJS.EventEmitter).once(event, (v: T) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}


/** VPP holds nothing of ours: only its default socket and local0, no bridge domain, no l2fib. */
function assertClean(vpp: FakeVpp): void {
  assert.deepStrictEqual([...vpp.state.sockets.keys()], [0]);
  assert.deepStrictEqual([...vpp.state.interfaces.keys()], [0]);
  assert.deepStrictEqual([...vpp.state.bds.keys()].filter((b) => b !== 0), []);
  assert.equal(vpp.state.l2fib.size, 0);
}

test('start creates socket, memif, admin up, bridge; link up adds the l2fib entry', async () => {
  const r = await rig();
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  const { vpp } = r;
  assert.equal(vpp.state.sockets.get(3), r.opts.memifSocketPath);
  const itf = vpp.memif(3, 3);
  assert.ok(itf);
  assert.equal(itf.name, 'memif3/3');
  assert.equal(lc.interfaceIndex, itf.swIfIndex);
  assert.equal(itf.adminUp, true);
  assert.equal(itf.bdId, 4242);
  assert.equal(itf.mac.toString('hex'), '02fe00000003');
  assert.deepStrictEqual(itf.memif, {
    socketId: 3,
    id: 3,
    role: 'slave', // we are master
    mode: 0,
    rxQueues: 2,
    txQueues: 2,
    ringSize: 1024,
    bufferSize: 2048,
    zeroCopy: true,
    secret: SECRET,
  });
  const bd = vpp.state.bds.get(4242);
  assert.ok(bd && bd.members.has(itf.swIfIndex) && bd.learn && bd.forward && bd.flood && bd.uuFlood);
  assert.equal(vpp.state.l2fib.size, 0, 'no l2fib entry before the link is up');
  // v2 messages are preferred when VPP has them.
  assert.ok(vpp.log.includes('memif_create_v2') && vpp.log.includes('memif_socket_filename_add_del_v2'));
  assert.ok(vpp.log.includes('bridge_domain_add_del_v2'));
  assert.equal(vpp.eventSubscribers, 1);

  const connected = once<{ swIfIndex: number }>(lc, 'memif-connected');
  vpp.setLinkUp(itf.swIfIndex, true);
  assert.deepStrictEqual(await connected, { swIfIndex: itf.swIfIndex });
  assert.deepStrictEqual([...vpp.state.l2fib.values()], [{ bdId: 4242, mac: OUR_MAC_HEX, swIfIndex: itf.swIfIndex, static: true }]);

  const down = once<{ swIfIndex: number }>(lc, 'memif-disconnected');
  vpp.setLinkUp(itf.swIfIndex, false);
  await down;

  await lc.stop();
  assertClean(vpp);
  assert.equal(vpp.eventSubscribers, 0);
  assert.equal(vpp.log.at(-1), 'sockclnt_delete');
  await lc.stop(); // idempotent
  await done(r);
});

test('teardown runs in reverse order and leaves nothing, also with the link up', async () => {
  const r = await rig();
  const { lc } = await startLinkedUp(r);
  const before = r.vpp.log.length;
  await lc.stop();
  assert.deepStrictEqual(r.vpp.log.slice(before), [
    'l2fib_add_del',
    'sw_interface_set_l2_bridge',
    'sw_interface_set_flags',
    'memif_delete',
    'memif_socket_filename_add_del_v2',
    'bridge_domain_dump',
    'control_ping',
    'bridge_domain_add_del_v2',
    'want_interface_events',
    'sockclnt_delete',
  ]);
  assertClean(r.vpp);
  await done(r);
});

test('link already up at start: the l2fib entry is added and memif-connected emitted', async () => {
  const r = await rig({}, { ourRole: 'slave' });
  const lc = new VppLifecycle(r.opts);
  // Bring the link up as soon as VPP creates the memif, before start() finishes.
  const orig = r.vpp.memif.bind(r.vpp);
  const timer = setInterval(() => {
    const itf = orig(3, 3);
    if (itf && !itf.linkUp) r.vpp.setLinkUp(itf.swIfIndex, true);
  }, 1);
  const connected = once(lc, 'memif-connected');
  await lc.start();
  await connected;
  clearInterval(timer);
  const itf = r.vpp.memif(3, 3);
  assert.equal(itf?.memif?.role, 'master'); // we are slave
  assert.equal(r.vpp.state.l2fib.size, 1);
  await lc.stop();
  assertClean(r.vpp);
  await done(r);
});

test('an older VPP without the _v2 messages gets the v1 messages', async () => {
  const r = await rig({
    omit: [
      'memif_create_v2',
      'memif_create_v2_reply',
      'memif_socket_filename_add_del_v2',
      'memif_socket_filename_add_del_v2_reply',
      'bridge_domain_add_del_v2',
      'bridge_domain_add_del_v2_reply',
    ],
  });
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  assert.ok(r.vpp.log.includes('memif_create') && !r.vpp.log.includes('memif_create_v2'));
  assert.ok(r.vpp.log.includes('memif_socket_filename_add_del'));
  assert.ok(r.vpp.log.includes('bridge_domain_add_del'));
  assert.ok(r.vpp.memif(3, 3));
  await lc.stop();
  assertClean(r.vpp);
  await done(r);
});

test('a bridge domain that already exists is joined, not created, and survives teardown', async () => {
  const r = await rig();
  const bd = r.vpp.state.bd(4242);
  bd.learn = false;
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  assert.ok(!r.vpp.log.includes('bridge_domain_add_del_v2'));
  assert.equal(r.vpp.state.bds.get(4242)?.learn, false);
  await lc.stop();
  assert.ok(r.vpp.state.bds.has(4242));
  assert.equal(r.vpp.state.bds.get(4242)?.members.size, 0);
  await done(r);
});

/** What a crashed earlier run leaves in VPP: a socket, a memif on it, bridged, with an l2fib entry. */
async function leaveCrashedState(vpp: FakeVpp, socketId: number, file: string): Promise<number> {
  const c = await VppClient.connect({ socketPath: vpp.socketPath, registry: builtinRegistry() });
  await c.request('memif_socket_filename_add_del_v2', { is_add: true, socket_id: socketId, socket_filename: file });
  const reply = await c.request('memif_create_v2', { role: 1, id: 3, socket_id: socketId, secret: 'old' });
  const sw = reply['sw_if_index'] as number;
  await c.request('sw_interface_set_l2_bridge', { rx_sw_if_index: sw, bd_id: 4242, enable: true });
  await c.request('l2fib_add_del', { mac: Buffer.from(OUR_MAC_HEX, 'hex'), bd_id: 4242, sw_if_index: sw, is_add: true, static_mac: true });
  c.destroy(); // gone without cleaning up
  return sw;
}

test('state left by a crashed run with the same socket id is removed first', async () => {
  const r = await rig();
  const staleSw = await leaveCrashedState(r.vpp, 3, r.opts.memifSocketPath);
  // Something unrelated must survive.
  const other = await VppClient.connect({ socketPath: r.vpp.socketPath, registry: builtinRegistry() });
  await other.request('memif_socket_filename_add_del_v2', { is_add: true, socket_id: 7, socket_filename: path.join(r.dir, 'other.sock') });
  await other.close();

  const lc = new VppLifecycle(r.opts);
  await lc.start();
  const log = r.vpp.log;
  const deleted = r.vpp.received.find((x) => x.name === 'memif_delete');
  assert.equal(deleted?.msg['sw_if_index'], staleSw);
  assert.ok(log.lastIndexOf('memif_delete') < log.lastIndexOf('memif_create_v2'));
  const memifs = [...r.vpp.state.interfaces.values()].filter((i) => i.memif);
  assert.equal(memifs.length, 1);
  assert.equal(memifs[0].memif?.secret, SECRET);
  assert.equal(r.vpp.state.sockets.get(7), path.join(r.dir, 'other.sock'));
  assert.equal(r.vpp.state.l2fib.size, 0, 'the stale static l2fib entry is gone');
  assert.ok(r.lines.some((l) => l.includes('left by an earlier run')));
  await lc.stop();
  assert.deepStrictEqual([...r.vpp.state.sockets.keys()].sort(), [0, 7]);
  await done(r);
});

test('a late deletion event for a removed stale memif does not hit the new one reusing its index', async () => {
  const r = await rig({ eventDelayMs: 40 });
  const staleSw = await leaveCrashedState(r.vpp, 3, r.opts.memifSocketPath);
  const lc = new VppLifecycle(r.opts);
  let deleted = false;
  lc.on('interface-deleted', () => (deleted = true));
  await lc.start();
  assert.equal(lc.interfaceIndex, staleSw, 'VPP hands the freed index out again');
  await new Promise((res) => setTimeout(res, 120));
  assert.equal(deleted, false);
  assert.equal(lc.interfaceIndex, staleSw);
  assert.ok(r.lines.some((l) => l.includes('late deletion event')));
  await lc.stop();
  await done(r);
});

test('state left by a crashed run with another socket id but our socket file is removed too', async () => {
  const r = await rig();
  await leaveCrashedState(r.vpp, 9, r.opts.memifSocketPath);
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  assert.ok(!r.vpp.state.sockets.has(9));
  assert.equal([...r.vpp.state.interfaces.values()].filter((i) => i.memif).length, 1);
  await lc.stop();
  // The crashed run's bridge domain was created implicitly, so nobody can tell it was ours:
  // it stays, empty. Everything else is gone.
  assert.deepStrictEqual([...r.vpp.state.sockets.keys()], [0]);
  assert.deepStrictEqual([...r.vpp.state.interfaces.keys()], [0]);
  assert.equal(r.vpp.state.bds.get(4242)?.members.size, 0);
  assert.equal(r.vpp.state.l2fib.size, 0);
  await done(r);
});

test('VPP restart: disconnected, then reconnected with everything recreated', async () => {
  const r = await rig();
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  const firstSw = lc.interfaceIndex as number;
  r.vpp.setLinkUp(firstSw, true);
  await once(lc, 'memif-connected');

  const disconnected = once<Error>(lc, 'vpp-disconnected');
  const reconnected = once<{ swIfIndex: number }>(lc, 'vpp-reconnected');
  await r.vpp.restart({ downMs: 150 }); // a few reconnect attempts fail meanwhile
  assert.match((await disconnected).message, /closed/);
  const { swIfIndex } = await reconnected;
  const itf = r.vpp.memif(3, 3);
  assert.ok(itf);
  assert.equal(itf.swIfIndex, swIfIndex);
  assert.equal(lc.interfaceIndex, swIfIndex);
  assert.equal(itf.bdId, 4242);
  assert.equal(itf.adminUp, true);
  assert.equal(r.vpp.state.sockets.get(3), r.opts.memifSocketPath);
  assert.equal(r.vpp.eventSubscribers, 1);

  // The data plane reconnects; the l2fib entry comes back with the link.
  const connected = once(lc, 'memif-connected');
  r.vpp.setLinkUp(swIfIndex, true);
  await connected;
  assert.equal(r.vpp.state.l2fib.size, 1);
  await lc.stop();
  assertClean(r.vpp);
  await done(r);
});

test('API connection dropped while VPP keeps running: the old state is removed and recreated once', async () => {
  const r = await rig();
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  const reconnected = once<{ swIfIndex: number }>(lc, 'vpp-reconnected');
  await r.vpp.stopListening(); // drops the connection, VPP's state stays
  await r.vpp.listen();
  const { swIfIndex } = await reconnected;
  const memifs = [...r.vpp.state.interfaces.values()].filter((i) => i.memif);
  assert.equal(memifs.length, 1);
  assert.equal(memifs[0].swIfIndex, swIfIndex);
  assert.equal(memifs[0].bdId, 4242);
  assert.ok(r.vpp.log.includes('memif_delete'), 'the old memif was removed as stale');
  await lc.stop();
  // The bridge domain made over the first connection is still this instance's to remove.
  assertClean(r.vpp);
  await done(r);
});

test('stop() while VPP is down ends the reconnect loop', async () => {
  const r = await rig();
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  const disconnected = once(lc, 'vpp-disconnected');
  await r.vpp.stopListening();
  await disconnected;
  await new Promise((res) => setTimeout(res, 60)); // let a couple of attempts fail
  await lc.stop();
  const attempts = r.vpp.log.filter((n) => n === 'sockclnt_create').length;
  await r.vpp.listen();
  await new Promise((res) => setTimeout(res, 150));
  assert.equal(r.vpp.log.filter((n) => n === 'sockclnt_create').length, attempts, 'no attempt after stop()');
  await until(() => r.vpp.connectionCount === 0);
  await done(r);
});

test('operator deletes the interface: interface-deleted, and stop() still removes the rest', async () => {
  const r = await rig();
  const { lc, sw } = await startLinkedUp(r);
  const deleted = once<{ swIfIndex: number }>(lc, 'interface-deleted');
  r.vpp.operatorDeleteInterface(sw); // vppctl: delete interface memif memif3/3
  assert.deepStrictEqual(await deleted, { swIfIndex: sw });
  assert.equal(lc.interfaceIndex, null);
  await lc.stop();
  assertClean(r.vpp);
  assert.ok(!r.lines.some((l) => l.startsWith('E ')), r.lines.filter((l) => l.startsWith('E ')).join('\n'));
  await done(r);
});

test('operator deletion in a bridge domain we do not own: our static l2fib entry is still removed', async () => {
  const r = await rig();
  r.vpp.state.bd(4242);
  const { lc, sw } = await startLinkedUp(r);
  const deleted = once(lc, 'interface-deleted');
  r.vpp.operatorDeleteInterface(sw);
  await deleted;
  assert.equal(r.vpp.state.l2fib.size, 1, 'VPP keeps static entries of a deleted interface');
  await lc.stop();
  assert.equal(r.vpp.state.l2fib.size, 0);
  assert.deepStrictEqual([...r.vpp.state.sockets.keys()], [0]);
  assert.ok(r.vpp.state.bds.has(4242));
  await done(r);
});

test('VPP not running: start() says which socket it tried and what to check', async () => {
  const r = await rig();
  await r.vpp.stopListening();
  const lc = new VppLifecycle(r.opts);
  await assert.rejects(lc.start(), (err: Error) => {
    assert.ok(err instanceof VppConnectError);
    assert.ok(err.message.includes(r.opts.socketPath));
    assert.match(err.message, /VPP running/);
    return true;
  });
  // A failed start may be retried once VPP is up.
  await r.vpp.listen();
  await lc.start();
  assert.ok(r.vpp.memif(3, 3));
  await lc.stop();
  await done(r);
});

test('memif create refused: VPP\'s error name, a hint, and nothing left behind', async () => {
  const r = await rig();
  r.vpp.failNext('memif_create_v2', -68);
  const lc = new VppLifecycle(r.opts);
  await assert.rejects(lc.start(), (err: Error) => {
    assert.ok(err instanceof VppApiError);
    assert.equal(err.errorName, 'SUBIF_ALREADY_EXISTS');
    assert.match(err.message, /memif_create_v2: SUBIF_ALREADY_EXISTS \(-68\)/);
    assert.match(err.message, /creating memif3\/3 on socket id 3/);
    assert.ok(!err.message.includes(SECRET));
    return true;
  });
  assertClean(r.vpp);
  await until(() => r.vpp.connectionCount === 0);
  await done(r);
});

test('a memif socket directory VPP cannot use is reported as such', async () => {
  const r = await rig({}, {});
  const lc = new VppLifecycle({ ...r.opts, memifSocketPath: path.join(r.dir, 'missing-dir', 'wg0.sock') });
  await assert.rejects(lc.start(), (err: Error) => {
    assert.ok(err instanceof VppApiError);
    assert.equal(err.errorName, 'INVALID_ARGUMENT');
    assert.match(err.message, /directory/);
    return true;
  });
  assertClean(r.vpp);
  await done(r);
});

test('VPP not answering: time-out error, rollback, nothing left behind', async () => {
  const r = await rig({}, { requestTimeoutMs: 150 });
  r.vpp.silence('sw_interface_set_l2_bridge');
  const lc = new VppLifecycle(r.opts);
  await assert.rejects(lc.start(), (err: Error) => err instanceof VppTimeoutError && /sw_interface_set_l2_bridge/.test(err.message));
  assertClean(r.vpp);
  await done(r);
});

test('no usable memif_create variant: error names both, VPP\'s CRC and ours; VPP is untouched', async () => {
  const r = await rig({ crcOverrides: { memif_create_v2: '11111111', memif_create: '22222222' } });
  const lc = new VppLifecycle(r.opts);
  await assert.rejects(lc.start(), (err: Error) => {
    assert.ok(err instanceof VppMessageUnavailableError);
    assert.match(err.message, /memif_create_v2 with CRC 0x11111111, but we only know CRC 0x8c7de5f7/);
    assert.match(err.message, /memif_create with CRC 0x22222222, but we only know CRC 0xb1b25061/);
    return true;
  });
  assert.ok(!r.vpp.log.some((n) => n.startsWith('memif_')), 'nothing sent before every message was resolved');
  assertClean(r.vpp);
  await done(r);
});

test('every missing message is named in one error', async () => {
  const r = await rig({ omit: ['l2fib_add_del', 'sw_interface_event', 'bridge_domain_add_del_v2', 'bridge_domain_add_del'] });
  const lc = new VppLifecycle(r.opts);
  await assert.rejects(lc.start(), (err: Error) => {
    assert.ok(err instanceof VppMessageUnavailableError);
    for (const name of ['l2fib_add_del', 'sw_interface_event', 'bridge_domain_add_del_v2', 'bridge_domain_add_del']) {
      assert.match(err.message, new RegExp(`VPP lacks message ${name} `));
    }
    return true;
  });
  assertClean(r.vpp);
  await done(r);
});

test('teardown tolerates VPP refusing a step and still removes the rest', async () => {
  const r = await rig();
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  r.vpp.failNext('sw_interface_set_flags', -1);
  await lc.stop();
  assertClean(r.vpp);
  assert.ok(r.lines.some((l) => l.startsWith('E ') && l.includes('UNSPECIFIED')));
  await done(r);
});

test('garbage from VPP while running changes nothing', async () => {
  const r = await rig();
  const lc = new VppLifecycle(r.opts);
  await lc.start();
  r.vpp.sendRaw(r.vpp.frame(Buffer.from([0xfe, 0xfe, 0, 0, 0, 1])));
  r.vpp.sendRaw(r.vpp.frame(r.vpp.encode('sw_interface_event', { sw_if_index: lc.interfaceIndex as number }).subarray(0, 7)));
  r.vpp.broadcast('sw_interface_event', { sw_if_index: 999, flags: 2, deleted: true }); // not ours
  await new Promise((res) => setTimeout(res, 30));
  assert.ok(r.vpp.memif(3, 3));
  assert.notEqual(lc.interfaceIndex, null);
  await lc.stop();
  assertClean(r.vpp);
  await done(r);
});

test('bad configuration is refused up front, without echoing the secret', () => {
  const base: VppLifecycleOptions = {
    socketPath: '/run/vpp/api.sock',
    uid: 3,
    secret: 'ok',
    bridgeId: 1,
    ourMac: OUR_MAC,
    memifSocketPath: '/run/wg.sock',
    ourRole: 'master',
    queues: 1,
    ringSizeLog2: 10,
    bufferSize: 2048,
    registry: builtinRegistry(),
  };
  const secret = 'S'.repeat(30);
  assert.throws(() => new VppLifecycle({ ...base, secret }), (err: Error) => err instanceof VppError && !err.message.includes(secret));
  assert.throws(() => new VppLifecycle({ ...base, uid: 0 }), /uid/);
  assert.throws(() => new VppLifecycle({ ...base, bridgeId: 0 }), /VppBridgeID/);
  assert.throws(() => new VppLifecycle({ ...base, bridgeId: 1 << 24 }), /VppBridgeID/);
  assert.throws(() => new VppLifecycle({ ...base, ourMac: 'zz:00' }), /MAC/);
  assert.throws(() => new VppLifecycle({ ...base, memifSocketPath: 'relative.sock' }), /absolute/);
  assert.throws(() => new VppLifecycle({ ...base, ringSizeLog2: 20 }), /ring/);
  assert.throws(() => new VppLifecycle({ ...base, queues: 0 }), /queues/);
  assert.doesNotThrow(() => new VppLifecycle(base));
  assert.doesNotThrow(() => new VppLifecycle({ ...base, secret: null }));
});
