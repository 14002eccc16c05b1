// Our memif against itself, master and slave in one process: the handshake and its
// negotiation, frames both ways bit for bit (chained across small buffers, several queues,
// into and out of the batch headroom layout), ring-full and oversize accounting, refusals
// with reasons, several ids on one socket, and losing and regaining the peer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Memif, type MemifConnection, type MemifOptions } from '../../src/tun/memif.js';
import { HEADROOM, PacketBatch } from '../../src/wireguard/batch.js';
import { connected, echo, frameMatches, makeFrame, waitEvent } from '../helpers/memif-traffic.js';

let dir: string;
let counter = 0;
const open: Memif[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wgts-memif-'));
});

after(async () => {
  for (const m of open) await m.close();
  rmSync(dir, { recursive: true, force: true });
});

function sockPath(): string {
  return join(dir, `m${++counter}.sock`);
}

function openMemif(o: MemifOptions): Memif {
  const m = Memif.open({ reconnectMs: 50, ...o });
  open.push(m);
  return m;
}

async function pair(
  master: Partial<MemifOptions> = {},
  slave: Partial<MemifOptions> = {},
): Promise<{ m: Memif; s: Memif; mc: MemifConnection; sc: MemifConnection; path: string }> {
  const path = sockPath();
  const m = openMemif({ socketPath: path, role: 'master', ...master });
  const s = openMemif({ socketPath: path, role: 'slave', ...slave });
  const [mc, sc] = await Promise.all([connected(m), connected(s)]);
  return { m, s, mc, sc, path };
}

/** Receives on `m` until `n` frames arrived (or 3 s passed); returns copies of them. */
async function collect(m: Memif, n: number, maxFrameSize = 9216, queueOf?: number[]): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  m.onFrames(
    (batch, q) => {
      for (let i = 0; i < batch.count; i++) {
        frames.push(Buffer.from(batch.packet(i)));
        queueOf?.push(q);
      }
    },
    { maxFrameSize },
  );
  const deadline = Date.now() + 3000;
  while (frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  return frames;
}

