// IPv6 neighbour discovery (RFC 4861), the two messages a host needs for address
// resolution: neighbour solicitation (NS) and neighbour advertisement (NA). Reading checks
// what RFC 4861 7.1.1 / 7.1.2 ask of a receiver (hop limit 255, code 0, checksum, lengths,
// target not multicast, option lengths); writing builds whole frames in place. Nothing
// here allocates: addresses are copied byte by byte between buffers.
import { ETH_HEADER_LEN, ETHERTYPE_IPV6, writeEthHeader, writeMac } from './frames.js';

export const ICMPV6 = 58;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_HOP_LIMIT = 255;
export const ND_OPT_SOURCE_LLA = 1;
export const ND_OPT_TARGET_LLA = 2;
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;

const IPV6_HEADER_LEN = 40;
/** ICMPv6 NS/NA body without options: type, code, checksum, 4 bytes, 16-byte target. */
const ND_BODY_LEN = 24;
/** A link-layer address option for Ethernet: type, length 1 (8 bytes), MAC. */
const LLA_OPT_LEN = 8;
/** NS or NA with one link-layer address option, as a whole Ethernet frame. */
export const ND_FRAME_LEN = ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_BODY_LEN + LLA_OPT_LEN;

/** The all-nodes group ff02::1 and its MAC 33:33:00:00:00:01. */
export const ALL_NODES = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
export const ALL_NODES_MAC_HI = 0x33330000;
export const ALL_NODES_MAC_LO = 0x0001;

export const NDP_OK = 0;
export const NDP_HOP_LIMIT = 1;
export const NDP_INVALID = 2;

/** What parseNdp found; one instance is reused for every frame. Offsets are into the slab. */
export class NdpFields {
  type = 0;
  /** NA flags byte (R, S, O in the top bits); 0 for NS. */
  flags = 0;
  srcOff = 0;
  dstOff = 0;
  targetOff = 0;
  /** Offset of the 6-byte source (NS) or target (NA) link-layer address, -1 when absent. */
  llaOff = -1;
}

/**
 * 135 or 136 when the Ethernet frame at `off` carries an IPv6 packet whose next header is
 * ICMPv6 with an NS or NA type, else 0 (then it is ordinary IP for the core).
 */
export function ndpType(buf: Buffer, off: number, len: number): number {
  if (len < ETH_HEADER_LEN + IPV6_HEADER_LEN + 1) return 0;
  const ip = off + ETH_HEADER_LEN;
  if (buf[ip + 6] !== ICMPV6) return 0;
  const type = buf[ip + IPV6_HEADER_LEN];
  return type === ND_NEIGHBOR_SOLICIT || type === ND_NEIGHBOR_ADVERT ? type : 0;
}

/** Validates the NS/NA in the frame at `off` and fills `out`. NDP_OK, NDP_HOP_LIMIT or NDP_INVALID. */
export function parseNdp(buf: Buffer, off: number, len: number, out: NdpFields): number {
  const ip = off + ETH_HEADER_LEN;
  if (len < ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_BODY_LEN || buf[ip] >> 4 !== 6) return NDP_INVALID;
  if (buf[ip + 7] !== ND_HOP_LIMIT) return NDP_HOP_LIMIT;
  const icmpLen = buf.readUInt16BE(ip + 4);
  if (icmpLen < ND_BODY_LEN || ETH_HEADER_LEN + IPV6_HEADER_LEN + icmpLen > len) return NDP_INVALID;
  const icmp = ip + IPV6_HEADER_LEN;
  if (buf[icmp + 1] !== 0) return NDP_INVALID;
  if (icmpv6Checksum(buf, ip, icmpLen) !== 0) return NDP_INVALID;
  const type = buf[icmp];
  out.type = type;
  out.flags = type === ND_NEIGHBOR_ADVERT ? buf[icmp + 4] : 0;
  out.srcOff = ip + 8;
  out.dstOff = ip + 24;
  out.targetOff = icmp + 8;
  out.llaOff = -1;
  if (buf[out.targetOff] === 0xff) return NDP_INVALID; // target must not be multicast
  const wantOpt = type === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LLA : ND_OPT_TARGET_LLA;
  const end = icmp + icmpLen;
  for (let o = icmp + ND_BODY_LEN; o < end; ) {
    if (o + 2 > end) return NDP_INVALID;
    const optLen = buf[o + 1] * 8;
    if (optLen === 0 || o + optLen > end) return NDP_INVALID;
    if (buf[o] === wantOpt && optLen >= LLA_OPT_LEN && out.llaOff < 0) out.llaOff = o + 2;
    o += optLen;
  }
  const dstMulticast = buf[out.dstOff] === 0xff;
  if (type === ND_NEIGHBOR_SOLICIT) {
    if (dstMulticast && !isSolicitedNodeOf(buf, out.dstOff, out.targetOff)) return NDP_INVALID;
    if (isUnspecified(buf, out.srcOff) && (!dstMulticast || out.llaOff >= 0)) return NDP_INVALID;
  } else if (dstMulticast && (out.flags & NA_FLAG_SOLICITED) !== 0) {
    return NDP_INVALID;
  }
  return NDP_OK;
}

