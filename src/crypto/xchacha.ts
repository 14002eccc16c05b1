// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), used only for WireGuard's cookie reply:
// the 24-byte nonce is random, so the extended-nonce variant is what makes that safe.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export const XCHACHA_KEY_LEN = 32;
export const XCHACHA_NONCE_LEN = 24;
export const XCHACHA_TAG_LEN = 16;

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== XCHACHA_KEY_LEN) throw new RangeError('XChaCha20-Poly1305 key must be 32 bytes');
  if (nonce.length !== XCHACHA_NONCE_LEN) throw new RangeError('XChaCha20-Poly1305 nonce must be 24 bytes');
}

/** Encrypts `plaintext`; returns ciphertext || 16-byte tag. */
export function xchachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  checkKeyAndNonce(key, nonce);
  return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

/** Decrypts ciphertext || tag; null when the tag does not verify (or the input is too short). */
export function xchachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  checkKeyAndNonce(key, nonce);
  if (sealed.length < XCHACHA_TAG_LEN) return null;
  try {
    return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
  } catch {
    // noble signals a bad tag by throwing; to callers it is just "not authentic".
    return null;
  }
}
