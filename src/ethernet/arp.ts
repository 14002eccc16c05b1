// ARP for IPv4 over Ethernet (RFC 826): reading requests and replies out of a frame, and
// writing our own. Addresses travel as numbers (MAC as hi/lo words, IPv4 as an unsigned
// 32-bit value) so that nothing here allocates.
import { ETH_HEADER_LEN, ETH_MIN_FRAME, ETHERTYPE_ARP, ETHERTYPE_IPV4, writeEthHeader, writeMac } from './frames.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
/** Ethernet header plus the 28-byte ARP body for Ethernet/IPv4. */
export const ARP_FRAME_LEN = ETH_HEADER_LEN + 28;

/** The fields of one ARP packet; one instance is reused for every frame. */
export class ArpFields {
  op = 0;
  shaHi = 0;
  shaLo = 0;
  spa = 0;
  thaHi = 0;
  thaLo = 0;
  tpa = 0;
}

/**
 * Reads the ARP packet of the Ethernet frame at `off` (length `len`) into `out`. False for
 * anything but a well-formed Ethernet/IPv4 request or reply.
 */
export function parseArp(buf: Buffer, off: number, len: number, out: ArpFields): boolean {
  if (len < ARP_FRAME_LEN) return false;
  const a = off + ETH_HEADER_LEN;
  if (buf.readUInt16BE(a) !== 1 || buf.readUInt16BE(a + 2) !== ETHERTYPE_IPV4) return false;
  if (buf[a + 4] !== 6 || buf[a + 5] !== 4) return false;
  const op = buf.readUInt16BE(a + 6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return false;
  out.op = op;
  out.shaHi = buf.readUInt32BE(a + 8);
  out.shaLo = buf.readUInt16BE(a + 12);
  out.spa = buf.readUInt32BE(a + 14);
  out.thaHi = buf.readUInt32BE(a + 18);
  out.thaLo = buf.readUInt16BE(a + 22);
  out.tpa = buf.readUInt32BE(a + 24);
  return true;
}

/**
 * Writes a complete ARP frame at `off` from (srcHi, srcLo) to the Ethernet destination
 * (dstHi, dstLo), zero-padded to the Ethernet minimum. Returns the frame length.
 */
export function writeArpFrame(
  buf: Buffer,
  off: number,
  dstHi: number,
  dstLo: number,
  srcHi: number,
  srcLo: number,
  op: number,
  spa: number,
  thaHi: number,
  thaLo: number,
  tpa: number,
): number {
  writeEthHeader(buf, off, dstHi, dstLo, srcHi, srcLo, ETHERTYPE_ARP);
  const a = off + ETH_HEADER_LEN;
  buf.writeUInt16BE(1, a); // hardware: Ethernet
  buf.writeUInt16BE(ETHERTYPE_IPV4, a + 2);
  buf[a + 4] = 6;
  buf[a + 5] = 4;
  buf.writeUInt16BE(op, a + 6);
  writeMac(buf, a + 8, srcHi, srcLo); // sender hardware address: always us
  buf.writeUInt32BE(spa >>> 0, a + 14);
  writeMac(buf, a + 18, thaHi, thaLo);
  buf.writeUInt32BE(tpa >>> 0, a + 24);
  buf.fill(0, off + ARP_FRAME_LEN, off + ETH_MIN_FRAME);
  return ETH_MIN_FRAME;
}
