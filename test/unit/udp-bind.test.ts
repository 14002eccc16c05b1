// UdpBind (src/bind/udp.ts, on native/udp.cc) on loopback: dual-stack binding, one batch
// per recvmmsg, oversize drops, sendmmsg to mixed destinations, re-binding and its failure,
// SO_MARK applied to the sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { UdpBind } from '../../src/bind/udp.js';
import { ADDRESS_RECORD_SIZE, nativeUdp } from '../../src/bind/udp-native.js';
import { PacketBatch } from '../../src/wireguard/batch.js';
import type { Endpoint } from '../../src/wireguard/endpoint.js';
import { until } from '../helpers/exec.js';

interface Received {
  data: Buffer;
  from: Endpoint;
}

/** Collects what a bind delivers, with the size of every batch. */
function collect(bind: UdpBind): { got: Received[]; batchSizes: number[] } {
  const got: Received[] = [];
  const batchSizes: number[] = [];
  bind.onReceive((batch, sources) => {
    batchSizes.push(batch.count);
    for (let i = 0; i < batch.count; i++) got.push({ data: Buffer.from(batch.packet(i)), from: sources[i] });
  });
  return { got, batchSizes };
}


async function client(type: 'udp4' | 'udp6'): Promise<Socket> {
  const s = createSocket(type);
  await new Promise<void>((r) => s.bind(0, r));
  return s;
}

function sendFrom(sock: Socket, data: Buffer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => sock.send(data, port, host, (err) => (err ? reject(err) : resolve())));
}

test('open(0) binds IPv4 and IPv6 on one port and delivers from both families', async () => {
  const bind = new UdpBind();
  try {
    const { got } = collect(bind);
    const port = await bind.open(0);
    assert.ok(port > 0);
    assert.equal(bind.port, port);
    const c4 = await client('udp4');
    const c6 = await client('udp6');
    await sendFrom(c4, Buffer.from('four'), port, '127.0.0.1');
    await sendFrom(c6, Buffer.from('six'), port, '::1');
    await until(() => got.length === 2);
    const byText = new Map(got.map((g) => [g.data.toString(), g.from]));
    assert.deepEqual(byText.get('four'), { family: 4, address: '127.0.0.1', port: c4.address().port });
    assert.deepEqual(byText.get('six'), { family: 6, address: '::1', port: c6.address().port });
    c4.close();
    c6.close();
  } finally {
    await bind.close();
  }
});

