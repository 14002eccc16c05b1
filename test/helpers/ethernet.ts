// Frame builders and parsers for the Ethernet tests, written independently of
// src/ethernet so that the tests check the product against a second implementation.

export function mac(text: string): Buffer {
  const parts = text.split(':');
  if (parts.length !== 6) throw new Error(`bad test MAC ${text}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function macText(buf: Uint8Array): string {
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function ip4(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

export function ip6(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

export function ethFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Buffer {
  const f = Buffer.alloc(14 + payload.length);
  Buffer.from(dst).copy(f, 0);
  Buffer.from(src).copy(f, 6);
  f.writeUInt16BE(type, 12);
  Buffer.from(payload).copy(f, 14);
  return f;
}

export interface ArpSpec {
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  op: 1 | 2;
  sha: Uint8Array;
  spa: string;
  tha: Uint8Array;
  tpa: string;
}

export function arpFrame(s: ArpSpec): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(s.op, 6);
  Buffer.from(s.sha).copy(a, 8);
  ip4(s.spa).copy(a, 14);
  Buffer.from(s.tha).copy(a, 18);
  ip4(s.tpa).copy(a, 24);
  return ethFrame(s.ethDst, s.ethSrc, 0x0806, a);
}

export interface ParsedArp {
  ethDst: string;
  ethSrc: string;
  type: number;
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
  length: number;
}

export function parseArpFrame(f: Buffer): ParsedArp {
  const a = f.subarray(14);
  return {
    ethDst: macText(f.subarray(0, 6)),
    ethSrc: macText(f.subarray(6, 12)),
    type: f.readUInt16BE(12),
    op: a.readUInt16BE(6),
    sha: macText(a.subarray(8, 14)),
    spa: Array.from(a.subarray(14, 18)).join('.'),
    tha: macText(a.subarray(18, 24)),
    tpa: Array.from(a.subarray(24, 28)).join('.'),
    length: f.length,
  };
}

/** ICMPv6 checksum the textbook way: sum of 16-bit words of pseudo-header and message, folded, inverted. */
export function icmp6Checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  const pseudo = Buffer.alloc(40);
  Buffer.from(src).copy(pseudo, 0);
  Buffer.from(dst).copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = 58;
  const all = Buffer.concat([pseudo, Buffer.from(icmp), Buffer.alloc(icmp.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function ipv6Packet(src: Uint8Array, dst: Uint8Array, nextHeader: number, hopLimit: number, payload: Uint8Array): Buffer {
  const p = Buffer.alloc(40 + payload.length);
  p.writeUInt32BE(0x60000000, 0);
  p.writeUInt16BE(payload.length, 4);
  p[6] = nextHeader;
  p[7] = hopLimit;
  Buffer.from(src).copy(p, 8);
  Buffer.from(dst).copy(p, 24);
  Buffer.from(payload).copy(p, 40);
  return p;
}

export interface NdSpec {
  ethDst: Uint8Array;
  ethSrc: Uint8Array;
  src: string;
  dst: string;
  target: string;
  /** Source (NS) or target (NA) link-layer address option. */
  lla?: Uint8Array;
  hopLimit?: number;
  /** NA flags byte (R 0x80, S 0x40, O 0x20). */
  flags?: number;
  corruptChecksum?: boolean;
}

function ndFrame(type: 135 | 136, s: NdSpec): Buffer {
  const body = Buffer.alloc(24 + (s.lla ? 8 : 0));
  body[0] = type;
  if (type === 136) body[4] = s.flags ?? 0;
  ip6(s.target).copy(body, 8);
  if (s.lla) {
    body[24] = type === 135 ? 1 : 2;
    body[25] = 1;
    Buffer.from(s.lla).copy(body, 26);
  }
  const src = ip6(s.src);
  const dst = ip6(s.dst);
  let ck = icmp6Checksum(src, dst, body);
  if (s.corruptChecksum) ck ^= 0x0101;
  body.writeUInt16BE(ck, 2);
  return ethFrame(s.ethDst, s.ethSrc, 0x86dd, ipv6Packet(src, dst, 58, s.hopLimit ?? 255, body));
}

export const nsFrame = (s: NdSpec): Buffer => ndFrame(135, s);
export const naFrame = (s: NdSpec): Buffer => ndFrame(136, s);

export function solicitedNode(target: string): string {
  const t = ip6(target);
  return `ff02::1:ff${t[13].toString(16).padStart(2, '0')}:${t.readUInt16BE(14).toString(16)}`;
}

export function solicitedMac(target: string): Buffer {
  const t = ip6(target);
  return Buffer.from([0x33, 0x33, 0xff, t[13], t[14], t[15]]);
}

export interface ParsedNd {
  ethDst: string;
  ethSrc: string;
  type: number;
  hopLimit: number;
  src: Buffer;
  dst: Buffer;
  icmpType: number;
  code: number;
  checksumOk: boolean;
  flags: number;
  target: Buffer;
  /** Options as [type, data]. */
  options: [number, Buffer][];
}

export function parseNdFrame(f: Buffer): ParsedNd {
  const ip = f.subarray(14);
  const plen = ip.readUInt16BE(4);
  const icmp = Buffer.from(ip.subarray(40, 40 + plen));
  const given = icmp.readUInt16BE(2);
  const zeroed = Buffer.from(icmp);
  zeroed.writeUInt16BE(0, 2);
  const options: [number, Buffer][] = [];
  for (let o = 24; o + 2 <= icmp.length && icmp[o + 1] > 0; o += icmp[o + 1] * 8) options.push([icmp[o], icmp.subarray(o + 2, o + icmp[o + 1] * 8)]);
  return {
    ethDst: macText(f.subarray(0, 6)),
    ethSrc: macText(f.subarray(6, 12)),
    type: f.readUInt16BE(12),
    hopLimit: ip[7],
    src: Buffer.from(ip.subarray(8, 24)),
    dst: Buffer.from(ip.subarray(24, 40)),
    icmpType: icmp[0],
    code: icmp[1],
    checksumOk: icmp6Checksum(ip.subarray(8, 24), ip.subarray(24, 40), zeroed) === given,
    flags: icmp[4],
    target: Buffer.from(icmp.subarray(8, 24)),
    options,
  };
}
