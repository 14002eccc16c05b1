// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (paper, section 5.4): the
// initiation and response messages and the derivation of the transport keys. This file
// holds no sockets and no timers; device.ts decides when to call it.
import { hash, kdf1, kdf2, kdf3 } from '../crypto/blake2s.js';
import { aeadOpen, aeadSeal } from '../crypto/aead.js';
import { generatePrivateKey, publicKey as x25519Public, sharedSecret } from '../crypto/x25519.js';
import { isZero, zero } from '../crypto/util.js';
import {
  CONSTRUCTION,
  IDENTIFIER,
  INIT_EPHEMERAL,
  INIT_SENDER,
  INIT_STATIC,
  INIT_TIMESTAMP,
  INITIATION_SIZE,
  KEY_LEN,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  RESP_EMPTY,
  RESP_EPHEMERAL,
  RESP_RECEIVER,
  RESP_SENDER,
  RESPONSE_SIZE,
  TAG_LEN,
  TIMESTAMP_LEN,
  readU32LE,
  writeHeader,
  writeU32LE,
} from './messages.js';

const encoder = new TextEncoder();
const INITIAL_CHAIN_KEY = hash(encoder.encode(CONSTRUCTION));
const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, encoder.encode(IDENTIFIER));
const EMPTY = new Uint8Array(0);

/** Our own static identity. */
export interface StaticIdentity {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export function makeIdentity(privateKey: Uint8Array): StaticIdentity {
  return { privateKey: Uint8Array.from(privateKey), publicKey: x25519Public(privateKey) };
}

export type HandshakeState =
  | 'zeroed'
  | 'initiation-created'
  | 'initiation-consumed'
  | 'response-created'
  | 'response-consumed';

/** Per-peer handshake state: the Noise symmetric state plus what replay protection needs. */
export class Handshake {
  state: HandshakeState = 'zeroed';
  readonly hash = new Uint8Array(32);
  readonly chainKey = new Uint8Array(32);
  readonly localEphemeral = new Uint8Array(32);
  readonly remoteEphemeral = new Uint8Array(32);
  localIndex = 0;
  remoteIndex = 0;
  /** Newest TAI64N timestamp accepted from this peer; initiations must be newer. */
  readonly latestTimestamp = new Uint8Array(TIMESTAMP_LEN);
  /** Monotonic ms of the last accepted initiation (flood protection). */
  lastInitiationConsumed = -Infinity;
  /** DH(our static, their static), recomputed when our private key changes. */
  precomputedStaticStatic: Uint8Array = new Uint8Array(32);
  presharedKey: Uint8Array = new Uint8Array(32);

  constructor(readonly remoteStatic: Uint8Array) {}

  /** Forgets the in-flight handshake (not the replay state). */
  clear(): void {
    zero(this.hash);
    zero(this.chainKey);
    zero(this.localEphemeral);
    zero(this.remoteEphemeral);
    this.localIndex = 0;
    this.remoteIndex = 0;
    this.state = 'zeroed';
  }
}

function mixHash(h: Uint8Array, data: Uint8Array): void {
  h.set(hash(h, data));
}

function mixKey(ck: Uint8Array, input: Uint8Array): void {
  ck.set(kdf1(ck, input));
}

/** C, k = KDF2(C, input); returns k. */
function mixKeyAndGetKey(ck: Uint8Array, input: Uint8Array): Uint8Array {
  const [c, k] = kdf2(ck, input);
  ck.set(c);
  return k;
}

/** TAI64N of a wall-clock time: 8 bytes seconds since 1970 + 2^62 + 10, 4 bytes ns, big-endian. */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_LEN);
  const view = new DataView(out.buffer);
  const secs = Math.floor(wallMs / 1000);
  view.setBigUint64(0, 0x400000000000000an + BigInt(secs));
  // Whitened to ~16 ms so the timestamp does not leak a precise clock.
  const nanos = Math.floor((wallMs - secs * 1000) * 1e6) & ~0xffffff;
  view.setUint32(8, nanos >>> 0);
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function dhOrNull(priv: Uint8Array, pub: Uint8Array): Uint8Array | null {
  const s = sharedSecret(priv, pub);
  return isZero(s) ? null : s;
}

/**
 * Builds a handshake initiation for `hs`'s peer into a fresh 148-byte message; mac1/mac2
 * are left zero for cookie.ts to fill. Returns null when our static-static DH is invalid.
 */
