// ChaCha20-Poly1305 as WireGuard uses it (RFC 8439 AEAD; nonce = 32 zero bits || LE64 counter).
//
// Two forms: the batch form seals/opens many transport packets in place with one native
// call (the data path), and the single-message form below serves the handshake, where
// clarity beats speed and node:crypto is plenty.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { nativeAead, type NativeAead } from '../native.js';

export const AEAD_KEY_LEN = 32;
export const AEAD_TAG_LEN = 16;
export const AEAD_NONCE_LEN = 12;

/** The 96-bit nonce for a 64-bit counter: four zero bytes, then the counter little-endian. */
export function nonceFor(counter: bigint | number): Buffer {
  if (typeof counter === 'number' && !Number.isSafeInteger(counter)) throw new RangeError('AEAD counter must be an integer');
  const n = typeof counter === 'bigint' ? counter : BigInt(counter);
  if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError('AEAD counter must fit in 64 bits');
  const nonce = Buffer.alloc(AEAD_NONCE_LEN);
  nonce.writeBigUInt64LE(n, 4);
  return nonce;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== AEAD_KEY_LEN) throw new RangeError('ChaCha20-Poly1305 key must be 32 bytes');
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== AEAD_NONCE_LEN) throw new RangeError('ChaCha20-Poly1305 nonce must be 12 bytes');
}

/**
 * RFC 8439 AEAD_CHACHA20_POLY1305 with an explicit 96-bit nonce; returns ciphertext || tag.
 * WireGuard code wants `aeadSeal`; this form exists for the RFC's own test vectors.
 */
export function sealWithNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  checkKey(key);
  checkNonce(nonce);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_LEN });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  const out = new Uint8Array(body.length + AEAD_TAG_LEN);
  out.set(body);
  out.set(cipher.getAuthTag(), body.length);
  return out;
}

/** Inverse of sealWithNonce: the plaintext, or null if too short or not authentic. */
export function openWithNonce(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertextWithTag: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  checkKey(key);
  checkNonce(nonce);
  if (ciphertextWithTag.length < AEAD_TAG_LEN) return null;
  const textLen = ciphertextWithTag.length - AEAD_TAG_LEN;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_LEN });
  decipher.setAuthTag(ciphertextWithTag.subarray(textLen));
  decipher.setAAD(aad, { plaintextLength: textLen });
  const body = decipher.update(ciphertextWithTag.subarray(0, textLen));
  try {
    decipher.final();
  } catch {
    // node:crypto reports a tag mismatch by throwing; here it is simply "not authentic".
    body.fill(0);
    return null;
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** Encrypts `plaintext` with `aad` under WireGuard's nonce for `counter`; returns ciphertext || tag. */
export function aeadSeal(key: Uint8Array, counter: bigint | number, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return sealWithNonce(key, nonceFor(counter), plaintext, aad);
}

/** Decrypts ciphertext || tag under WireGuard's nonce for `counter`; null if not authentic. */
export function aeadOpen(
  key: Uint8Array,
  counter: bigint | number,
  ciphertextWithTag: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  return openWithNonce(key, nonceFor(counter), ciphertextWithTag, aad);
}

/**
 * The batch forms, in place, one native call per batch (contract in src/native.ts): seal
 * appends each packet's tag; open sets ok[i] = 1 for an authentic packet i, else 0.
 */
export const sealBatch: NativeAead['sealBatch'] = (...args) => nativeAead().sealBatch(...args);
export const openBatch: NativeAead['openBatch'] = (...args) => nativeAead().openBatch(...args);
