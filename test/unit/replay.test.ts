import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COUNTER_LIMIT, RING_WORDS, ReplayWindow, WINDOW_SIZE } from '../../src/wireguard/replay.js';
import { readCounter } from '../../src/wireguard/messages.js';

/** The specification: accept once, if above the highest or at most WINDOW_SIZE below it. */
class SetModel {
  private readonly seen = new Set<number>();
  private highest = -1;
  constructor(private readonly limit: number) {}

  check(c: number): boolean {
    if (!(c >= 0 && c < this.limit && Number.isInteger(c))) return false;
    if (c > this.highest) return true;
    return this.highest - c <= WINDOW_SIZE && !this.seen.has(c);
  }

  accept(c: number): boolean {
    if (!this.check(c)) return false;
    this.seen.add(c);
    if (c > this.highest) this.highest = c;
    return true;
  }

  get top(): number {
    return this.highest;
  }
}

type Step = { op: 'accept' | 'check'; mode: number; n: number; pick: number };

const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom('accept' as const, 'accept' as const, 'check' as const),
  mode: fc.integer({ min: 0, max: 6 }),
  n: fc.nat({ max: 1 << 30 }),
  pick: fc.nat(),
});

/** Turns a step into a counter relative to the current state, to hit every region. */
function counterFor(step: Step, top: number, history: number[]): number {
  const base = Math.max(top, 0);
  switch (step.mode) {
    case 0: // just ahead (in order, small gaps)
      return base + (step.n % 40);
    case 1: // somewhat behind, inside or near the window edge
      return base - (step.n % (WINDOW_SIZE + 80));
    case 2: // exactly at the edges of the window
      return base - WINDOW_SIZE + (step.n % 3) - 1;
    case 3: // jump forward by up to a few ring lengths
      return base + (step.n % (3 * RING_WORDS * 32));
    case 4: // a counter seen (or tried) before: duplicates
      return history.length > 0 ? history[step.pick % history.length] : step.n % 10;
    case 5: // far ahead
      return base + step.n;
    default: // far behind, or negative
      return base - step.n;
  }
}

test('replay window agrees with a Set-based model over random walks of counters', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 400 }), (steps) => {
      const w = new ReplayWindow();
      const m = new SetModel(COUNTER_LIMIT);
      const history: number[] = [];
      for (const step of steps) {
        const c = counterFor(step, m.top, history);
        history.push(c);
        if (step.op === 'accept') assert.equal(w.accept(c), m.accept(c), `accept(${c}) top=${m.top}`);
        else assert.equal(w.check(c), m.check(c), `check(${c}) top=${m.top}`);
        assert.equal(w.highestAccepted, m.top);
      }
    }),
    { numRuns: 300 },
  );
});

test('replay window agrees with the model near a small counter limit', () => {
  fc.assert(
    fc.property(fc.array(fc.nat({ max: 12000 }), { maxLength: 300 }), (counters) => {
      const limit = 10000;
      const w = new ReplayWindow(limit);
      const m = new SetModel(limit);
      for (const c of counters) assert.equal(w.accept(c), m.accept(c));
    }),
    { numRuns: 100 },
  );
});

