// Core data-path benchmark: how many 1420-byte packets per second one core routes, seals
// and hands to the bind (send), and checks, opens and hands to the packet device (receive),
// with the in-memory device and a bind that only counts. Run: npm run bench:core
import { createCipheriv, randomBytes } from 'node:crypto';
import { Device } from '../src/wireguard/device.js';
import { MemoryBind, MemoryNetwork } from '../src/bind/memory.js';
import { MemoryTun } from '../src/tun/memory.js';
import { PacketBatch } from '../src/wireguard/batch.js';
import { generatePrivateKey, publicKey } from '../src/crypto/x25519.js';
import { parsePrefix } from '../src/wireguard/ip.js';
import type { Endpoint } from '../src/wireguard/endpoint.js';
import type { Prefix } from '../src/wireguard/config.js';
import { ipv4Udp, settle } from '../test/helpers/packets.js';

const PACKET = 1420;
const BATCH = 64;
const SECONDS = 2;

function prefix(t: string): Prefix {
  return parsePrefix(t) as Prefix;
}

/** Captures what the device sends instead of delivering it. */
class CapturingBind extends MemoryBind {
  capture: Buffer[] | null = null;
  sentPackets = 0;
  override send(batch: PacketBatch, destinations: readonly Endpoint[]): void {
    if (this.capture === null) return super.send(batch, destinations);
    this.sentPackets += batch.count;
    if (this.capture.length < 200_000) for (let i = 0; i < batch.count; i++) this.capture.push(Buffer.from(batch.packet(i)));
  }
}

async function main(): Promise<void> {
  const net = new MemoryNetwork();
  const tunA = new MemoryTun(1420, BATCH);
  const tunB = new MemoryTun(1420, BATCH);
  // Count what B delivers instead of keeping it.
  let delivered = 0;
  tunB.write = (batch: PacketBatch) => {
    delivered += batch.count;
  };
  const bindA = new CapturingBind(net, '192.0.2.1');
  const bindB = new MemoryBind(net, '192.0.2.2');
  const a = new Device({ tun: tunA, bind: bindA });
  const b = new Device({ tun: tunB, bind: bindB });
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  await a.applyConfig({ privateKey: ka, replacePeers: false, peers: [] });
  await b.applyConfig({ privateKey: kb, replacePeers: false, peers: [] });
  await a.up();
  await b.up();
  await a.applyConfig({ replacePeers: false, peers: [{ publicKey: publicKey(kb), remove: false, updateOnly: false, endpoint: bindB.endpoint, replaceAllowedIps: false, allowedIps: [prefix('10.0.0.2/32')] }] });
  await b.applyConfig({ replacePeers: false, peers: [{ publicKey: publicKey(ka), remove: false, updateOnly: false, endpoint: bindA.endpoint, replaceAllowedIps: false, allowedIps: [prefix('10.0.0.1/32')] }] });
  tunA.inject([ipv4Udp('10.0.0.1', '10.0.0.2')]);
  await settle();

  // Send: a batch of 64 packets routed, sealed and passed to the bind, over and over.
  const packets = Array.from({ length: BATCH }, () => ipv4Udp('10.0.0.1', '10.0.0.2', Buffer.alloc(PACKET - 28, 7)));
  const source = new PacketBatch(BATCH, 1420);
  bindA.capture = [];
  let sent = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    source.reset();
    for (const p of packets) source.push(p);
    a.sender.sendPackets(source);
    sent += BATCH;
  }
  const sendRate = sent / ((performance.now() - t0) / 1000);

  // Receive: the captured datagrams fed back to B in batches.
  const captured = bindA.capture;
  const rx = new PacketBatch(BATCH, 1500);
  const sources: Endpoint[] = new Array<Endpoint>(BATCH).fill(bindA.endpoint);
  let received = 0;
  delivered = 0;
  const t1 = performance.now();
  for (let i = 0; i < captured.length && performance.now() - t1 < SECONDS * 1000; i += BATCH) {
    rx.reset();
    for (let j = i; j < Math.min(i + BATCH, captured.length); j++) rx.push(captured[j]);
    b.receiver.receive(rx, sources);
    received += rx.count;
  }
  const recvRate = received / ((performance.now() - t1) / 1000);
  const gbit = (r: number) => ((r * PACKET * 8) / 1e9).toFixed(2);
  console.log(`core send:    ${Math.round(sendRate).toLocaleString()} packets/s (${gbit(sendRate)} Gbit/s of ${PACKET}-byte packets)`);
  console.log(`core receive: ${Math.round(recvRate).toLocaleString()} packets/s (${gbit(recvRate)} Gbit/s)`);
  const refRate = nodeCryptoPerPacketRate(packets[0]);
  if (delivered !== received) throw new Error(`receive path delivered ${delivered} of ${received}`);
  console.log(`reference:    ${Math.round(refRate).toLocaleString()} packets/s (${gbit(refRate)} Gbit/s) sealing with node:crypto, one call per packet`);
  console.log(`ratio send/reference: ${(sendRate / refRate).toFixed(2)}, receive/reference: ${(recvRate / refRate).toFixed(2)}`);
  await a.close();
  await b.close();
}

/** The same work done the obvious way: one node:crypto cipher object per packet. */
function nodeCryptoPerPacketRate(packet: Buffer): number {
  const key = randomBytes(32);
  const nonce = Buffer.alloc(12);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    for (let i = 0; i < BATCH; i++) {
      nonce.writeUInt32LE(n++, 4);
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      c.update(packet);
      c.final();
      c.getAuthTag();
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

void main();
