// Known-answer tests for the primitives in src/crypto/, with vectors copied from the
// documents that define them (cited per test), plus the properties the protocol relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { aeadOpen, aeadSeal, nonceFor, openWithNonce, sealWithNonce } from '../../src/crypto/aead.js';
import { blake2sDigest, hash, hmac, kdf1, kdf2, kdf3, mac } from '../../src/crypto/blake2s.js';
import { generatePrivateKey, publicKey, sharedSecret } from '../../src/crypto/x25519.js';
import { xchachaOpen, xchachaSeal } from '../../src/crypto/xchacha.js';
import { constantTimeEqual, isZero, zero } from '../../src/crypto/util.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

// ---------------------------------------------------------------------------------------
// X25519, RFC 7748

test('X25519: RFC 7748 section 5.2 single scalar multiplications', () => {
  // The second u-coordinate has its top bit set; section 5 says implementations mask it.
  const vectors = [
    {
      k: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
      u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
      out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    },
    {
      k: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
      u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
      out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
    },
  ];
  for (const v of vectors) assert.equal(toHex(sharedSecret(hex(v.k), hex(v.u))), v.out);
});

test('X25519: RFC 7748 section 5.2 iterated vector (1 and 1,000 iterations)', () => {
  let k = hex('0900000000000000000000000000000000000000000000000000000000000000');
  let u = k;
  for (let i = 1; i <= 1000; i++) {
    const r = sharedSecret(k, u);
    u = k;
    k = r;
    if (i === 1) assert.equal(toHex(k), '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
  }
  assert.equal(toHex(k), '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
});

test('X25519: RFC 7748 section 6.1 Diffie-Hellman example', () => {
  const a = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const A = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
  const b = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const B = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
  const K = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(publicKey(a)), A);
  assert.equal(toHex(publicKey(b)), B);
  assert.equal(toHex(sharedSecret(a, hex(B))), K);
  assert.equal(toHex(sharedSecret(b, hex(A))), K);
});

test('X25519: low-order public keys give the all-zero secret instead of throwing', () => {
  const priv = generatePrivateKey();
  for (const low of [new Uint8Array(32), hex('01' + '00'.repeat(31))]) {
    const s = sharedSecret(priv, low);
    assert.equal(s.length, 32);
    assert.ok(isZero(s));
  }
});

test('X25519: generated keys are clamped and agree with @noble/curves', () => {
  for (let i = 0; i < 20; i++) {
    const a = generatePrivateKey();
    const b = generatePrivateKey();
    assert.equal(a.length, 32);
    assert.equal(a[0] & 7, 0);
    assert.equal(a[31] & 0x80, 0);
    assert.equal(a[31] & 0x40, 0x40);
    const A = publicKey(a);
    assert.deepEqual(A, nobleX25519.getPublicKey(a));
    const s1 = sharedSecret(a, publicKey(b));
    assert.deepEqual(s1, sharedSecret(b, A));
    assert.deepEqual(s1, nobleX25519.getSharedSecret(a, publicKey(b)));
  }
});

test('X25519: wrong key lengths are rejected', () => {
  assert.throws(() => publicKey(new Uint8Array(31)), RangeError);
  assert.throws(() => sharedSecret(new Uint8Array(32), new Uint8Array(33)), RangeError);
});

// ---------------------------------------------------------------------------------------
// ChaCha20-Poly1305, RFC 8439

const SUNSCREEN = ascii(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

test('ChaCha20-Poly1305: RFC 8439 section 2.8.2 example', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('07000000 4041424344454647');
  const aad = hex('50515253c0c1c2c3c4c5c6c7');
  const ciphertext =
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
    '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116';
  const tag = '1ae10b594f09e26a7e902ecbd0600691';
  assert.equal(SUNSCREEN.length, 114);
  const sealed = sealWithNonce(key, nonce, SUNSCREEN, aad);
  assert.equal(toHex(sealed), ciphertext + tag);
  assert.deepEqual(openWithNonce(key, nonce, sealed, aad), SUNSCREEN);
});

test('ChaCha20-Poly1305: RFC 8439 appendix A.5 decryption, as a WireGuard counter', () => {
  // The appendix's nonce is 00000000 || 0102030405060708: exactly WireGuard's layout, so
  // it is the counter 0x0807060504030201 read little-endian.
  const key = hex('1c9240a5eb55d38af333888604f6b5f04739 17c1402b80099dca5cbc207075c0');
  const counter = 0x0807060504030201n;
  assert.equal(toHex(nonceFor(counter)), '000000000102030405060708');
  const aad = hex('f33388860000000000004e91');
  const ciphertext = hex(`
    64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2
    4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf
    332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855
    9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4
    b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e
    af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a
    0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10
    49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29
    a6ad5cb4022b02709b`);
  const tag = hex('eead9d67890cbb22392336fea1851f38');
  const sealed = new Uint8Array(ciphertext.length + 16);
  sealed.set(ciphertext);
  sealed.set(tag, ciphertext.length);
  const plain = aeadOpen(key, counter, sealed, aad);
  assert.ok(plain !== null);
  const text = Buffer.from(plain).toString('utf8');
  assert.ok(text.startsWith('Internet-Drafts are draft documents valid for a maximum of six months'));
  assert.ok(text.endsWith('/\u201cwork in progress./\u201d'));
  assert.deepEqual(aeadSeal(key, counter, plain, aad), sealed);
});

test('ChaCha20-Poly1305: WireGuard nonces agree with @noble/ciphers and reject tampering', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const aad = hash(ascii('some handshake hash'));
  for (const counter of [0, 1, 255, 2 ** 32, Number.MAX_SAFE_INTEGER, 0xffffffffffffffffn]) {
    const sealed = aeadSeal(key, counter, SUNSCREEN, aad);
    assert.deepEqual(sealed, chacha20poly1305(key, nonceFor(counter), aad).encrypt(SUNSCREEN));
    assert.deepEqual(aeadOpen(key, counter, sealed, aad), SUNSCREEN);
    const flipped = Uint8Array.from(sealed);
    flipped[7] ^= 0x01;
    assert.equal(aeadOpen(key, counter, flipped, aad), null);
    assert.equal(aeadOpen(key, counter, sealed, ascii('other aad')), null);
  }
  // Empty plaintext: the 16-byte tag alone (the handshake's "empty" field).
  const empty = aeadSeal(key, 0, new Uint8Array(0), aad);
  assert.equal(empty.length, 16);
  assert.deepEqual(aeadOpen(key, 0, empty, aad), new Uint8Array(0));
  assert.equal(aeadOpen(key, 0, empty.subarray(0, 15), aad), null);
  assert.throws(() => nonceFor(-1), RangeError);
  assert.throws(() => nonceFor(2n ** 64n), RangeError);
  assert.throws(() => aeadSeal(new Uint8Array(16), 0, SUNSCREEN, aad), RangeError);
});

