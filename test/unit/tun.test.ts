// Kernel TUN device (native/tun.cc through src/tun/kernel-tun.ts), against the real kernel:
// needs root and /dev/net/tun. Interfaces get a per-run name and a random /30 from the
// benchmarking range 198.18.0.0/15, and are deleted in `finally` blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { KernelTun } from '../../src/tun/kernel-tun.js';
import { PacketBatch } from '../../src/wireguard/batch.js';

function uniqueName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 15);
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function deleteLink(name: string): void {
  try {
    ip('link', 'del', name);
  } catch {
    // Already gone (closing a non-persistent TUN removes it).
  }
}

interface Subnet {
  local: string;
  peer: string;
}

// A random /30 in 198.18.0.0/15: .1 is ours (the interface address), .2 is "the peer".
function randomSubnet(): Subnet {
  const b = randomBytes(2);
  const base = `198.${18 + (b[0] & 1)}.${b[1]}`;
  const host = (b[0] >> 1) & 0x3c;
  return { local: `${base}.${host + 1}`, peer: `${base}.${host + 2}` };
}

function bringUp(name: string, net: Subnet): void {
  ip('addr', 'add', `${net.local}/30`, 'dev', name);
  ip('link', 'set', name, 'up');
}

function ipv4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

function ipv4String(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

// An IPv4/UDP packet with a correct header checksum (UDP checksum 0 = none, legal on IPv4).
function udpPacket(src: string, srcPort: number, dst: string, dstPort: number, payload: Uint8Array): Uint8Array {
  const total = 20 + 8 + payload.length;
  const p = Buffer.alloc(total);
  p[0] = 0x45;
  p.writeUInt16BE(total, 2);
  p.writeUInt16BE(0x1234, 4);
  p[8] = 64; // TTL
  p[9] = 17; // UDP
  p.set(ipv4Bytes(src), 12);
  p.set(ipv4Bytes(dst), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  p.writeUInt16BE(srcPort, 20);
  p.writeUInt16BE(dstPort, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  p.set(payload, 28);
  return new Uint8Array(p);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

test('TUN: a UDP datagram routed into the interface arrives as an IPv4 packet in a batch', async () => {
  const name = uniqueName('wgt');
  const net = randomSubnet();
  const tun = KernelTun.open(name, 1420);
  const sock = dgram.createSocket('udp4');
  try {
    assert.equal(tun.name, name);
    assert.equal(tun.mtu, 1420);
    assert.equal(execFileSync('cat', [`/sys/class/net/${name}/mtu`]).toString().trim(), '1420');
    bringUp(name, net);
    const payload = randomBytes(200);
    const port = 40000 + (randomBytes(2).readUInt16BE(0) % 20000);
    const burst = 20;
    let largestBatch = 0;
    let seen = 0;
    const got = new Promise<Uint8Array>((resolve) => {
      tun.onPackets((batch) => {
        largestBatch = Math.max(largestBatch, batch.count);
        for (let i = 0; i < batch.count; i++) {
          const pkt = batch.packet(i);
          // Only ours: IPv4, UDP, to the peer address and port, with our payload.
          if (pkt.length < 28 || pkt[0] >> 4 !== 4 || pkt[9] !== 17) continue;
          if (ipv4String(pkt, 16) !== net.peer || pkt.readUInt16BE(22) !== port) continue;
          if (!pkt.subarray(28).equals(payload)) continue;
          if (++seen === burst) resolve(Uint8Array.from(pkt));
        }
      });
    });
    // One burst in one tick: the kernel queues them all before our poll callback runs.
    for (let i = 0; i < burst; i++) sock.send(payload, port, net.peer);
    const pkt = await withTimeout(got, 3000, 'datagrams through the TUN');
    assert.equal(pkt.length, 20 + 8 + payload.length);
    assert.equal(ipv4String(pkt, 12), net.local);
    assert.equal((pkt[2] << 8) | pkt[3], pkt.length);
    assert.ok(largestBatch > 1, `expected several packets per read, largest batch was ${largestBatch}`);
    assert.ok(tun.rxPackets >= burst);
    assert.ok(tun.rxBytes >= burst * pkt.length);
  } finally {
    sock.close();
    await tun.close();
    deleteLink(name);
  }
});

test('TUN: packets written to the interface are delivered to a local socket', async () => {
  const name = uniqueName('wgt');
  const net = randomSubnet();
  const tun = KernelTun.open(name, 1420);
  const sock = dgram.createSocket('udp4');
  // The kernel may send its own packets (e.g. IPv6 router solicitations) into the new
  // link; with no handler they would count as drops.
  tun.onPackets(() => {});
  try {
    bringUp(name, net);
    await new Promise<void>((resolve) => sock.bind(0, net.local, resolve));
    const port = sock.address().port;
    const count = 5;
    const received: Array<{ msg: Buffer; from: string; fromPort: number }> = [];
    const all = new Promise<void>((resolve) => {
      sock.on('message', (msg, rinfo) => {
        received.push({ msg, from: rinfo.address, fromPort: rinfo.port });
        if (received.length === count) resolve();
      });
    });
    const batch = new PacketBatch(count, 1420);
    const payloads: Buffer[] = [];
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const payload = randomBytes(50 + i * 100);
      payloads.push(payload);
      const pkt = udpPacket(net.peer, 5555, net.local, port, payload);
      bytes += pkt.length;
      assert.ok(batch.push(pkt));
    }
    tun.write(batch);
    await withTimeout(all, 3000, 'written packets to reach the socket');
    assert.equal(tun.txPackets, count);
    assert.equal(tun.txBytes, bytes);
    assert.equal(tun.drops, 0);
    const sorted = received.sort((a, b) => a.msg.length - b.msg.length);
    for (let i = 0; i < count; i++) {
      assert.equal(sorted[i].from, net.peer);
      assert.equal(sorted[i].fromPort, 5555);
      assert.deepEqual(sorted[i].msg, payloads[i]);
    }
  } finally {
    sock.close();
    await tun.close();
    deleteLink(name);
  }
});

test('TUN: a throwing packet handler is logged and counted as drops, not thrown out', async () => {
  const name = uniqueName('wgt');
  const net = randomSubnet();
  const errors: string[] = [];
  const logger = { error: (m: string) => errors.push(m), verbose: () => {}, debug: () => {} };
  const tun = KernelTun.open(name, 1420, { logger, readBatch: 8 });
  const sock = dgram.createSocket('udp4');
  try {
    bringUp(name, net);
    const calls = new Promise<void>((resolve) => {
      tun.onPackets(() => {
        resolve();
        throw new Error('handler bug');
      });
    });
    sock.send(randomBytes(10), 9, net.peer);
    await withTimeout(calls, 3000, 'a packet to reach the handler');
    assert.ok(tun.drops >= 1);
    assert.match(errors[0] ?? '', /handler bug/);
  } finally {
    sock.close();
    await tun.close();
    deleteLink(name);
  }
});

test('TUN: `ip link del` fires onClose within two seconds, once', async () => {
  const name = uniqueName('wgt');
  const tun = KernelTun.open(name, 1280);
  try {
    ip('link', 'set', name, 'up');
    let closes = 0;
    const closed = new Promise<number>((resolve) => {
      tun.onClose(() => {
        closes++;
        resolve(Date.now());
      });
    });
    const start = Date.now();
    ip('link', 'del', name);
    const at = await withTimeout(closed, 2500, 'onClose after ip link del');
    assert.ok(at - start <= 2000, `onClose took ${at - start} ms`);
    // Writing to a gone device is a counted drop, never an exception.
    const batch = new PacketBatch(2, 1280);
    batch.push(new Uint8Array(40));
    batch.push(new Uint8Array(40));
    tun.write(batch);
    assert.equal(tun.drops, 2);
    await new Promise((r) => setTimeout(r, 1200)); // a presence check later: still one close
    assert.equal(closes, 1);
  } finally {
    await tun.close();
    deleteLink(name);
  }
});

test('TUN: the /sys/class/net presence check fires onClose when the name goes away without a read error', async () => {
  // Renaming leaves the fd working (no read error), so only the once-a-second check sees it.
  const name = uniqueName('wgt');
  const renamed = uniqueName('wgr');
  const tun = KernelTun.open(name, 1420);
  try {
    const closed = new Promise<void>((resolve) => tun.onClose(resolve));
    const start = Date.now();
    ip('link', 'set', name, 'name', renamed);
    await withTimeout(closed, 2500, 'onClose after rename');
    assert.ok(Date.now() - start <= 2200);
    // onClose released the fd, which removes the (non-persistent) interface.
    assert.equal(existsSync(`/sys/class/net/${renamed}`), false);
  } finally {
    await tun.close();
    deleteLink(name);
    deleteLink(renamed);
  }
});

test('TUN: a name pattern gets the kernel-chosen name; close removes the interface and is idempotent', async () => {
  const prefix = uniqueName('wgp').slice(0, 11);
  const tun = KernelTun.open(`${prefix}%d`);
  try {
    assert.match(tun.name, new RegExp(`^${prefix}\\d+$`));
    assert.equal(tun.mtu, 1420);
    assert.ok(existsSync(`/sys/class/net/${tun.name}`));
    let closes = 0;
    tun.onClose(() => closes++);
    await tun.close();
    await tun.close();
    assert.equal(existsSync(`/sys/class/net/${tun.name}`), false);
    assert.equal(closes, 0, 'our own close is not "the device went away"');
  } finally {
    await tun.close();
    deleteLink(tun.name);
  }
});

test('TUN: a worker thread that exits with a TUN open (or just closed) tears down cleanly', async () => {
  // Regression: libuv used to run the poll handle's close callback after Node had unloaded
  // the addon from the exiting worker, crashing the whole process.
  const names = [uniqueName('wgw'), uniqueName('wgw')];
  const moduleUrl = new URL('../../src/tun/kernel-tun.js', import.meta.url).href;
  try {
    const worker = new Worker(
      `const { parentPort, workerData } = await import('node:worker_threads');
       const { KernelTun } = await import(workerData.moduleUrl);
       KernelTun.open(workerData.names[0]);
       await KernelTun.open(workerData.names[1]).close();
       parentPort.postMessage('ready');
       for (;;) {}`,
      { eval: true, workerData: { moduleUrl, names } },
    );
    await withTimeout(new Promise((resolve) => worker.once('message', resolve)), 5000, 'worker start');
    await worker.terminate();
    for (const n of names) assert.equal(existsSync(`/sys/class/net/${n}`), false, `${n} left behind`);
  } finally {
    for (const n of names) deleteLink(n);
  }
});

test('TUN: bad names and MTUs are rejected before anything is created', () => {
  assert.throws(() => KernelTun.open('x'.repeat(16)), RangeError);
  assert.throws(() => KernelTun.open('bad/name'), RangeError);
  assert.throws(() => KernelTun.open(uniqueName('wgt'), 20), RangeError);
  assert.throws(() => KernelTun.open(uniqueName('wgt'), 70000), RangeError);
});
