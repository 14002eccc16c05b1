// The native batch ChaCha20-Poly1305 (native/aead.cc through src/crypto/aead.ts): it must
// agree byte for byte with an independent implementation (@noble/ciphers), open what it
// seals, reject exactly the tampered packets, and refuse bad geometry without writing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { aeadOpen, aeadSeal, nonceFor, openBatch, sealBatch } from '../../src/crypto/aead.js';
import { HEADROOM, PacketBatch } from '../../src/wireguard/batch.js';

const TAG = 16;

interface Job {
  plaintexts: Uint8Array[];
  keys: Uint8Array; // n * 32 bytes
  keyIndex: Uint16Array;
  counters: BigUint64Array;
}

// Lays the plaintexts out in a PacketBatch (headroom in front, tailroom for the tag).
function load(job: Job): PacketBatch {
  const batch = new PacketBatch(Math.max(1, job.plaintexts.length), 1500);
  for (const p of job.plaintexts) assert.ok(batch.push(p));
  return batch;
}

function nobleSeal(job: Job, i: number): Uint8Array {
  const k = job.keyIndex[i];
  const key = job.keys.subarray(k * 32, k * 32 + 32);
  return chacha20poly1305(key, nonceFor(job.counters[i])).encrypt(job.plaintexts[i]);
}

const counterArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 1000n }),
  fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
  fc.constant(0xffff_ffff_ffff_ffffn),
  fc.constant(0xffff_ffffn),
);

const jobArb = fc
  .record({
    keyCount: fc.integer({ min: 1, max: 5 }),
    packets: fc.array(
      fc.record({
        len: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.constantFrom(0, 1, 15, 16, 17, 63, 64, 65, 1420, 1500)),
        keyPick: fc.nat(),
        counter: counterArb,
        seed: fc.nat(),
      }),
      { minLength: 1, maxLength: 40 },
    ),
  })
  .map(({ keyCount, packets }): Job => ({
    plaintexts: packets.map((p) => new Uint8Array(randomBytes(p.len))),
    keys: new Uint8Array(randomBytes(keyCount * 32)),
    keyIndex: Uint16Array.from(packets.map((p) => p.keyPick % keyCount)),
    counters: BigUint64Array.from(packets.map((p) => p.counter)),
  }));

test('sealBatch agrees with @noble/ciphers and openBatch restores every packet', () => {
  fc.assert(
    fc.property(jobArb, (job) => {
      const batch = load(job);
      const n = job.plaintexts.length;
      sealBatch(batch.slab, n, batch.offsets, batch.lengths, job.keys, job.keyIndex, job.counters);
      for (let i = 0; i < n; i++) {
        const sealed = batch.slab.subarray(batch.offsets[i], batch.offsets[i] + batch.lengths[i] + TAG);
        assert.deepEqual(new Uint8Array(sealed), nobleSeal(job, i), `packet ${i}`);
        batch.lengths[i] += TAG;
      }
      const ok = new Uint8Array(n);
      openBatch(batch.slab, n, batch.offsets, batch.lengths, job.keys, job.keyIndex, job.counters, ok);
      for (let i = 0; i < n; i++) {
        assert.equal(ok[i], 1, `packet ${i} authentic`);
        const plain = batch.slab.subarray(batch.offsets[i], batch.offsets[i] + batch.lengths[i] - TAG);
        assert.deepEqual(new Uint8Array(plain), job.plaintexts[i]);
      }
    }),
    { numRuns: 60 },
  );
});