test('dense runs followed by jumps of any size: every counter in the window is judged right', () => {
  // Sweeps the whole window after the jump, so a ring word cleared one too few or one too
  // many times (or stale bits from 256 words earlier) cannot hide.
  fc.assert(
    fc.property(
      fc.nat({ max: 100_000 }),
      fc.integer({ min: 1, max: RING_WORDS * 32 + 700 }),
      fc.oneof(fc.integer({ min: 0, max: 3 * RING_WORDS * 32 }), fc.nat({ max: 1 << 30 })),
      (start, length, jump) => {
        const w = new ReplayWindow();
        const m = new SetModel(COUNTER_LIMIT);
        for (let c = start; c < start + length; c++) assert.equal(w.accept(c), m.accept(c));
        const target = start + length - 1 + jump;
        assert.equal(w.accept(target), m.accept(target));
        for (let c = Math.max(0, target - WINDOW_SIZE - 2); c <= target; c++) {
          assert.equal(w.check(c), m.check(c), `check(${c})`);
          assert.equal(w.accept(c), m.accept(c), `accept(${c})`);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('in-order counters over many ring lengths are each accepted exactly once', () => {
  const w = new ReplayWindow();
  for (let c = 0; c < 5 * RING_WORDS * 32; c++) {
    assert.equal(w.accept(c), true, String(c));
    assert.equal(w.accept(c), false, String(c));
  }
});

test('check never changes state; accept takes each counter once', () => {
  const w = new ReplayWindow();
  assert.equal(w.check(0), true);
  assert.equal(w.check(0), true);
  assert.equal(w.highestAccepted, -1);
  assert.equal(w.accept(0), true);
  assert.equal(w.check(0), false);
  assert.equal(w.accept(0), false);
  assert.equal(w.accept(2), true);
  assert.equal(w.check(1), true);
  assert.equal(w.accept(1), true);
  assert.equal(w.accept(1), false);
});

test('the window edge: WINDOW_SIZE below the highest is accepted, one more is not', () => {
  assert.ok(WINDOW_SIZE >= 2048);
  const w = new ReplayWindow();
  assert.equal(w.accept(20000), true);
  assert.equal(w.check(20000 - WINDOW_SIZE - 1), false);
  assert.equal(w.accept(20000 - WINDOW_SIZE - 1), false);
  assert.equal(w.accept(20000 - WINDOW_SIZE), true);
  assert.equal(w.accept(20000 - WINDOW_SIZE), false);
});

test('a jump far beyond the window forgets old counters and keeps working', () => {
  const w = new ReplayWindow();
  for (let c = 0; c < 300; c++) assert.equal(w.accept(c), true);
  const far = 1_000_000_007;
  assert.equal(w.accept(far), true);
  assert.equal(w.accept(299), false); // too old now
  // Counters just below the new highest were never seen, even if their ring bits were set.
  for (let c = far - 300; c < far; c++) assert.equal(w.accept(c), true, String(c));
  assert.equal(w.accept(far - 5), false);
});

test('counters out of range are refused: at the limit, >= 2^53, negative, fractional, NaN', () => {
  const small = new ReplayWindow(100);
  assert.equal(small.accept(99), true);
  assert.equal(small.check(100), false);
  assert.equal(small.accept(100), false);
  const w = new ReplayWindow();
  assert.equal(w.accept(2 ** 53 - 1), true);
  assert.equal(w.accept(2 ** 53), false);
  assert.equal(w.accept(2 ** 60), false);
  assert.equal(w.accept(Number.POSITIVE_INFINITY), false);
  assert.equal(w.accept(-1), false);
  assert.equal(w.accept(1.5), false);
  assert.equal(w.accept(Number.NaN), false);
  assert.equal(w.check(Number.NaN), false);
  assert.equal(w.highestAccepted, 2 ** 53 - 1);
});

test('reset starts a fresh session', () => {
  const w = new ReplayWindow();
  w.accept(5);
  w.accept(100000);
  w.reset();
  assert.equal(w.highestAccepted, -1);
  assert.equal(w.accept(5), true);
  assert.equal(w.accept(0), true);
});

test('readCounter reads 64-bit little-endian counters exactly below 2^53', () => {
  const b = new Uint8Array(12);
  const view = new DataView(b.buffer);
  view.setBigUint64(2, 0x1234_5678_9abcn, true);
  assert.equal(readCounter(b, 2), 0x1234_5678_9abc);
  view.setBigUint64(2, 2n ** 53n - 1n, true);
  assert.equal(readCounter(b, 2), 2 ** 53 - 1);
  view.setBigUint64(2, 2n ** 53n, true);
  assert.equal(readCounter(b, 2), Number.POSITIVE_INFINITY);
  view.setBigUint64(2, 2n ** 64n - 1n, true);
  assert.equal(readCounter(b, 2), Number.POSITIVE_INFINITY);
  view.setBigUint64(2, 0xffff_ffffn, true);
  assert.equal(readCounter(b, 2), 0xffff_ffff);
});
