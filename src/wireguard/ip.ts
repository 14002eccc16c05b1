// IP address, prefix and endpoint text <-> bytes, for the control plane (UAPI, config).
// The accepted syntax follows what wireguard-go accepts through Go's net/netip, so a line
// that wireguard-go refuses is refused here too:
//   - IPv4: exactly four decimal octets, 0..255, no leading zeros ("010.0.0.1" is ambiguous);
//   - IPv6: hex groups of 1..4 digits, at most one "::" that must stand for at least one
//     group, an optional trailing dotted IPv4 part, an optional non-empty "%zone";
//   - prefix: address "/" length, length in canonical decimal, no zone;
//   - endpoint: "a.b.c.d:port" or "[v6]:port"; brackets only (and always) around IPv6.
// Output is canonical (RFC 5952 for IPv6, "::ffff:a.b.c.d" for IPv4-mapped addresses, as
// Go prints them) so that two spellings of one endpoint compare equal as strings.
// Nothing here is on the per-packet path.
import type { Prefix } from './config.js';
import type { Endpoint } from './endpoint.js';

/** Parses dotted-quad IPv4 text into 4 bytes, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const octet = parseOctet(parts[i]);
    if (octet < 0) return null;
    out[i] = octet;
  }
  return out;
}

/** One decimal IPv4 octet without leading zeros; -1 when invalid. */
function parseOctet(part: string): number {
  if (part.length === 0 || part.length > 3) return -1;
  if (part.length > 1 && part.charCodeAt(0) === 0x30) return -1;
  let value = 0;
  for (let i = 0; i < part.length; i++) {
    const d = part.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value <= 255 ? value : -1;
}

/** An IPv6 address with its zone ("" when none). */
export interface IPv6WithZone {
  bytes: Uint8Array;
  zone: string;
}

/** Parses IPv6 text (optionally with "%zone") into 16 bytes and the zone, or null. */
export function parseIPv6(text: string): IPv6WithZone | null {
  let zone = '';
  const percent = text.indexOf('%');
  if (percent >= 0) {
    zone = text.slice(percent + 1);
    text = text.slice(0, percent);
    if (zone.length === 0) return null;
  }
  const bytes = parseIPv6Groups(text);
  return bytes === null ? null : { bytes, zone };
}

function parseIPv6Groups(text: string): Uint8Array | null {
  if (text.length < 2) return null;
  const out = new Uint8Array(16);
  let ellipsis = -1; // byte position where "::" stands
  let pos = 0; // next byte to fill
  let i = 0;
  if (text.startsWith('::')) {
    ellipsis = 0;
    i = 2;
    if (i === text.length) return out; // "::"
  }
  while (i < text.length) {
    // Read one hex group (or, when a '.' follows, a trailing IPv4 part).
    let j = i;
    let value = 0;
    while (j < text.length && j - i < 5) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    if (j < text.length && text.charCodeAt(j) === 0x2e /* . */) {
      if (pos > 12) return null;
      const v4 = parseIPv4(text.slice(i));
      if (v4 === null) return null;
      out.set(v4, pos);
      pos += 4;
      i = text.length;
      break;
    }
    if (j === i || j - i > 4) return null;
    if (pos >= 16) return null;
    out[pos] = value >> 8;
    out[pos + 1] = value & 0xff;
    pos += 2;
    i = j;
    if (i === text.length) break;
    if (text.charCodeAt(i) !== 0x3a /* : */) return null;
    i++;
    if (i < text.length && text.charCodeAt(i) === 0x3a) {
      if (ellipsis >= 0) return null; // a second "::"
      ellipsis = pos;
      i++;
      if (i === text.length) break;
    } else if (i === text.length) {
      return null; // trailing single ':'
    }
  }
  if (ellipsis >= 0) {
    // "::" must stand for at least one zero group.
    if (pos === 16) return null;
    const tail = pos - ellipsis;
    out.copyWithin(16 - tail, ellipsis, pos);
    out.fill(0, ellipsis, 16 - tail);
  } else if (pos !== 16) {
    return null;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** "a.b.c.d" from 4 bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952 text of 16 bytes at `offset`; IPv4-mapped addresses as "::ffff:a.b.c.d". */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  if (isIPv4Mapped(bytes, offset)) return '::ffff:' + formatIPv4(bytes, offset + 12);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);
  // The longest run of two or more zero groups is written as "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.map((g) => g.toString(16)).join(':');
  const head = groups.slice(0, bestStart).map((g) => g.toString(16)).join(':');
  const tail = groups.slice(bestStart + bestLen).map((g) => g.toString(16)).join(':');
  return `${head}::${tail}`;
}

function isIPv4Mapped(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
}

/** Address bytes in their family's text form. */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  return family === 4 ? formatIPv4(bytes) : formatIPv6(bytes);
}