// ---------------------------------------------------------------------------------------
// BLAKE2s, RFC 7693, and WireGuard's constructions on it

test('BLAKE2s: RFC 7693 appendix B, BLAKE2s-256("abc")', () => {
  assert.equal(toHex(hash(ascii('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  // Parts are concatenated.
  assert.equal(toHex(hash(ascii('a'), ascii(''), ascii('bc'))), toHex(hash(ascii('abc'))));
});

// RFC 7693 appendix E: a Fibonacci byte generator seeded per length.
function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = t >>> 24;
  }
  return out;
}

test('BLAKE2s: RFC 7693 appendix E self-test (unkeyed and keyed, 16..32-byte outputs)', () => {
  const digests: Uint8Array[] = [];
  for (const outLen of [16, 20, 28, 32]) {
    for (const inLen of [0, 3, 64, 65, 255, 1024]) {
      const input = selftestSeq(inLen, inLen);
      digests.push(blake2sDigest(outLen, undefined, input));
      const key = selftestSeq(outLen, outLen);
      // The 16-byte keyed case is exactly WireGuard's MAC; run it through mac().
      digests.push(outLen === 16 ? mac(key, input) : blake2sDigest(outLen, key, input));
    }
  }
  assert.equal(toHex(hash(...digests)), '6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
});

test('BLAKE2s: WireGuard initial chaining key HASH("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")', () => {
  assert.equal(
    toHex(hash(ascii('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'))),
    '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36',
  );
});

// HMAC as RFC 2104 defines it, written out independently over the 64-byte BLAKE2s block.
function referenceHmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? hash(key) : key);
  const ipad = block.map((x) => x ^ 0x36);
  const opad = block.map((x) => x ^ 0x5c);
  return hash(opad, hash(ipad, data));
}

test('HMAC-BLAKE2s: matches the RFC 2104 construction for short, block-size and long keys', () => {
  for (const keyLen of [0, 1, 32, 64, 65, 100]) {
    const key = selftestSeq(keyLen, keyLen + 7);
    for (const dataLen of [0, 1, 33, 64, 200]) {
      const data = selftestSeq(dataLen, dataLen + 3);
      assert.deepEqual(hmac(key, data), referenceHmac(key, data), `key ${keyLen}, data ${dataLen}`);
    }
  }
  // It is not BLAKE2s's own keyed mode.
  const key = selftestSeq(32, 1);
  assert.notDeepEqual(hmac(key, ascii('x')), blake2sDigest(32, key, ascii('x')));
});

test('KDF1..3: HKDF exactly as the WireGuard paper defines it', () => {
  const key = selftestSeq(32, 11);
  for (const inputLen of [0, 32]) {
    const input = selftestSeq(inputLen, 5);
    const t0 = referenceHmac(key, input);
    const t1 = referenceHmac(t0, Uint8Array.of(1));
    const t2 = referenceHmac(t0, Uint8Array.of(...t1, 2));
    const t3 = referenceHmac(t0, Uint8Array.of(...t2, 3));
    assert.deepEqual(kdf1(key, input), t1);
    assert.deepEqual(kdf2(key, input), [t1, t2]);
    assert.deepEqual(kdf3(key, input), [t1, t2, t3]);
  }
});

test('MAC: keyed BLAKE2s with a 16-byte output, over concatenated parts', () => {
  const key = selftestSeq(32, 9);
  const m = mac(key, ascii('hello '), ascii('world'));
  assert.equal(m.length, 16);
  assert.deepEqual(m, mac(key, ascii('hello world')));
  assert.notDeepEqual(m, mac(selftestSeq(32, 10), ascii('hello world')));
});

// ---------------------------------------------------------------------------------------
// XChaCha20-Poly1305, draft-irtf-cfrg-xchacha appendix A.3.1

test('XChaCha20-Poly1305: draft-irtf-cfrg-xchacha A.3.1', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const aad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb' +
    '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
    '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e' +
    'c0875924c1c7987947deafd8780acf49';
  const sealed = xchachaSeal(key, nonce, SUNSCREEN, aad);
  assert.equal(toHex(sealed), expected);
  assert.deepEqual(xchachaOpen(key, nonce, sealed, aad), SUNSCREEN);
  const bad = Uint8Array.from(sealed);
  bad[bad.length - 1] ^= 0x80;
  assert.equal(xchachaOpen(key, nonce, bad, aad), null);
  assert.equal(xchachaOpen(key, nonce, sealed, new Uint8Array(0)), null);
  assert.equal(xchachaOpen(key, nonce, sealed.subarray(0, 10), aad), null);
  assert.throws(() => xchachaSeal(key, nonce.subarray(0, 12), SUNSCREEN, aad), RangeError);
});

// ---------------------------------------------------------------------------------------
// Helpers

test('util: constantTimeEqual, isZero and zero', () => {
  assert.equal(constantTimeEqual(hex('0102'), hex('0102')), true);
  assert.equal(constantTimeEqual(hex('0102'), hex('0103')), false);
  assert.equal(constantTimeEqual(hex('0102'), hex('01')), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  assert.equal(isZero(new Uint8Array(32)), true);
  assert.equal(isZero(hex('0000000001')), false);
  const secret = hex('deadbeef');
  zero(secret);
  assert.deepEqual(secret, new Uint8Array(4));
});