/**
 * The ICMPv6 checksum (RFC 4443 2.3, RFC 8200 8.1) over the pseudo-header of the IPv6
 * header at `ip` and `icmpLen` bytes of ICMPv6 after it, checksum field included as it is.
 * Returns 0 when a received message is intact; to fill one in, zero the field first and
 * store the result.
 */
export function icmpv6Checksum(buf: Uint8Array, ip: number, icmpLen: number): number {
  let sum = icmpLen + ICMPV6; // upper-layer length and next header of the pseudo-header
  sum = addWords(buf, ip + 8, 32, sum); // source and destination addresses
  sum = addWords(buf, ip + IPV6_HEADER_LEN, icmpLen, sum);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function addWords(buf: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) {
    sum += (buf[i] << 8) | buf[i + 1];
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (len & 1) sum += buf[end] << 8;
  return sum;
}

/** Whether the address at `groupOff` is ff02::1:ffXX:XXXX for the address at `addrOff`. */
export function isSolicitedNodeOf(buf: Uint8Array, groupOff: number, addrOff: number): boolean {
  if (buf[groupOff] !== 0xff || buf[groupOff + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (buf[groupOff + i] !== 0) return false;
  if (buf[groupOff + 11] !== 1 || buf[groupOff + 12] !== 0xff) return false;
  return buf[groupOff + 13] === buf[addrOff + 13] && buf[groupOff + 14] === buf[addrOff + 14] && buf[groupOff + 15] === buf[addrOff + 15];
}

export function isUnspecified(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/** Writes ff02::1:ffXX:XXXX for the address at `addr[addrOff..]` at `buf[off..]`. */
export function writeSolicitedNode(buf: Uint8Array, off: number, addr: Uint8Array, addrOff: number): void {
  buf[off] = 0xff;
  buf[off + 1] = 0x02;
  for (let i = 2; i < 11; i++) buf[off + i] = 0;
  buf[off + 11] = 1;
  buf[off + 12] = 0xff;
  buf[off + 13] = addr[addrOff + 13];
  buf[off + 14] = addr[addrOff + 14];
  buf[off + 15] = addr[addrOff + 15];
}

function copy16(to: Uint8Array, toOff: number, from: Uint8Array, fromOff: number): void {
  for (let i = 0; i < 16; i++) to[toOff + i] = from[fromOff + i];
}

/** IPv6 header for an ND message of `icmpLen` bytes; addresses are filled in by the caller. */
function writeIpv6Header(buf: Buffer, ip: number, icmpLen: number): void {
  buf.writeUInt32BE(0x60000000, ip);
  buf.writeUInt16BE(icmpLen, ip + 4);
  buf[ip + 6] = ICMPV6;
  buf[ip + 7] = ND_HOP_LIMIT;
}

/**
 * Writes a neighbour solicitation for `target` from us at `off`. With `multicast` it goes
 * to the target's solicited-node group (address resolution), otherwise to the target
 * itself at the Ethernet destination given (reachability check of a known neighbour).
 * An unspecified source (`src` all zero) gets no source link-layer option, as RFC 4861
 * requires. Returns the frame length.
 */
export function writeNeighbourSolicitation(
  buf: Buffer,
  off: number,
  ethDstHi: number,
  ethDstLo: number,
  srcHi: number,
  srcLo: number,
  src: Uint8Array,
  srcOff: number,
  target: Uint8Array,
  targetOff: number,
  multicast: boolean,
): number {
  const withOpt = !isUnspecified(src, srcOff);
  const icmpLen = ND_BODY_LEN + (withOpt ? LLA_OPT_LEN : 0);
  const ip = off + ETH_HEADER_LEN;
  const icmp = ip + IPV6_HEADER_LEN;
  if (multicast) {
    ethDstHi = (0x3333ff00 | target[targetOff + 13]) >>> 0;
    ethDstLo = (target[targetOff + 14] << 8) | target[targetOff + 15];
  }
  writeEthHeader(buf, off, ethDstHi, ethDstLo, srcHi, srcLo, ETHERTYPE_IPV6);
  writeIpv6Header(buf, ip, icmpLen);
  copy16(buf, ip + 8, src, srcOff);
  if (multicast) writeSolicitedNode(buf, ip + 24, target, targetOff);
  else copy16(buf, ip + 24, target, targetOff);
  buf[icmp] = ND_NEIGHBOR_SOLICIT;
  buf[icmp + 1] = 0;
  buf.writeUInt16BE(0, icmp + 2);
  buf.writeUInt32BE(0, icmp + 4);
  copy16(buf, icmp + 8, target, targetOff);
  if (withOpt) {
    buf[icmp + 24] = ND_OPT_SOURCE_LLA;
    buf[icmp + 25] = 1;
    writeMac(buf, icmp + 26, srcHi, srcLo);
  }
  buf.writeUInt16BE(icmpv6Checksum(buf, ip, icmpLen), icmp + 2);
  return ETH_HEADER_LEN + IPV6_HEADER_LEN + icmpLen;
}

/**
 * Writes a neighbour advertisement for `target` (which is also its IPv6 source) to `dst`
 * at the Ethernet destination given, with our MAC in a target link-layer option. Returns
 * the frame length.
 */
export function writeNeighbourAdvertisement(
  buf: Buffer,
  off: number,
  ethDstHi: number,
  ethDstLo: number,
  srcHi: number,
  srcLo: number,
  target: Uint8Array,
  targetOff: number,
  dst: Uint8Array,
  dstOff: number,
  flags: number,
): number {
  const icmpLen = ND_BODY_LEN + LLA_OPT_LEN;
  const ip = off + ETH_HEADER_LEN;
  const icmp = ip + IPV6_HEADER_LEN;
  writeEthHeader(buf, off, ethDstHi, ethDstLo, srcHi, srcLo, ETHERTYPE_IPV6);
  writeIpv6Header(buf, ip, icmpLen);
  copy16(buf, ip + 8, target, targetOff);
  copy16(buf, ip + 24, dst, dstOff);
  buf[icmp] = ND_NEIGHBOR_ADVERT;
  buf[icmp + 1] = 0;
  buf.writeUInt16BE(0, icmp + 2);
  buf.writeUInt32BE(0, icmp + 4);
  buf[icmp + 4] = flags;
  copy16(buf, icmp + 8, target, targetOff);
  buf[icmp + 24] = ND_OPT_TARGET_LLA;
  buf[icmp + 25] = 1;
  writeMac(buf, icmp + 26, srcHi, srcLo);
  buf.writeUInt16BE(icmpv6Checksum(buf, ip, icmpLen), icmp + 2);
  return ND_FRAME_LEN;
}