test('datagrams arriving in one turn are delivered as one batch, split at capacity', async () => {
  const bind = new UdpBind({ batchSize: 4 });
  try {
    const { got, batchSizes } = collect(bind);
    const port = await bind.open(0);
    const c = await client('udp4');
    // Queued in one go: they are all in the socket buffer before the bind's next turn.
    for (let i = 0; i < 10; i++) c.send(Buffer.from([i, i, i]), port, '127.0.0.1');
    await until(() => got.length === 10);
    assert.ok(batchSizes.every((n) => n >= 1 && n <= 4), `batch sizes ${batchSizes}`);
    assert.ok(batchSizes.length < 10, `no coalescing: ${batchSizes}`);
    assert.deepEqual(
      got.map((g) => g.data[0]),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    // One sender: the same Endpoint object is reused across the burst.
    assert.ok(got.every((g) => g.from === got[0].from));
    assert.equal(bind.stats.rxDatagrams, 10);
    c.close();
  } finally {
    await bind.close();
  }
});

test('a datagram larger than a slot is a counted drop', async () => {
  const bind = new UdpBind({ maxDatagramSize: 100 });
  try {
    const { got } = collect(bind);
    const port = await bind.open(0);
    const c = await client('udp4');
    await sendFrom(c, Buffer.alloc(101, 1), port, '127.0.0.1');
    await sendFrom(c, Buffer.alloc(100, 2), port, '127.0.0.1');
    await until(() => got.length === 1);
    assert.equal(got[0].data.length, 100);
    assert.equal(bind.stats.rxOversize, 1);
    c.close();
  } finally {
    await bind.close();
  }
});

test('send() delivers each datagram of a batch to its destination, IPv4 and IPv6', async () => {
  const a = new UdpBind();
  const b = new UdpBind();
  try {
    const { got } = collect(b);
    const portA = await a.open(0);
    const portB = await b.open(0);
    const batch = new PacketBatch(4, 1500);
    batch.push(Buffer.from('one'));
    batch.push(Buffer.from('two'));
    batch.push(Buffer.from('three'));
    const to4: Endpoint = { family: 4, address: '127.0.0.1', port: portB };
    const to6: Endpoint = { family: 6, address: '::1', port: portB };
    a.send(batch, [to4, to6, to4]);
    // The slab is reused at once by the caller: the bind must have copied.
    batch.slab.fill(0);
    await until(() => got.length === 3);
    assert.deepEqual(got.map((g) => g.data.toString()).sort(), ['one', 'three', 'two']);
    assert.ok(got.every((g) => g.from.port === portA));
    assert.equal(a.stats.txDatagrams, 3);
    assert.equal(a.stats.txErrors, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

test('re-opening moves to the new port; a port in use rejects with errno 98 and keeps the old one', async () => {
  const bind = new UdpBind();
  const other = await client('udp4');
  try {
    const { got } = collect(bind);
    const p1 = await bind.open(0);
    const p2 = await bind.open(0);
    assert.notEqual(p1, p2);
    assert.equal(await bind.open(p2), p2, 're-opening the current port is a no-op');
    // The first port was released.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(p1, '0.0.0.0', () => resolve());
    });
    probe.close();

    const taken = other.address().port;
    await assert.rejects(bind.open(taken), (err: Error & { errno?: number }) => {
      assert.equal(err.errno, 98);
      return true;
    });
    assert.equal(bind.port, p2);
    const c = await client('udp4');
    await sendFrom(c, Buffer.from('still here'), p2, '127.0.0.1');
    await until(() => got.length === 1);
    c.close();
  } finally {
    other.close();
    await bind.close();
  }
});

test('setMark is recorded; close is idempotent and sending after it is counted as errors', async () => {
  const bind = new UdpBind();
  await bind.open(0);
  bind.setMark(0x1234);
  assert.equal(bind.fwmark, 0x1234);
  await bind.close();
  await bind.close();
  assert.equal(bind.port, 0);
  const batch = new PacketBatch(1, 100);
  batch.push(Buffer.from('x'));
  bind.send(batch, [{ family: 4, address: '127.0.0.1', port: 9 }]);
  assert.equal(bind.stats.txErrors, 1);
});

test('invalid ports are refused', async () => {
  const bind = new UdpBind();
  for (const port of [-1, 65536, 1.5]) {
    await assert.rejects(bind.open(port), (err: Error & { errno?: number }) => err.errno === 22);
  }
  assert.equal(bind.port, 0);
});

/** Sends every datagram in one sendmmsg from a native socket, so all are queued at once. */
function burst(port: number, payloads: Buffer[]): void {
  const { UdpSocket } = nativeUdp();
  const sock = new UdpSocket(4);
  try {
    sock.bind(0);
    const batch = new PacketBatch(payloads.length, 2048);
    for (const p of payloads) assert.ok(batch.push(p));
    const dests = new Uint8Array(payloads.length * ADDRESS_RECORD_SIZE);
    for (let i = 0; i < payloads.length; i++) {
      const r = i * ADDRESS_RECORD_SIZE;
      dests.set([4, 0, port >> 8, port & 0xff, 127, 0, 0, 1], r);
    }
    const result = new Float64Array(3);
    sock.sendBatch(batch.slab, batch.count, batch.offsets, batch.lengths, dests, result);
    assert.equal(result[0], payloads.length, 'burst sent whole');
  } finally {
    sock.close();
  }
}

test('a burst already queued arrives in one callback, one recvmmsg', async () => {
  const bind = new UdpBind({ batchSize: 64 });
  try {
    const { got, batchSizes } = collect(bind);
    const port = await bind.open(0);
    burst(
      port,
      Array.from({ length: 50 }, (_, i) => Buffer.alloc(1 + i, i)),
    );
    await until(() => got.length === 50);
    assert.deepEqual(batchSizes, [50]);
    assert.deepEqual(
      got.map((g) => [g.data.length, g.data[0]]),
      Array.from({ length: 50 }, (_, i) => [1 + i, i]),
    );
    assert.ok(got.every((g) => g.from === got[0].from && g.from.address === '127.0.0.1'));
    assert.equal(bind.stats.rxDatagrams, 50);
    assert.equal(bind.stats.rxBytes, (50 * 51) / 2);
  } finally {
    await bind.close();
  }
});

test('an oversized datagram inside a burst is dropped and counted, the rest keep their order', async () => {
  const bind = new UdpBind({ maxDatagramSize: 100 });
  try {
    const { got, batchSizes } = collect(bind);
    const port = await bind.open(0);
    burst(port, [Buffer.alloc(100, 1), Buffer.alloc(101, 2), Buffer.alloc(1000, 3), Buffer.alloc(7, 4)]);
    await until(() => got.length === 2);
    assert.deepEqual(batchSizes, [2]);
    assert.deepEqual(
      got.map((g) => [g.data.length, g.data[0]]),
      [
        [100, 1],
        [7, 4],
      ],
    );
    assert.equal(bind.stats.rxOversize, 2);
    assert.equal(bind.stats.rxDatagrams, 2);
  } finally {
    await bind.close();
  }
});

test('each sender keeps one Endpoint object across batches, IPv4 and IPv6 interleaved', async () => {
  const bind = new UdpBind();
  try {
    const { got } = collect(bind);
    const port = await bind.open(0);
    const clients = [await client('udp4'), await client('udp6'), await client('udp4')];
    const hosts = ['127.0.0.1', '::1', '127.0.0.1'];
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < clients.length; k++) await sendFrom(clients[k], Buffer.from([k]), port, hosts[k]);
    }
    await until(() => got.length === 15);
    for (let k = 0; k < clients.length; k++) {
      const mine = got.filter((g) => g.data[0] === k);
      assert.equal(mine.length, 5);
      assert.ok(mine.every((g) => g.from === mine[0].from), `sender ${k} reuses its Endpoint`);
      assert.deepEqual(mine[0].from, { family: k === 1 ? 6 : 4, address: hosts[k], port: clients[k].address().port });
    }
    for (const c of clients) c.close();
  } finally {
    await bind.close();
  }
});

test('an IPv4-mapped IPv6 destination goes out over IPv4; an unusable one is a counted error', async () => {
  const a = new UdpBind();
  const b = new UdpBind();
  try {
    const { got } = collect(b);
    const portA = await a.open(0);
    const portB = await b.open(0);
    const batch = new PacketBatch(3, 100);
    batch.push(Buffer.from('mapped'));
    batch.push(Buffer.from('bad'));
    batch.push(Buffer.from('plain'));
    const mapped: Endpoint = { family: 6, address: '::ffff:127.0.0.1', port: portB };
    const bad: Endpoint = { family: 4, address: 'not-an-address', port: portB };
    const plain: Endpoint = { family: 6, address: '::1', port: portB };
    a.send(batch, [mapped, bad, plain]);
    assert.equal(a.stats.txDatagrams, 2);
    assert.equal(a.stats.txErrors, 1);
    await until(() => got.length === 2);
    const byText = new Map(got.map((g) => [g.data.toString(), g.from]));
    assert.deepEqual(byText.get('mapped'), { family: 4, address: '127.0.0.1', port: portA });
    assert.deepEqual(byText.get('plain'), { family: 6, address: '::1', port: portA });
  } finally {
    await a.close();
    await b.close();
  }
});

test('a port taken for IPv6 only also rejects with errno 98 and leaves IPv4 free', async () => {
  const bind = new UdpBind();
  const taker = createSocket({ type: 'udp6', ipv6Only: true });
  try {
    await new Promise<void>((r) => taker.bind(0, '::', r));
    const taken = taker.address().port;
    await assert.rejects(bind.open(taken), (err: Error & { errno?: number; code?: string }) => {
      assert.equal(err.errno, 98);
      assert.equal(err.code, 'EADDRINUSE');
      return true;
    });
    assert.equal(bind.port, 0);
    // The IPv4 socket bound first was closed again.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(taken, '0.0.0.0', () => resolve());
    });
    probe.close();
  } finally {
    taker.close();
    await bind.close();
  }
});