export function createInitiation(
  local: StaticIdentity,
  hs: Handshake,
  localIndex: number,
  wallMs: number,
): Uint8Array | null {
  if (isZero(hs.precomputedStaticStatic)) return null;
  const msg = new Uint8Array(INITIATION_SIZE);
  writeHeader(msg, 0, MESSAGE_INITIATION);
  writeU32LE(msg, INIT_SENDER, localIndex);

  hs.chainKey.set(INITIAL_CHAIN_KEY);
  hs.hash.set(INITIAL_HASH);
  mixHash(hs.hash, hs.remoteStatic);

  hs.localEphemeral.set(generatePrivateKey());
  const ephemeralPublic = x25519Public(hs.localEphemeral);
  msg.set(ephemeralPublic, INIT_EPHEMERAL);
  mixKey(hs.chainKey, ephemeralPublic);
  mixHash(hs.hash, ephemeralPublic);

  const es = dhOrNull(hs.localEphemeral, hs.remoteStatic);
  if (es === null) return null;
  let key = mixKeyAndGetKey(hs.chainKey, es);
  const encStatic = aeadSeal(key, 0, local.publicKey, hs.hash);
  msg.set(encStatic, INIT_STATIC);
  mixHash(hs.hash, encStatic);

  key = mixKeyAndGetKey(hs.chainKey, hs.precomputedStaticStatic);
  const encTimestamp = aeadSeal(key, 0, tai64n(wallMs), hs.hash);
  msg.set(encTimestamp, INIT_TIMESTAMP);
  mixHash(hs.hash, encTimestamp);

  hs.localIndex = localIndex;
  hs.state = 'initiation-created';
  return msg;
}

/** What consuming an initiation learned, before it is committed to the peer's handshake. */
export interface ConsumedInitiation {
  remoteStatic: Uint8Array;
  remoteIndex: number;
  remoteEphemeral: Uint8Array;
  timestamp: Uint8Array;
  hash: Uint8Array;
  chainKey: Uint8Array;
}

/**
 * Decrypts an initiation's static key and timestamp. `findPeer` maps the initiator's
 * static public key to its handshake (undefined: unknown peer). The result is applied
 * with commitInitiation only after replay and flood checks pass.
 */
export function consumeInitiation(
  local: StaticIdentity,
  msg: Uint8Array,
  findPeer: (remoteStatic: Uint8Array) => Handshake | undefined,
): { hs: Handshake; consumed: ConsumedInitiation } | null {
  if (msg.length !== INITIATION_SIZE) return null;
  const chainKey = Uint8Array.from(INITIAL_CHAIN_KEY);
  const h = Uint8Array.from(INITIAL_HASH);
  mixHash(h, local.publicKey);

  const remoteEphemeral = msg.slice(INIT_EPHEMERAL, INIT_EPHEMERAL + KEY_LEN);
  mixKey(chainKey, remoteEphemeral);
  mixHash(h, remoteEphemeral);

  const es = dhOrNull(local.privateKey, remoteEphemeral);
  if (es === null) return null;
  let key = mixKeyAndGetKey(chainKey, es);
  const encStatic = msg.subarray(INIT_STATIC, INIT_STATIC + KEY_LEN + TAG_LEN);
  const remoteStatic = aeadOpen(key, 0, encStatic, h);
  if (remoteStatic === null) return null;
  mixHash(h, encStatic);

  const hs = findPeer(remoteStatic);
  if (hs === undefined || isZero(hs.precomputedStaticStatic)) return null;

  key = mixKeyAndGetKey(chainKey, hs.precomputedStaticStatic);
  const encTimestamp = msg.subarray(INIT_TIMESTAMP, INIT_TIMESTAMP + TIMESTAMP_LEN + TAG_LEN);
  const timestamp = aeadOpen(key, 0, encTimestamp, h);
  if (timestamp === null) return null;
  mixHash(h, encTimestamp);

  return {
    hs,
    consumed: {
      remoteStatic,
      remoteIndex: readU32LE(msg, INIT_SENDER),
      remoteEphemeral,
      timestamp,
      hash: h,
      chainKey,
    },
  };
}

/** Why an authentic initiation was refused, or null when it is acceptable. */
export function initiationReplayReason(hs: Handshake, c: ConsumedInitiation, nowMs: number, floodMs: number): string | null {
  if (compareBytes(c.timestamp, hs.latestTimestamp) <= 0) return 'timestamp not newer than the last accepted one';
  if (nowMs - hs.lastInitiationConsumed < floodMs) return 'initiation flood';
  return null;
}

