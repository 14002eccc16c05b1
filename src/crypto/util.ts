// Small byte helpers shared by the primitives and the protocol code.

/**
 * True when `a` and `b` hold the same bytes. For equal lengths the time taken does not
 * depend on where they differ (secrets such as MACs are compared with this). Lengths are
 * not secret: different lengths return false at once.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** True when every byte is zero, without stopping early (used on DH results and keys). */
export function isZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i];
  return acc === 0;
}

/** Overwrites key material in place so it does not linger in memory. */
export function zero(buf: Uint8Array): void {
  buf.fill(0);
}
