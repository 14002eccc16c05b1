// Seal throughput for 1420-byte packets: the native batch (one N-API call per batch) vs
// node:crypto with one cipher object per packet vs @noble/ciphers (pure JS), in one run.
// Run: node dist/test/bench/aead-bench.js [seconds-per-case]
import { createCipheriv, randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { nonceFor, openBatch, sealBatch } from '../src/crypto/aead.js';
import { PacketBatch } from '../src/wireguard/batch.js';

const PACKET = 1420;
const BATCH = 128;
const TAG = 16;
const seconds = Number(process.argv[2] ?? '1');

function measure(name: string, packetsPerCall: number, run: () => void): void {
  for (let i = 0; i < 20; i++) run(); // warm up
  let calls = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < until) {
    for (let i = 0; i < 10; i++) run();
    calls += 10;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  const pps = (calls * packetsPerCall) / elapsed;
  const gbit = (pps * PACKET * 8) / 1e9;
  console.log(`${name.padEnd(44)} ${Math.round(pps).toLocaleString('en-US').padStart(12)} packets/s  ${gbit.toFixed(2).padStart(6)} Gbit/s`);
}

const key = new Uint8Array(randomBytes(32));
const batch = new PacketBatch(BATCH, PACKET);
for (let i = 0; i < BATCH; i++) batch.push(randomBytes(PACKET));
const keys = key;
const keyIndex = new Uint16Array(BATCH);
const counters = new BigUint64Array(BATCH);
// Counters are written through a 32-bit view of the same memory: a number counter (exact
// to 2^53) fills the BigUint64Array with no BigInt allocated per packet.
const counterWords = new Uint32Array(counters.buffer);
let counter = 0;

console.log(`ChaCha20-Poly1305 seal, ${PACKET}-byte packets, ${seconds} s per case`);

measure(`native sealBatch (batches of ${BATCH})`, BATCH, () => {
  for (let i = 0; i < BATCH; i++, counter++) {
    counterWords[2 * i] = counter >>> 0;
    counterWords[2 * i + 1] = Math.floor(counter / 0x1_0000_0000);
  }
  sealBatch(batch.slab, BATCH, batch.offsets, batch.lengths, keys, keyIndex, counters);
});

// Opening what was just sealed measures the receive side (all tags verify).
const sealedLengths = batch.lengths.map((l) => l + TAG);
const ok = new Uint8Array(BATCH);
const openSlab = Buffer.from(batch.slab);
measure(`native openBatch (batches of ${BATCH})`, BATCH, () => {
  openSlab.set(batch.slab); // restore the ciphertext the previous round decrypted
  openBatch(openSlab, BATCH, batch.offsets, sealedLengths, keys, keyIndex, counters, ok);
});

const plain = randomBytes(PACKET);
const out = Buffer.alloc(PACKET + TAG);
measure('node:crypto, one createCipheriv per packet', 1, () => {
  const c = createCipheriv('chacha20-poly1305', key, nonceFor(counter++), { authTagLength: TAG });
  const body = c.update(plain);
  c.final();
  out.set(body);
  out.set(c.getAuthTag(), PACKET);
});

const nobleOut = new Uint8Array(PACKET + TAG);
measure('@noble/ciphers, per packet', 1, () => {
  chacha20poly1305(key, nonceFor(counter++)).encrypt(plain, nobleOut);
});