export function commitInitiation(hs: Handshake, c: ConsumedInitiation, nowMs: number): void {
  hs.latestTimestamp.set(c.timestamp);
  hs.lastInitiationConsumed = nowMs;
  hs.hash.set(c.hash);
  hs.chainKey.set(c.chainKey);
  hs.remoteEphemeral.set(c.remoteEphemeral);
  hs.remoteIndex = c.remoteIndex;
  hs.state = 'initiation-consumed';
}

/** Builds the response to a consumed initiation; mac fields left zero. */
export function createResponse(hs: Handshake, localIndex: number): Uint8Array | null {
  if (hs.state !== 'initiation-consumed') return null;
  const msg = new Uint8Array(RESPONSE_SIZE);
  writeHeader(msg, 0, MESSAGE_RESPONSE);
  writeU32LE(msg, RESP_SENDER, localIndex);
  writeU32LE(msg, RESP_RECEIVER, hs.remoteIndex);

  hs.localEphemeral.set(generatePrivateKey());
  const ephemeralPublic = x25519Public(hs.localEphemeral);
  msg.set(ephemeralPublic, RESP_EPHEMERAL);
  mixKey(hs.chainKey, ephemeralPublic);
  mixHash(hs.hash, ephemeralPublic);

  const ee = dhOrNull(hs.localEphemeral, hs.remoteEphemeral);
  const se = dhOrNull(hs.localEphemeral, hs.remoteStatic);
  if (ee === null || se === null) return null;
  mixKey(hs.chainKey, ee);
  mixKey(hs.chainKey, se);

  const [c, tau, key] = kdf3(hs.chainKey, hs.presharedKey);
  hs.chainKey.set(c);
  mixHash(hs.hash, tau);
  const encEmpty = aeadSeal(key, 0, EMPTY, hs.hash);
  msg.set(encEmpty, RESP_EMPTY);
  mixHash(hs.hash, encEmpty);

  hs.localIndex = localIndex;
  hs.state = 'response-created';
  return msg;
}

/**
 * Consumes a response to our initiation. `hs` is the handshake found by the receiver
 * index. On success the handshake moves to 'response-consumed'; on failure it is untouched.
 */
export function consumeResponse(local: StaticIdentity, hs: Handshake, msg: Uint8Array): boolean {
  if (msg.length !== RESPONSE_SIZE || hs.state !== 'initiation-created') return false;
  const chainKey = Uint8Array.from(hs.chainKey);
  const h = Uint8Array.from(hs.hash);

  const remoteEphemeral = msg.slice(RESP_EPHEMERAL, RESP_EPHEMERAL + KEY_LEN);
  mixKey(chainKey, remoteEphemeral);
  mixHash(h, remoteEphemeral);

  const ee = dhOrNull(hs.localEphemeral, remoteEphemeral);
  const se = dhOrNull(local.privateKey, remoteEphemeral);
  if (ee === null || se === null) return false;
  mixKey(chainKey, ee);
  mixKey(chainKey, se);

  const [c, tau, key] = kdf3(chainKey, hs.presharedKey);
  chainKey.set(c);
  mixHash(h, tau);
  const encEmpty = msg.subarray(RESP_EMPTY, RESP_EMPTY + TAG_LEN);
  if (aeadOpen(key, 0, encEmpty, h) === null) return false;
  mixHash(h, encEmpty);

  hs.chainKey.set(chainKey);
  hs.hash.set(h);
  hs.remoteEphemeral.set(remoteEphemeral);
  hs.remoteIndex = readU32LE(msg, RESP_SENDER);
  hs.state = 'response-consumed';
  return true;
}

/** The transport keys of a finished handshake: [sending, receiving]. Clears the handshake. */
export function deriveTransportKeys(hs: Handshake): { send: Uint8Array; receive: Uint8Array; initiator: boolean } | null {
  let initiator: boolean;
  if (hs.state === 'response-consumed') initiator = true;
  else if (hs.state === 'response-created') initiator = false;
  else return null;
  const [first, second] = kdf2(hs.chainKey, EMPTY);
  const keys = initiator ? { send: first, receive: second } : { send: second, receive: first };
  hs.clear();
  return { ...keys, initiator };
}