/** Copy of `address` with every bit after the first `bits` cleared. */
export function maskAddress(address: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(address.length);
  const whole = bits >> 3;
  out.set(address.subarray(0, whole));
  const rest = bits & 7;
  if (rest !== 0 && whole < out.length) out[whole] = address[whole] & (0xff << (8 - rest));
  return out;
}

/** Parses "addr/len" (v4 or v6, no zone) into a Prefix with host bits cleared, or null. */
export function parsePrefix(text: string): Prefix | null {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return null;
  const addrText = text.slice(0, slash);
  const bits = parsePrefixLength(text.slice(slash + 1));
  if (bits < 0) return null;
  if (addrText.includes(':')) {
    const v6 = parseIPv6(addrText);
    if (v6 === null || v6.zone !== '' || bits > 128) return null;
    return { family: 6, address: maskAddress(v6.bytes, bits), bits };
  }
  const v4 = parseIPv4(addrText);
  if (v4 === null || bits > 32) return null;
  return { family: 4, address: maskAddress(v4, bits), bits };
}

/** Canonical decimal ("0" or no leading zero, at most 3 digits); -1 when invalid. */
function parsePrefixLength(text: string): number {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(text)) return -1;
  return Number(text);
}

/** "addr/len" as wg(8) and wireguard-go print it. */
export function formatPrefix(prefix: Prefix): string {
  return `${formatAddress(prefix.family, prefix.address)}/${prefix.bits}`;
}

export function prefixEquals(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family || a.bits !== b.bits) return false;
  for (let i = 0; i < a.address.length; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

/** A string naming a prefix exactly (for maps and sets on the control plane). */
export function prefixKey(prefix: Prefix): string {
  return formatPrefix(prefix);
}

/** Decimal digits only (leading zeros allowed, no sign), value <= max; -1 when invalid. */
export function parseUnsigned(text: string, max: number): number {
  if (!/^[0-9]{1,20}$/.test(text)) return -1;
  const value = Number(text);
  return value <= max ? value : -1;
}

/**
 * Parses "a.b.c.d:port" or "[v6]:port" / "[v6%zone]:port" into a canonical Endpoint, or null.
 * The zone, if any, stays in `address` ("fe80::1%eth0") for the bind to resolve.
 */
export function parseEndpoint(text: string): Endpoint | null {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  let host = text.slice(0, colon);
  const port = parseUnsigned(text.slice(colon + 1), 0xffff);
  if (port < 0) return null;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    if (host.length < 2 || host.charCodeAt(host.length - 1) !== 0x5d /* ] */) return null;
    host = host.slice(1, -1);
    const v6 = parseIPv6(host);
    if (v6 === null) return null;
    const address = formatIPv6(v6.bytes) + (v6.zone === '' ? '' : '%' + v6.zone);
    return { family: 6, address, port };
  }
  const v4 = parseIPv4(host);
  if (v4 === null) return null;
  return { family: 4, address: formatIPv4(v4), port };
}