test('fwmark is applied to both sockets (SO_MARK), kept across re-opening, and cleared by 0', async () => {
  const bind = new UdpBind();
  try {
    // Setting SO_MARK needs CAP_NET_ADMIN; without it the mark is recorded and logged only.
    const privileged = process.getuid?.() === 0;
    bind.setMark(0xabcd);
    await bind.open(0);
    assert.equal(bind.fwmark, 0xabcd);
    assert.deepEqual(bind.socketMarks(), privileged ? [0xabcd, 0xabcd] : [0, 0]);
    await bind.open(0);
    assert.deepEqual(bind.socketMarks(), privileged ? [0xabcd, 0xabcd] : [0, 0], 'new sockets get the mark too');
    bind.setMark(0x7fffffff + 2);
    assert.deepEqual(bind.socketMarks(), privileged ? [0x80000001, 0x80000001] : [0, 0]);
    bind.setMark(0);
    assert.deepEqual(bind.socketMarks(), [0, 0]);
    assert.equal(bind.fwmark, 0);
  } finally {
    await bind.close();
  }
  assert.deepEqual(bind.socketMarks(), []);
});

test('the native socket refuses bad arguments before touching memory', () => {
  const { UdpSocket } = nativeUdp();
  assert.throws(() => new UdpSocket(5 as 4), RangeError);
  const sock = new UdpSocket(4);
  try {
    sock.bind(0);
    const batch = new PacketBatch(2, 100);
    batch.push(Buffer.from('x'));
    const dests = new Uint8Array(ADDRESS_RECORD_SIZE);
    const result = new Float64Array(3);
    // count beyond the destination records
    assert.throws(() => sock.sendBatch(batch.slab, 2, batch.offsets, batch.lengths, dests, result), RangeError);
    // a datagram reaching past the slab
    batch.offsets[0] = batch.slab.length - 1;
    batch.lengths[0] = 2;
    assert.throws(() => sock.sendBatch(batch.slab, 1, batch.offsets, batch.lengths, dests, result), RangeError);
    // a slab too small for the receive geometry
    assert.throws(
      () => sock.start(batch.slab, batch.offsets, batch.lengths, dests, batch.slotSize, 32, 100, 3, () => {}),
      RangeError,
    );
    assert.throws(() => sock.bind(70000), RangeError);
  } finally {
    sock.close();
  }
  assert.throws(() => sock.bind(0), (err: Error & { errno?: number }) => err.errno === 9);
});