test('openBatch accepts what @noble/ciphers sealed, and agrees with the single-packet form', () => {
  fc.assert(
    fc.property(jobArb, (job) => {
      const sealed = job.plaintexts.map((_, i) => nobleSeal(job, i));
      const batch = new PacketBatch(sealed.length, 1500 + TAG);
      for (const s of sealed) assert.ok(batch.push(s));
      const ok = new Uint8Array(sealed.length);
      openBatch(batch.slab, sealed.length, batch.offsets, batch.lengths, job.keys, job.keyIndex, job.counters, ok);
      for (let i = 0; i < sealed.length; i++) {
        assert.equal(ok[i], 1);
        const plain = batch.slab.subarray(batch.offsets[i], batch.offsets[i] + batch.lengths[i] - TAG);
        assert.deepEqual(new Uint8Array(plain), job.plaintexts[i]);
        const k = job.keyIndex[i];
        const viaSingle = aeadOpen(job.keys.subarray(k * 32, k * 32 + 32), job.counters[i], sealed[i], new Uint8Array(0));
        assert.deepEqual(viaSingle, job.plaintexts[i]);
      }
    }),
    { numRuns: 30 },
  );
});

test('openBatch rejects exactly the packets with a flipped ciphertext or tag bit', () => {
  fc.assert(
    fc.property(
      jobArb.filter((j) => j.plaintexts.length >= 3),
      fc.nat(),
      fc.nat(),
      (job, pickA, bitSeed) => {
        const n = job.plaintexts.length;
        const batch = load(job);
        sealBatch(batch.slab, n, batch.offsets, batch.lengths, job.keys, job.keyIndex, job.counters);
        for (let i = 0; i < n; i++) batch.lengths[i] += TAG;
        // Packet a: flip a bit anywhere in ciphertext||tag. Packet b: flip a bit of the tag.
        const a = pickA % n;
        const b = (a + 1) % n;
        const posA = bitSeed % batch.lengths[a];
        batch.slab[batch.offsets[a] + posA] ^= 1 << (bitSeed % 8);
        const posB = batch.lengths[b] - TAG + (bitSeed % TAG);
        batch.slab[batch.offsets[b] + posB] ^= 0x80;
        const ok = new Uint8Array(n);
        openBatch(batch.slab, n, batch.offsets, batch.lengths, job.keys, job.keyIndex, job.counters, ok);
        for (let i = 0; i < n; i++) assert.equal(ok[i], i === a || i === b ? 0 : 1, `packet ${i}`);
      },
    ),
    { numRuns: 40 },
  );
});

test('openBatch: wrong key, wrong counter and packets shorter than a tag are not authentic', () => {
  const keys = new Uint8Array(randomBytes(64));
  const plain = new Uint8Array(randomBytes(100));
  const sealed = aeadSeal(keys.subarray(0, 32), 7n, plain, new Uint8Array(0));
  const batch = new PacketBatch(5, 200);
  batch.push(sealed); // right key (0), wrong counter
  batch.push(sealed); // wrong key (1)
  batch.push(sealed); // right
  batch.push(sealed.subarray(0, 15)); // too short
  batch.push(new Uint8Array(0)); // empty
  const ok = new Uint8Array(5).fill(9);
  openBatch(batch.slab, 5, batch.offsets, batch.lengths, keys, Uint16Array.of(0, 1, 0, 0, 0), BigUint64Array.of(8n, 7n, 7n, 7n, 7n), ok);
  assert.deepEqual([...ok], [0, 0, 1, 0, 0]);
  assert.deepEqual(new Uint8Array(batch.packet(2).subarray(0, 100)), plain);
});

test('a failed batch open leaves node:crypto working (no stale OpenSSL errors)', () => {
  const key = new Uint8Array(randomBytes(32));
  const batch = new PacketBatch(1, 100);
  batch.push(new Uint8Array(40)); // garbage: fails authentication
  const ok = new Uint8Array(1);
  openBatch(batch.slab, 1, batch.offsets, batch.lengths, key, Uint16Array.of(0), BigUint64Array.of(0n), ok);
  assert.equal(ok[0], 0);
  const sealed = aeadSeal(key, 3, Uint8Array.of(1, 2, 3), Uint8Array.of(9));
  assert.deepEqual(aeadOpen(key, 3, sealed, Uint8Array.of(9)), Uint8Array.of(1, 2, 3));
  assert.equal(randomBytes(8).length, 8);
});

