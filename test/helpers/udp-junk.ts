// Sends malformed and replayed WireGuard datagrams at a target, for the "bad input on the
// wire" interop test. Run inside a namespace as a script:
//   WG_TS_JUNK_TARGET=192.0.2.2:51820 [WG_TS_JUNK_PCAP=capture.pcap] node udp-junk.js
// It prints one JSON line with what it sent. Without WG_TS_JUNK_TARGET it does nothing:
// node's test runner executes every .js file under dist/test/, this one included.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';

/** WireGuard message sizes (whitepaper section 5.4). */
const SIZE = { initiation: 148, response: 92, cookieReply: 64, dataMin: 32 } as const;

/** A small deterministic PRNG so a failing run can be reproduced (xorshift32). */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function randomBytesFrom(next: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

/** A datagram of `size` random bytes whose first word is message type `type`. */
function typed(next: () => number, type: number, size: number): Buffer {
  const b = randomBytesFrom(next, size);
  if (size >= 4) b.writeUInt32LE(type, 0);
  else if (size >= 1) b[0] = type;
  return b;
}

/** Every malformed datagram the test sends, built from a fixed seed. */
export function junkDatagrams(seed = 0x5eed): Buffer[] {
  const next = prng(seed);
  const out: Buffer[] = [Buffer.alloc(0)];
  const exact: [number, number][] = [
    [1, SIZE.initiation],
    [2, SIZE.response],
    [3, SIZE.cookieReply],
    [4, SIZE.dataMin],
  ];
  for (const [type, size] of exact) {
    // Exact size with random content: wrong mac1 (types 1, 2), unknown receiver (3, 4).
    for (let i = 0; i < 4; i++) out.push(typed(next, type, size));
    // Truncated and oversized variants.
    for (const n of [1, 2, 3, 4, 5, 8, 16, size - 1, size + 1, size + 16, 1500, 4000]) out.push(typed(next, type, n));
    // Reserved bytes non-zero.
    const reserved = typed(next, type, size);
    reserved[1] = 1;
    out.push(reserved);
    // An all-zero body (receiver index 0 is never allocated... or is it? either way, junk).
    const zeros = Buffer.alloc(size);
    zeros.writeUInt32LE(type, 0);
    out.push(zeros);
  }
  // Data messages shorter than header + tag, and big ones up to the IPv4 UDP maximum.
  for (let n = 5; n < SIZE.dataMin; n++) out.push(typed(next, 4, n));
  for (const n of [9000, 65507]) out.push(typed(next, 4, n));
  // Unknown types.
  for (const type of [0, 5, 6, 0xff, 0x01000000, 0xffffffff]) out.push(typed(next, type, 148));
  // Random sizes and contents.
  for (let i = 0; i < 200; i++) out.push(randomBytesFrom(next, next() % 1600));
  return out;
}

/** UDP payloads of every IPv4/IPv6 UDP packet in a pcap file (Ethernet or Linux cooked). */
export function udpPayloadsFromPcap(file: Buffer): Buffer[] {
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 276 ? 20 : -1;
  if (linkHeader < 0) throw new Error(`unsupported pcap link type ${linkType}`);
  const out: Buffer[] = [];
  for (let off = 24; off + 16 <= file.length; ) {
    const len = u32(off + 8);
    const pkt = file.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    const etherType =
      linkType === 1 ? pkt.readUInt16BE(12) : linkType === 113 ? pkt.readUInt16BE(14) : pkt.readUInt16BE(0);
    const ip = pkt.subarray(linkHeader);
    let udp: Buffer | undefined;
    if (etherType === 0x0800 && ip.length >= 20 && ip[9] === 17) udp = ip.subarray((ip[0] & 0x0f) * 4);
    else if (etherType === 0x86dd && ip.length >= 40 && ip[6] === 17) udp = ip.subarray(40);
    if (udp && udp.length >= 8) out.push(Buffer.from(udp.subarray(8, udp.readUInt16BE(4))));
  }
  return out;
}

function send(sock: Socket, msg: Buffer, port: number, host: string): Promise<void> {
  // Errors (e.g. EMSGSIZE) are part of the game: the datagram simply is not sent.
  return new Promise((resolve) => sock.send(msg, port, host, () => resolve()));
}

async function main(): Promise<void> {
  const target = process.env.WG_TS_JUNK_TARGET;
  if (!target) return;
  const sep = target.lastIndexOf(':');
  const host = target.slice(0, sep).replace(/^\[|\]$/g, '');
  const port = Number(target.slice(sep + 1));
  const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  const pcap = process.env.WG_TS_JUNK_PCAP;
  const replayed = pcap ? udpPayloadsFromPcap(readFileSync(pcap)) : [];
  const junk = junkDatagrams();
  let sent = 0;
  for (const msg of [...junk, ...replayed, ...replayed]) {
    await send(sock, msg, port, host);
    // Pace a little so the target's socket buffer is not the thing under test.
    if (++sent % 32 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  sock.close();
  process.stdout.write(`${JSON.stringify({ junk: junk.length, replayed: replayed.length, sent })}\n`);
}

await main();