describe('memif handshake', () => {
  test('master and slave connect and report the negotiated parameters', async () => {
    const { mc, sc } = await pair(
      { queuePairs: 2, log2RingSize: 9, interfaceName: 'wg-master', appName: 'app-m' },
      { queuePairs: 4, log2RingSize: 11, bufferSize: 1024, interfaceName: 'wg-slave', appName: 'app-s' },
    );
    // The slave settles on the master's limits: 2 queue pairs, 2^9 slots.
    assert.deepEqual(sc, {
      rxQueues: 2,
      txQueues: 2,
      log2RingSize: 9,
      bufferSize: 1024,
      remoteName: 'app-m',
      remoteInterfaceName: 'wg-master',
    });
    assert.deepEqual(mc, {
      rxQueues: 2,
      txQueues: 2,
      log2RingSize: 9,
      bufferSize: 0,
      remoteName: 'app-s',
      remoteInterfaceName: 'wg-slave',
    });
  });

  test('a wrong secret, a missing secret, a wrong id and a wrong mode are refused with reasons', async () => {
    const path = sockPath();
    const m = openMemif({ socketPath: path, role: 'master', id: 7, secret: 'right-secret' });
    const cases: Array<[Partial<MemifOptions>, string]> = [
      [{ id: 7, secret: 'wrong-secret' }, 'Incorrect secret'],
      [{ id: 7 }, 'Secret required'],
      [{ id: 8, secret: 'right-secret' }, 'ID not found'],
      [{ id: 7, secret: 'right-secret', mode: 'ip' }, 'Mode mismatch'],
    ];
    for (const [opts, reason] of cases) {
      const s = openMemif({ socketPath: path, role: 'slave', reconnectMs: 60_000, ...opts });
      assert.equal(await waitEvent<string>(s, 'handshakeFailed'), `Peer disconnected: ${reason}`);
      assert.equal(s.connected, false);
      await s.close();
    }
    // The master kept listening: the right slave still gets in.
    const good = openMemif({ socketPath: path, role: 'slave', id: 7, secret: 'right-secret' });
    await connected(good);
    await connected(m);
  });

  test('a second slave for a connected id is refused; the first is unaffected', async () => {
    const { m, s, path } = await pair({ id: 3 }, { id: 3 });
    const intruder = openMemif({ socketPath: path, role: 'slave', id: 3, reconnectMs: 60_000 });
    assert.equal(await waitEvent<string>(intruder, 'handshakeFailed'), 'Peer disconnected: Already connected');
    await intruder.close();
    assert.ok(m.connected && s.connected);
    const tx = new PacketBatch(4, 100);
    tx.push(makeFrame(1, 100));
    assert.equal(s.txBurst(0, tx), 1);
    const got = await collect(m, 1);
    assert.ok(frameMatches(got[0], 1, 100, false));
  });

  test('several interface ids share one socket file, each with its own traffic', async () => {
    const path = sockPath();
    const m1 = openMemif({ socketPath: path, role: 'master', id: 1 });
    const m2 = openMemif({ socketPath: path, role: 'master', id: 2 });
    const s1 = openMemif({ socketPath: path, role: 'slave', id: 1 });
    const s2 = openMemif({ socketPath: path, role: 'slave', id: 2 });
    await Promise.all([connected(m1), connected(m2), connected(s1), connected(s2)]);
    const tx = new PacketBatch(4, 200);
    tx.push(makeFrame(11, 200));
    s1.txBurst(0, tx);
    tx.reset();
    tx.push(makeFrame(22, 150));
    s2.txBurst(0, tx);
    const [a, b] = await Promise.all([collect(m1, 1), collect(m2, 1)]);
    assert.equal(a.length, 1);
    assert.equal(b.length, 1);
    assert.ok(frameMatches(a[0], 11, 200, false));
    assert.ok(frameMatches(b[0], 22, 150, false));
    // The same id twice on one socket is a configuration error.
    assert.throws(() => Memif.open({ socketPath: path, role: 'master', id: 2 }), /already served/);
  });

  test('IP mode interfaces connect to each other', async () => {
    const { mc } = await pair({ mode: 'ip' }, { mode: 'ip' });
    assert.equal(mc.rxQueues, 1);
  });

  test('bad configurations throw before anything is opened', () => {
    const path = sockPath();
    assert.throws(() => Memif.open({ socketPath: path, queuePairs: 9 }), RangeError);
    assert.throws(() => Memif.open({ socketPath: path, log2RingSize: 15 }), RangeError);
    assert.throws(() => Memif.open({ socketPath: path, secret: 'x'.repeat(25) }), RangeError);
    assert.throws(() => Memif.open({ socketPath: path, bufferSize: 10 }), RangeError);
    assert.throws(() => Memif.open({ socketPath: 'x'.repeat(200) }), RangeError);
    assert.throws(
      () => Memif.open({ socketPath: path, queuePairs: 8, log2RingSize: 14, bufferSize: 65535 }),
      /4 GiB/,
    );
    assert.equal(existsSync(path), false);
  });

  test('the master removes its socket file on close, replaces a stale one and will not steal a live one', async () => {
    const path = sockPath();
    writeFileSync(path, 'not a socket');
    assert.throws(() => Memif.open({ socketPath: path }), /not a socket/);
    rmSync(path);
    const m = Memif.open({ socketPath: path });
    assert.ok(existsSync(path));
    assert.throws(() => Memif.open({ socketPath: path, id: 0 }), /already served/);
    await m.close();
    assert.equal(existsSync(path), false);
  });
});

