// mac1/mac2 and cookie replies between a CookieGenerator (initiator) and a CookieChecker
// (responder), and the handshake rate limiter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CookieChecker, CookieGenerator } from '../../src/wireguard/cookie.js';
import { RateLimiter, rateLimitKey } from '../../src/wireguard/ratelimiter.js';
import { generatePrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { INITIATION_SIZE } from '../../src/wireguard/messages.js';

function setup() {
  const responderPub = publicKey(generatePrivateKey());
  const checker = new CookieChecker();
  checker.setPublicKey(responderPub);
  const gen = new CookieGenerator(responderPub);
  const msg = randomBytes(INITIATION_SIZE);
  msg.writeUInt32LE(1, 0);
  return { checker, gen, msg, source: Buffer.from('192.0.2.9:51820') };
}

test('mac1 binds a message to the responder public key', () => {
  const { checker, gen, msg } = setup();
  gen.addMacs(msg, 0);
  assert.ok(checker.checkMac1(msg));
  const other = new CookieChecker();
  other.setPublicKey(publicKey(generatePrivateKey()));
  assert.equal(other.checkMac1(msg), false);
  msg[10] ^= 1;
  assert.equal(checker.checkMac1(msg), false);
});

test('a cookie reply gives the initiator a mac2 that the responder accepts from that source only', () => {
  const { checker, gen, msg, source } = setup();
  gen.addMacs(msg, 0);
  assert.equal(checker.checkMac2(msg, source, 0), false, 'no cookie yet: mac2 is zero');
  const reply = checker.createReply(msg, 42, source, 0);
  assert.equal(Buffer.from(reply).readUInt32LE(4), 42);
  assert.ok(gen.consumeReply(reply, 0));
  gen.addMacs(msg, 1000);
  assert.ok(checker.checkMac2(msg, source, 1000));
  assert.equal(checker.checkMac2(msg, Buffer.from('192.0.2.10:51820'), 1000), false);
});

test('a cookie reply is only accepted for our last message, and not twice', () => {
  const { checker, gen, msg, source } = setup();
  gen.addMacs(msg, 0);
  const reply = checker.createReply(msg, 1, source, 0);
  const tampered = Buffer.from(reply);
  tampered[40] ^= 1;
  assert.equal(gen.consumeReply(tampered, 0), false);
  assert.ok(gen.consumeReply(reply, 0));
  assert.equal(gen.consumeReply(reply, 0), false);
});

test('the cookie secret rotates every two minutes, and the initiator stops using a cookie after two minutes', () => {
  const { checker, gen, msg, source } = setup();
  gen.addMacs(msg, 0);
  assert.ok(gen.consumeReply(checker.createReply(msg, 1, source, 0), 0));
  gen.addMacs(msg, 60_000);
  assert.ok(checker.checkMac2(msg, source, 60_000));
  assert.equal(checker.checkMac2(msg, source, 121_000), false, 'the responder secret has changed');
  gen.addMacs(msg, 121_000);
  assert.ok(msg.subarray(INITIATION_SIZE - 16).every((b) => b === 0), 'stale cookie: mac2 is zero');
});

test('handshake rate limit: a burst of 5, then 20 per second, per source', () => {
  const rl = new RateLimiter();
  const allowed = (key: string, t: number) => rl.allow(key, t);
  let n = 0;
  for (let i = 0; i < 10; i++) if (allowed('192.0.2.1', 0)) n++;
  assert.equal(n, 5, 'burst of 5');
  assert.ok(allowed('192.0.2.2', 0), 'another source has its own bucket');
  n = 0;
  for (let t = 1; t <= 1000; t++) if (allowed('192.0.2.1', t)) n++;
  assert.equal(n, 20, '20 per second after the burst');
  assert.equal(rateLimitKey(6, '2001:db8:1:2:3:4:5:6'), rateLimitKey(6, '2001:db8:1:2::9'), 'IPv6 per /64');
});
