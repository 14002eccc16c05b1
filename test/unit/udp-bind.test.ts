// UdpBind (src/bind/udp.ts) on loopback: dual-stack binding, batching of datagrams that
// arrive in one event-loop turn, oversize drops, sending, re-binding and its failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { UdpBind } from '../../src/bind/udp.js';
import { PacketBatch } from '../../src/wireguard/batch.js';
import type { Endpoint } from '../../src/wireguard/endpoint.js';

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

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
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
