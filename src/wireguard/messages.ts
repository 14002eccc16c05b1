// Wire formats and protocol constants from the WireGuard paper (sections 5.4 and 6).
// Multi-byte integers in message headers are little-endian.

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const MAC_LEN = 16;
export const TIMESTAMP_LEN = 12;
export const COOKIE_NONCE_LEN = 24;

export const INITIATION_SIZE = 148; // type+reserved 4, sender 4, ephemeral 32, static 48, timestamp 28, mac1 16, mac2 16
export const RESPONSE_SIZE = 92; //    type+reserved 4, sender 4, receiver 4, ephemeral 32, empty 16, mac1 16, mac2 16
export const COOKIE_REPLY_SIZE = 64; // type+reserved 4, receiver 4, nonce 24, cookie 32
export const TRANSPORT_HEADER_SIZE = 16; // type+reserved 4, receiver 4, counter 8
export const TRANSPORT_MIN_SIZE = TRANSPORT_HEADER_SIZE + TAG_LEN;

// Field offsets.
export const INIT_SENDER = 4;
export const INIT_EPHEMERAL = 8;
export const INIT_STATIC = 40;
export const INIT_TIMESTAMP = 88;
export const INIT_MAC1 = 116;
export const INIT_MAC2 = 132;
export const RESP_SENDER = 4;
export const RESP_RECEIVER = 8;
export const RESP_EPHEMERAL = 12;
export const RESP_EMPTY = 44;
export const RESP_MAC1 = 60;
export const RESP_MAC2 = 76;
export const COOKIE_RECEIVER = 4;
export const COOKIE_NONCE = 8;
export const COOKIE_COOKIE = 32;
export const TRANSPORT_RECEIVER = 4;
export const TRANSPORT_COUNTER = 8;

// Protocol timing and limits (paper, section 6.1), times in milliseconds.
export const REKEY_AFTER_MESSAGES = 2 ** 60;
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const REKEY_TIMEOUT_JITTER_MAX = 334; // jitter is uniform in [0, 333] ms
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;
/** Initiations from one peer closer together than this are dropped (flood protection). */
export const HANDSHAKE_INITIATION_RATE = 20;
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;

/** Packets waiting per peer for a session; older ones are dropped first. */
export const MAX_STAGED_PACKETS = 128;

export function messageType(buf: Uint8Array, offset: number): number {
  // Type is one byte followed by three reserved zero bytes; anything else is not ours.
  if (buf[offset + 1] !== 0 || buf[offset + 2] !== 0 || buf[offset + 3] !== 0) return 0;
  return buf[offset];
}

export function readU32LE(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

export function writeU32LE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

/**
 * Reads a 64-bit little-endian counter as a number: exact below 2^53, +Infinity from there
 * on (no session reaches 2^53 messages, and the replay window refuses Infinity).
 */
export function readCounter(buf: Uint8Array, off: number): number {
  const hi = readU32LE(buf, off + 4);
  if (hi >= 0x200000) return Number.POSITIVE_INFINITY;
  return hi * 0x1_0000_0000 + readU32LE(buf, off);
}

export function writeCounter(buf: Uint8Array, off: number, v: number): void {
  writeU32LE(buf, off, v >>> 0);
  writeU32LE(buf, off + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}

export function writeHeader(buf: Uint8Array, off: number, type: number): void {
  buf[off] = type;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
}
