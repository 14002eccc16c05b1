// Ethernet II framing and MAC addresses. On the data path a MAC is kept as two numbers (the
// first four bytes as an unsigned 32-bit "hi" and the last two as a 16-bit "lo") so that
// comparing or writing one is two integer operations and never allocates.

export const ETH_HEADER_LEN = 14;
/** Shortest Ethernet frame without FCS; shorter control frames we build are zero-padded. */
export const ETH_MIN_FRAME = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q, 802.1ad and the old QinQ tag: we carry untagged frames only. */
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_QINQ_OLD = 0x9100;

export function isVlanEthertype(type: number): boolean {
  return type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD;
}

/** A MAC as the data path holds it. */
export interface MacWords {
  readonly hi: number;
  readonly lo: number;
}

export const BROADCAST_HI = 0xffffffff;
export const BROADCAST_LO = 0xffff;

export function macWords(mac: Uint8Array): MacWords {
  return {
    hi: ((mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3]) >>> 0,
    lo: (mac[4] << 8) | mac[5],
  };
}

export function macFromWords(hi: number, lo: number): Uint8Array {
  return Uint8Array.of(hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 8, lo & 0xff);
}

/** Writes a MAC given as words at `off`. */
export function writeMac(buf: Buffer, off: number, hi: number, lo: number): void {
  buf.writeUInt32BE(hi, off);
  buf.writeUInt16BE(lo, off + 4);
}

/** Writes dst, src and ethertype: the 14-byte header starting at `off`. */
export function writeEthHeader(buf: Buffer, off: number, dstHi: number, dstLo: number, srcHi: number, srcLo: number, type: number): void {
  buf.writeUInt32BE(dstHi, off);
  buf.writeUInt16BE(dstLo, off + 4);
  buf.writeUInt32BE(srcHi, off + 6);
  buf.writeUInt16BE(srcLo, off + 10);
  buf.writeUInt16BE(type, off + 12);
}

/** The group bit: set for multicast and broadcast MACs. */
export function isMulticastMac(mac: Uint8Array): boolean {
  return (mac[0] & 1) === 1;
}

export function isZeroMac(mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (mac[i] !== 0) return false;
  return true;
}

/** A unicast MAC that can name one interface: not multicast/broadcast, not all-zero. */
export function isUsableUnicastMac(mac: Uint8Array): boolean {
  return !isMulticastMac(mac) && !isZeroMac(mac);
}

/**
 * Parses a 6-byte MAC in the spellings Go's net.ParseMAC accepts for EUI-48 (so a
 * wireguard-go-vpp config keeps working): "aa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff",
 * "aabb.ccdd.eeff"; hex digits in either case. Null when invalid.
 */
export function parseMac(text: string): Uint8Array | null {
  if (text.length === 17) {
    const sep = text[2];
    if (sep !== ':' && sep !== '-') return null;
    const out = new Uint8Array(6);
    for (let i = 0; i < 6; i++) {
      if (i > 0 && text[i * 3 - 1] !== sep) return null;
      const byte = parseHexByte(text, i * 3);
      if (byte < 0) return null;
      out[i] = byte;
    }
    return out;
  }
  if (text.length === 14) {
    if (text[4] !== '.' || text[9] !== '.') return null;
    const out = new Uint8Array(6);
    for (let i = 0; i < 6; i++) {
      const byte = parseHexByte(text, (i >> 1) * 5 + (i & 1) * 2);
      if (byte < 0) return null;
      out[i] = byte;
    }
    return out;
  }
  return null;
}

function parseHexByte(text: string, at: number): number {
  const a = hexDigit(text.charCodeAt(at));
  const b = hexDigit(text.charCodeAt(at + 1));
  return a < 0 || b < 0 ? -1 : (a << 4) | b;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** "aa:bb:cc:dd:ee:ff" (lower case). */
export function formatMac(mac: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + mac[off + i].toString(16).padStart(2, '0');
  return s;
}
