// BLAKE2s and the constructions WireGuard builds on it (whitepaper section 5.4):
// HASH, MAC (keyed BLAKE2s-128), HMAC (HMAC-BLAKE2s-256) and KDF1..3 (HKDF over that HMAC).
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';

/** Digest size of HASH, HMAC and each KDF output. */
export const HASH_LEN = 32;
/** Output size of MAC (mac1, mac2, cookies). */
export const MAC_LEN = 16;

/**
 * BLAKE2s (RFC 7693) with an `outLen`-byte digest (1..32), keyed when `key` is given
 * (1..32 bytes), over the concatenation of `parts`.
 */
export function blake2sDigest(outLen: number, key: Uint8Array | undefined, ...parts: Uint8Array[]): Uint8Array {
  const h = key === undefined ? blake2s.create({ dkLen: outLen }) : blake2s.create({ key, dkLen: outLen });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HASH(a || b || ...): unkeyed BLAKE2s-256 over the concatenation of the parts. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  return blake2sDigest(HASH_LEN, undefined, ...parts);
}

/** MAC(key, a || b || ...): BLAKE2s keyed with `key` (1..32 bytes), 16-byte output. */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return blake2sDigest(MAC_LEN, key, ...parts);
}

/**
 * HMAC(key, data) with BLAKE2s-256 as the hash (RFC 2104 construction over BLAKE2s's
 * 64-byte block), not BLAKE2s's built-in keyed mode.
 */
export function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return nobleHmac(blake2s, key, data);
}

const ONE = Uint8Array.of(1);

// The HKDF expansion as WireGuard uses it: T0 = HMAC(key, input); Ti = HMAC(T0, T(i-1) || i).
function expand(key: Uint8Array, input: Uint8Array, n: 1 | 2 | 3): Uint8Array[] {
  const prk = hmac(key, input);
  const out: Uint8Array[] = [];
  let prev = hmac(prk, ONE);
  out.push(prev);
  for (let i = 2; i <= n; i++) {
    const block = new Uint8Array(HASH_LEN + 1);
    block.set(prev);
    block[HASH_LEN] = i;
    prev = hmac(prk, block);
    out.push(prev);
  }
  prk.fill(0);
  return out;
}

/** KDF1(key, input): one 32-byte output. */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return expand(key, input, 1)[0];
}

/** KDF2(key, input): two 32-byte outputs. */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [a, b] = expand(key, input, 2);
  return [a, b];
}

/** KDF3(key, input): three 32-byte outputs. */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const [a, b, c] = expand(key, input, 3);
  return [a, b, c];
}