test('count 0 is a no-op', () => {
  const slab = Buffer.alloc(64, 0xab);
  sealBatch(slab, 0, new Uint32Array(0), new Uint32Array(0), new Uint8Array(0), new Uint16Array(0), new BigUint64Array(0));
  openBatch(slab, 0, new Uint32Array(0), new Uint32Array(0), new Uint8Array(0), new Uint16Array(0), new BigUint64Array(0), new Uint8Array(0));
  assert.ok(slab.every((x) => x === 0xab));
});

test('bad arguments throw and leave the slab untouched', () => {
  const slab = Buffer.alloc(4096, 0x5a);
  const before = Buffer.from(slab);
  const keys = new Uint8Array(64);
  const offsets = Uint32Array.of(HEADROOM, 1000);
  const lengths = Uint32Array.of(100, 100);
  const keyIndex = Uint16Array.of(0, 1);
  const counters = BigUint64Array.of(1n, 2n);
  const ok = new Uint8Array(2);
  type Args = [Buffer, number, Uint32Array, Uint32Array, Uint8Array, Uint16Array, BigUint64Array];
  const good: Args = [slab, 2, offsets, lengths, keys, keyIndex, counters];
  const cases: Array<{ name: string; args: Args; error: typeof RangeError | typeof TypeError }> = [
    { name: 'offset beyond the slab', args: [slab, 2, Uint32Array.of(HEADROOM, 5000), lengths, keys, keyIndex, counters], error: RangeError },
    // The first packet is fine: validation must still happen before it is sealed.
    { name: 'tag would not fit', args: [slab, 2, Uint32Array.of(HEADROOM, 4096 - 100), lengths, keys, keyIndex, counters], error: RangeError },
    { name: 'offset + length overflows 32 bits', args: [slab, 2, Uint32Array.of(HEADROOM, 0xffffff00), lengths, keys, keyIndex, counters], error: RangeError },
    { name: 'huge length', args: [slab, 2, offsets, Uint32Array.of(100, 0xffffffff), keys, keyIndex, counters], error: RangeError },
    { name: 'keyIndex beyond keys', args: [slab, 2, offsets, lengths, keys, Uint16Array.of(0, 2), counters], error: RangeError },
    { name: 'count beyond the arrays', args: [slab, 3, offsets, lengths, keys, keyIndex, counters], error: RangeError },
    { name: 'negative count', args: [slab, -1, offsets, lengths, keys, keyIndex, counters], error: RangeError },
    { name: 'fractional count', args: [slab, 1.5, offsets, lengths, keys, keyIndex, counters], error: RangeError },
  ];
  for (const c of cases) {
    assert.throws(() => sealBatch(...c.args), c.error, `seal: ${c.name}`);
    assert.deepEqual(slab, before, `seal: ${c.name} wrote`);
    if (c.name !== 'tag would not fit') {
      assert.throws(() => openBatch(...c.args, ok), c.error, `open: ${c.name}`);
      assert.deepEqual(slab, before, `open: ${c.name} wrote`);
    }
  }
  // Wrong array types are TypeErrors (checked through the untyped native entry point).
  const loose = sealBatch as unknown as (...args: unknown[]) => void;
  assert.throws(() => loose(slab, 2, lengths, Int32Array.from(lengths), keys, keyIndex, counters), TypeError);
  assert.throws(() => loose(slab, 2, offsets, lengths, keys, Uint32Array.of(0, 1), counters), TypeError);
  assert.throws(() => loose(slab, 2, offsets, lengths, keys, keyIndex, [1n, 2n]), TypeError);
  assert.throws(() => loose('slab', 2, offsets, lengths, keys, keyIndex, counters), TypeError);
  assert.throws(() => openBatch(...good, new Uint8Array(1)), RangeError);
  assert.deepEqual(slab, before);
  // And the good arguments do work.
  sealBatch(...good);
  assert.notDeepEqual(slab, before);
});
