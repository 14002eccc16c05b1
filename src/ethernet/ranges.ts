// Sets of IP prefixes (the response and learning ranges of the config), asked on the data
// path whether an address read straight out of a frame lies inside one of them. Prefixes
// are kept as 32-bit words with their masks, so a lookup is a few integer operations per
// prefix and never allocates. Configs have a handful of ranges, so a linear scan is right.
import type { Prefix } from '../wireguard/config.js';

export class PrefixSet {
  readonly prefixes: readonly Prefix[];
  /** Per prefix: network words (1 for IPv4, 4 for IPv6), then mask words. */
  private readonly nets: Uint32Array;
  private readonly masks: Uint32Array;
  private readonly wordsPer: number;

  constructor(
    readonly family: 4 | 6,
    prefixes: readonly Prefix[],
  ) {
    for (const p of prefixes) {
      if (p.family !== family) throw new Error(`an IPv${p.family} prefix in an IPv${family} range list`);
    }
    this.prefixes = prefixes;
    this.wordsPer = family === 4 ? 1 : 4;
    this.nets = new Uint32Array(prefixes.length * this.wordsPer);
    this.masks = new Uint32Array(prefixes.length * this.wordsPer);
    prefixes.forEach((p, i) => {
      for (let w = 0; w < this.wordsPer; w++) {
        const bitsHere = Math.max(0, Math.min(32, p.bits - 32 * w));
        const mask = bitsHere === 0 ? 0 : (0xffffffff << (32 - bitsHere)) >>> 0;
        this.masks[i * this.wordsPer + w] = mask;
        this.nets[i * this.wordsPer + w] = (readWord(p.address, 4 * w) & mask) >>> 0;
      }
    });
  }

  get size(): number {
    return this.prefixes.length;
  }

  /** Whether the IPv4 address (as an unsigned 32-bit number) is inside one of the prefixes. */
  containsV4(addr: number): boolean {
    const n = this.prefixes.length;
    for (let i = 0; i < n; i++) {
      if (((addr & this.masks[i]) >>> 0) === this.nets[i]) return true;
    }
    return false;
  }

  /** Index of the first prefix containing the address at `buf[off..]` (4 or 16 bytes), or -1. */
  indexOf(buf: Uint8Array, off: number): number {
    const per = this.wordsPer;
    const n = this.prefixes.length;
    outer: for (let i = 0; i < n; i++) {
      for (let w = 0; w < per; w++) {
        if (((readWord(buf, off + 4 * w) & this.masks[i * per + w]) >>> 0) !== this.nets[i * per + w]) continue outer;
      }
      return i;
    }
    return -1;
  }

  contains(buf: Uint8Array, off: number): boolean {
    return this.indexOf(buf, off) >= 0;
  }

  /**
   * Whether some address in the set has these low 24 bits, i.e. whether the solicited-node
   * group ff02::1:ffXX:XXXX (MAC 33:33:ff:XX:XX:XX) is one of ours. IPv6 sets only.
   */
  hasLow24(low24: number): boolean {
    for (let i = 0; i < this.prefixes.length; i++) {
      const mask = this.masks[i * 4 + 3] & 0xffffff;
      if ((low24 & mask) === (this.nets[i * 4 + 3] & mask)) return true;
    }
    return false;
  }
}

/** Big-endian 32-bit word at `off` of any byte array (Buffer or Uint8Array), unsigned. */
export function readWord(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/**
 * The first `limit` addresses of the prefix worth announcing or using as a source: IPv4
 * prefixes of /30 and wider skip their network and broadcast addresses, IPv6 prefixes of
 * /126 and wider skip the all-zero interface id (the subnet-router anycast address).
 * Control path only.
 */
export function usableAddresses(prefix: Prefix, limit: number): Uint8Array[] {
  const hostBits = (prefix.family === 4 ? 32 : 128) - prefix.bits;
  const skipEdges = hostBits >= 2;
  // Host numbers first..last (inclusive); only the low 31 bits can ever matter for `limit`.
  const span = hostBits >= 31 ? 2 ** 31 : 2 ** hostBits;
  const first = skipEdges ? 1 : 0;
  const last = skipEdges && prefix.family === 4 && hostBits < 31 ? span - 2 : span - 1;
  const out: Uint8Array[] = [];
  for (let h = first; h <= last && out.length < limit; h++) out.push(addHost(prefix.address, h));
  return out;
}

/** The prefix's address with `host` added to its low bits (host < 2^31). */
function addHost(address: Uint8Array, host: number): Uint8Array {
  const out = Uint8Array.from(address);
  let carry = host;
  for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
    const v = out[i] + (carry & 0xff);
    out[i] = v & 0xff;
    carry = Math.floor(carry / 256) + (v >> 8);
  }
  return out;
}
