// mac1, mac2 and the cookie reply (paper, section 5.4.4 and 5.4.7). mac1 proves the sender
// knows our public key; under load mac2 proves it can receive at its source address, by
// echoing a cookie we handed it in an encrypted cookie reply.
import { randomBytes } from 'node:crypto';
import { hash, mac } from '../crypto/blake2s.js';
import { xchachaOpen, xchachaSeal } from '../crypto/xchacha.js';
import { constantTimeEqual, isZero } from '../crypto/util.js';
import {
  COOKIE_COOKIE,
  COOKIE_NONCE,
  COOKIE_NONCE_LEN,
  COOKIE_RECEIVER,
  COOKIE_REFRESH_TIME,
  COOKIE_REPLY_SIZE,
  LABEL_COOKIE,
  LABEL_MAC1,
  MAC_LEN,
  MESSAGE_COOKIE_REPLY,
  TAG_LEN,
  writeHeader,
  writeU32LE,
} from './messages.js';

const encoder = new TextEncoder();
const LABEL_MAC1_BYTES = encoder.encode(LABEL_MAC1);
const LABEL_COOKIE_BYTES = encoder.encode(LABEL_COOKIE);

function mac1Offset(msg: Uint8Array): number {
  return msg.length - 2 * MAC_LEN;
}

function mac2Offset(msg: Uint8Array): number {
  return msg.length - MAC_LEN;
}

/** The responder side: checks macs on messages sent to us and makes cookie replies. */
export class CookieChecker {
  private mac1Key: Uint8Array = new Uint8Array(32);
  private encryptionKey: Uint8Array = new Uint8Array(32);
  private secret: Uint8Array = new Uint8Array(32);
  private secretSetAt = -Infinity;

  /** Called whenever our static public key changes. */
  setPublicKey(publicKey: Uint8Array | null): void {
    if (publicKey === null) {
      this.mac1Key = new Uint8Array(32);
      this.encryptionKey = new Uint8Array(32);
      return;
    }
    this.mac1Key = hash(LABEL_MAC1_BYTES, publicKey);
    this.encryptionKey = hash(LABEL_COOKIE_BYTES, publicKey);
  }

  checkMac1(msg: Uint8Array): boolean {
    const off = mac1Offset(msg);
    const expected = mac(this.mac1Key, msg.subarray(0, off));
    return constantTimeEqual(expected, msg.subarray(off, off + MAC_LEN));
  }

  checkMac2(msg: Uint8Array, source: Uint8Array, nowMs: number): boolean {
    const off = mac2Offset(msg);
    const expected = mac(this.cookieFor(source, nowMs), msg.subarray(0, off));
    return constantTimeEqual(expected, msg.subarray(off, off + MAC_LEN));
  }

  /** A cookie reply to `msg` (whose sender index is `senderIndex`) from `source`. */
  createReply(msg: Uint8Array, senderIndex: number, source: Uint8Array, nowMs: number): Uint8Array {
    const reply = new Uint8Array(COOKIE_REPLY_SIZE);
    writeHeader(reply, 0, MESSAGE_COOKIE_REPLY);
    writeU32LE(reply, COOKIE_RECEIVER, senderIndex);
    const nonce = randomBytes(COOKIE_NONCE_LEN);
    reply.set(nonce, COOKIE_NONCE);
    const off = mac1Offset(msg);
    const sealed = xchachaSeal(this.encryptionKey, nonce, this.cookieFor(source, nowMs), msg.subarray(off, off + MAC_LEN));
    reply.set(sealed, COOKIE_COOKIE);
    return reply;
  }

  /** τ = MAC(Rm, source), with Rm a random secret that changes every two minutes. */
  private cookieFor(source: Uint8Array, nowMs: number): Uint8Array {
    if (nowMs - this.secretSetAt >= COOKIE_REFRESH_TIME) {
      this.secret = randomBytes(32);
      this.secretSetAt = nowMs;
    }
    return mac(this.secret, source);
  }
}

/** The initiator side, one per peer: adds macs to our messages and keeps the peer's cookie. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly decryptionKey: Uint8Array;
  private lastMac1: Uint8Array = new Uint8Array(MAC_LEN);
  private hasSentMac1 = false;
  private cookie: Uint8Array = new Uint8Array(MAC_LEN);
  private cookieSetAt = -Infinity;

  constructor(peerPublicKey: Uint8Array) {
    this.mac1Key = hash(LABEL_MAC1_BYTES, peerPublicKey);
    this.decryptionKey = hash(LABEL_COOKIE_BYTES, peerPublicKey);
  }

  /** Fills mac1, and mac2 when we hold a fresh cookie, in place. */
  addMacs(msg: Uint8Array, nowMs: number): void {
    const m1 = mac1Offset(msg);
    const m2 = mac2Offset(msg);
    this.lastMac1 = mac(this.mac1Key, msg.subarray(0, m1));
    this.hasSentMac1 = true;
    msg.set(this.lastMac1, m1);
    if (nowMs - this.cookieSetAt < COOKIE_REFRESH_TIME && !isZero(this.cookie)) {
      msg.set(mac(this.cookie, msg.subarray(0, m2)), m2);
    } else {
      msg.fill(0, m2, m2 + MAC_LEN);
    }
  }

  /** Takes the cookie from a reply to our last message; false if it does not decrypt. */
  consumeReply(reply: Uint8Array, nowMs: number): boolean {
    if (reply.length !== COOKIE_REPLY_SIZE || !this.hasSentMac1) return false;
    const nonce = reply.subarray(COOKIE_NONCE, COOKIE_NONCE + COOKIE_NONCE_LEN);
    const sealed = reply.subarray(COOKIE_COOKIE, COOKIE_COOKIE + MAC_LEN + TAG_LEN);
    const cookie = xchachaOpen(this.decryptionKey, nonce, sealed, this.lastMac1);
    if (cookie === null) return false;
    this.cookie = cookie;
    this.cookieSetAt = nowMs;
    this.hasSentMac1 = false;
    return true;
  }
}