describe('memif data path', () => {
  test('frames of every size from 1 to 9000 bytes cross both ways bit for bit, chained over 512-byte buffers', async () => {
    const { m, s } = await pair({ log2RingSize: 10 }, { log2RingSize: 10, bufferSize: 512 });
    const sizes = [1, 14, 60, 511, 512, 513, 1024, 1514, 2047, 4096, 8999, 9000];
    const tx = new PacketBatch(sizes.length, 9000);
    for (const [dirName, from, to] of [
      ['slave to master', s, m],
      ['master to slave', m, s],
    ] as const) {
      tx.reset();
      sizes.forEach((size, i) => tx.push(makeFrame(i, size)));
      assert.equal(from.txBurst(0, tx), sizes.length, dirName);
      const got = await collect(to, sizes.length);
      assert.equal(got.length, sizes.length, dirName);
      got.forEach((f, i) => assert.ok(frameMatches(f, i, sizes[i], false), `${dirName} frame ${i}`));
    }
    assert.equal(s.counters(0).txPackets, sizes.length);
    assert.equal(m.counters(0).rxPackets, sizes.length);
    assert.equal(m.counters(0).rxBytes, sizes.reduce((a, b) => a + b, 0));
  });

  test('received frames land at slotStart(i) + HEADROOM; transmitted frames are taken from offsets/lengths', async () => {
    const { m, s } = await pair();
    const tx = new PacketBatch(8, 1514);
    // A header written into the headroom goes out with the packet: move the offset back.
    const payload = Buffer.alloc(100, 0xab);
    tx.push(payload);
    const header = makeFrame(5, 14);
    tx.offsets[0] -= 14;
    tx.lengths[0] += 14;
    tx.slab.set(header, tx.offsets[0]);
    assert.equal(s.txBurst(0, tx), 1);
    const rx = new PacketBatch(8, 1514);
    rx.offsets[0] = 12345; // stale value: rxBurst must set it
    let n = 0;
    for (let i = 0; i < 100 && n === 0; i++) {
      n = m.rxBurst(0, rx);
      if (n === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(n, 1);
    assert.equal(rx.count, 1);
    assert.equal(rx.offsets[0], rx.slotStart(0) + HEADROOM);
    assert.equal(rx.lengths[0], 114);
    assert.deepEqual(rx.packet(0).subarray(0, 14), header);
    assert.deepEqual(rx.packet(0).subarray(14), payload);
  });

  test('frames go out and arrive on the queue they were sent on', async () => {
    const { m, s } = await pair({ queuePairs: 4 }, { queuePairs: 4 });
    const tx = new PacketBatch(4, 200);
    for (let q = 0; q < 4; q++) {
      tx.reset();
      tx.push(makeFrame(q, 100 + q));
      assert.equal(s.txBurst(q, tx), 1);
    }
    const queues: number[] = [];
    const got = await collect(m, 4, 1518, queues);
    assert.equal(got.length, 4);
    got.forEach((f, i) => assert.equal(queues[i], f.length - 100));
    for (let q = 0; q < 4; q++) assert.equal(m.counters(q).rxPackets, 1);
  });

  test('a full ring refuses the rest of a burst (counted as ring-full); draining makes room', async () => {
    const { m, s } = await pair({ log2RingSize: 4 }, { log2RingSize: 4 });
    const tx = new PacketBatch(40, 100);
    for (let i = 0; i < 40; i++) tx.push(makeFrame(i, 100));
    assert.equal(s.txBurst(0, tx), 16); // 2^4 slots
    assert.equal(s.counters(0).txRingFull, 24);
    assert.equal(s.txBurst(0, tx, 16), 0);
    const rx = new PacketBatch(64, 1514);
    assert.equal(m.rxBurst(0, rx), 16);
    for (let i = 0; i < 16; i++) assert.ok(frameMatches(rx.packet(i), i, 100, false));
    assert.equal(s.txBurst(0, tx, 16), 16);
    assert.equal(m.rxBurst(0, rx), 16);
    assert.ok(frameMatches(rx.packet(0), 16, 100, false));
  });

  test('send() transmits a whole batch at once; what the ring cannot take is dropped and counted', async () => {
    const { m, s } = await pair({ log2RingSize: 3, maxFrameSize: 1000 }, { log2RingSize: 3 });
    assert.equal(m.maxFrameSize, 1000);
    const tx = new PacketBatch(12, 100);
    for (let i = 0; i < 12; i++) tx.push(makeFrame(i, 100));
    s.send(tx);
    const c = s.counters(0);
    assert.deepEqual([c.txPackets, c.txRingFull], [8, 4]);
    const got = await collect(m, 8, m.maxFrameSize);
    assert.equal(got.length, 8);
    got.forEach((f, i) => assert.ok(frameMatches(f, i, 100, false)));
  });

  test('a frame larger than the receive slot is dropped and counted; the ones around it arrive', async () => {
    const { m, s } = await pair();
    const tx = new PacketBatch(3, 4000);
    tx.push(makeFrame(0, 100));
    tx.push(makeFrame(1, 4000));
    tx.push(makeFrame(2, 200));
    assert.equal(s.txBurst(0, tx), 3);
    const rx = new PacketBatch(8, 1518);
    let n = 0;
    for (let i = 0; i < 100 && n === 0; i++) {
      n = m.rxBurst(0, rx);
      if (n === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(n, 2);
    assert.ok(frameMatches(rx.packet(0), 0, 100, false));
    assert.ok(frameMatches(rx.packet(1), 2, 200, false));
    assert.equal(m.counters(0).rxDrops, 1);
  });

  test('empty frames are dropped on transmit; a disconnected interface consumes frames as drops', async () => {
    const { s } = await pair();
    const tx = new PacketBatch(2, 100);
    tx.push(Buffer.alloc(0));
    tx.push(makeFrame(1, 64));
    assert.equal(s.txBurst(0, tx), 2);
    assert.deepEqual([s.counters(0).txPackets, s.counters(0).txDrops], [1, 1]);
    const lonely = openMemif({ socketPath: sockPath(), role: 'master' });
    assert.equal(lonely.txBurst(0, tx), 2);
    assert.equal(lonely.counters(0).txDrops, 2);
    assert.throws(() => lonely.txBurst(1, tx), RangeError); // beyond the configured queues
    tx.offsets[1] = tx.slab.length; // a frame outside the slab is a programming error
    assert.throws(() => s.txBurst(0, tx), RangeError);
  });

  test('100 000 mixed-size frames echo through two queue pairs, in interrupt and in polling mode', async () => {
    for (const polling of [false, true]) {
      const { m, s } = await pair({ queuePairs: 2, polling }, { queuePairs: 2, polling, log2RingSize: 8 });
      // The master echoes everything back on the queue it came from.
      m.onFrames((batch, q) => {
        let done = 0;
        while (done < batch.count) done += m.txBurst(q, batch, done, batch.count - done);
      });
      const r = await echo(s, { count: 100_000, window: 100, swapped: false });
      assert.deepEqual(
        { received: r.received, corrupt: r.corrupt, duplicate: r.duplicate, wrongQueue: r.wrongQueue },
        { received: 100_000, corrupt: 0, duplicate: 0, wrongQueue: 0 },
        `polling=${polling}`,
      );
      await s.close();
      await m.close();
    }
  });
});

describe('memif peer loss', () => {
  test('a slave notices its master closing within a second and reconnects when it is back', async () => {
    const path = sockPath();
    let m = Memif.open({ socketPath: path, role: 'master' });
    const s = openMemif({ socketPath: path, role: 'slave', reconnectMs: 50 });
    await Promise.all([connected(m), connected(s)]);
    const gone = waitEvent<string>(s, 'disconnected', 1000);
    const t0 = Date.now();
    await m.close();
    assert.equal(await gone, 'Peer disconnected: Interface closed');
    assert.ok(Date.now() - t0 < 1000);
    m = openMemif({ socketPath: path, role: 'master' });
    await Promise.all([connected(m), waitEvent(s, 'connected')]);
    const tx = new PacketBatch(1, 300);
    tx.push(makeFrame(9, 300));
    assert.equal(s.txBurst(0, tx), 1);
    const got = await collect(m, 1);
    assert.ok(frameMatches(got[0], 9, 300, false));
  });

  test('a master notices its slave going and accepts the next one', async () => {
    const { m, s, path } = await pair();
    const gone = waitEvent<string>(m, 'disconnected', 1000);
    await s.close();
    assert.equal(await gone, 'Peer disconnected: Interface closed');
    const s2 = openMemif({ socketPath: path, role: 'slave' });
    await Promise.all([connected(s2), waitEvent(m, 'connected')]);
    assert.ok(m.connected);
  });

  test('disconnect(reason) drops the connection and the peer is told why; the slave comes back', async () => {
    const { m, s } = await pair();
    const peerSaw = waitEvent<string>(s, 'disconnected');
    const weSaw = waitEvent<string>(m, 'disconnected');
    m.disconnect('maintenance');
    assert.equal(await peerSaw, 'Peer disconnected: maintenance');
    assert.equal(await weSaw, 'maintenance');
    await Promise.all([waitEvent(m, 'connected'), waitEvent(s, 'connected')]);
  });

  test('a slave keeps retrying until a master appears', async () => {
    const path = sockPath();
    const s = openMemif({ socketPath: path, role: 'slave', reconnectMs: 20 });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(s.connected, false);
    const m = openMemif({ socketPath: path, role: 'master' });
    await Promise.all([connected(s), connected(m)]);
  });
});