test('fwmark steers the datagrams: an ip rule on the mark routes them into a prohibit route', () => {
  // In a fresh network namespace: 192.0.2.0/24 is reachable through a veth interface in
  // the main table, but table 100, chosen by `fwmark 0xabcd`, prohibits it (EACCES).
  const ns = `udpmark${process.pid}`;
  const ip = (...args: string[]): void => {
    execFileSync('ip', ['-n', ns, ...args], { stdio: 'pipe' });
  };
  execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
  try {
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    ip('link', 'set', 'va', 'up');
    ip('link', 'set', 'vb', 'up');
    ip('addr', 'add', '192.0.2.2/24', 'dev', 'va');
    ip('rule', 'add', 'fwmark', '0xabcd', 'lookup', '100', 'priority', '10');
    ip('route', 'add', 'prohibit', '192.0.2.0/24', 'table', '100');
    const udp = new URL('../../src/bind/udp.js', import.meta.url).href;
    const batchJs = new URL('../../src/wireguard/batch.js', import.meta.url).href;
    const script = `
      import { UdpBind } from ${JSON.stringify(udp)};
      import { PacketBatch } from ${JSON.stringify(batchJs)};
      const bind = new UdpBind();
      await bind.open(0);
      const batch = new PacketBatch(1, 100);
      const to = { family: 4, address: '192.0.2.1', port: 9 };
      const results = [];
      for (const mark of [0, 0xabcd, 0]) {
        bind.setMark(mark);
        batch.reset();
        batch.push(Buffer.from('x'));
        const before = bind.stats.txDatagrams;
        bind.send(batch, [to]);
        results.push(bind.stats.txDatagrams - before);
      }
      await bind.close();
      console.log(JSON.stringify(results));
    `;
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    // Sent unmarked, refused while marked, sent again once the mark is cleared.
    assert.deepEqual(JSON.parse(out.trim()), [1, 0, 1]);
  } finally {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
  }
});
