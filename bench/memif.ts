// `npm run bench:memif`: frames/s and Gbit/s through our memif against dpdk-testpmd, with
// testpmd against testpmd over memif as the reference, for 64- and 1514-byte frames.
//
// Each measurement is a loop through a memif pair: a generator sends frames as fast as its
// transmit ring takes them and counts the frames that come back; testpmd on the
// other side swaps the MAC addresses of every frame and returns it (macswap). The rate is
// the returned frames per second over a fixed window after a warm-up.
//   reference: testpmd (server, flowgen: generate + count received) <-> testpmd (client, macswap)
//   ours:      this process (master; rxBurst/txBurst of 256-frame batches) <-> testpmd (client, macswap)
// Our generator re-sends one 256-frame batch (cache-hot, like the product's reused slabs);
// flowgen builds each frame in an mbuf from its pool. "ours" runs twice: in polling mode (our rings mask interrupts and we poll every event-loop
// turn, as testpmd does) and in interrupt mode (woken by testpmd's eventfd kicks: the
// default). testpmd's forwarding core is pinned to CPU 0; the generator (testpmd's or this
// process) gets CPU 1. The three measurements are interleaved over several rounds and the
// medians reported, so that load from elsewhere on the machine hits all of them alike.
// This is a benchmark, not a test: it asserts nothing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Memif } from '../src/tun/memif.js';
import { PacketBatch } from '../src/wireguard/batch.js';
import { Testpmd, testpmdAvailable } from '../test/helpers/testpmd.js';

const FRAME_SIZES = [64, 1514] as const;
const WARMUP_MS = Number(process.env.MEMIF_BENCH_WARMUP_MS ?? 500);
const MEASURE_MS = Number(process.env.MEMIF_BENCH_MEASURE_MS ?? 2000);
const ROUNDS = Number(process.env.MEMIF_BENCH_ROUNDS ?? 3);
const BATCH = 256;
const LOG2_RING = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Rate {
  fps: number;
  gbps: number;
}

function rate(frames: number, ms: number, size: number): Rate {
  const fps = (frames * 1000) / ms;
  return { fps, gbps: (fps * size * 8) / 1e9 };
}

async function reference(dir: string, size: number): Promise<Rate> {
  const socketPath = join(dir, `ref-${size}.sock`);
  const gen = await Testpmd.start({
    role: 'server',
    socketPath,
    forwardMode: 'flowgen',
    txPacketLength: size,
    log2RingSize: LOG2_RING,
    mainLcore: 0, // forwarding on CPU 1
  });
  let swap: Testpmd | undefined;
  try {
    swap = await Testpmd.start({
      role: 'client',
      socketPath,
      forwardMode: 'macswap',
      log2RingSize: LOG2_RING,
      mainLcore: 1, // forwarding on CPU 0
    });
    await sleep(WARMUP_MS);
    const a = await gen.portStats();
    const t0 = performance.now();
    await sleep(MEASURE_MS);
    const b = await gen.portStats();
    const t1 = performance.now();
    return rate(b.rxPackets - a.rxPackets, t1 - t0, size);
  } finally {
    await swap?.stop();
    await gen.stop();
  }
}

function fillFrames(batch: PacketBatch, size: number): void {
  const frame = Buffer.alloc(size);
  frame.set([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02], 0); // dst, src
  frame.writeUInt16BE(0x88b5, 12); // IEEE local experimental ethertype
  batch.reset();
  while (batch.push(frame));
}

async function ours(dir: string, size: number, polling: boolean): Promise<Rate> {
  const socketPath = join(dir, `ours-${size}-${polling ? 'poll' : 'int'}.sock`);
  const memif = Memif.open({ socketPath, role: 'master', polling, log2RingSize: LOG2_RING });
  let swap: Testpmd | undefined;
  let pumping = false;
  let pumpTimer: NodeJS.Immediate | undefined;
  try {
    const connected = new Promise((resolve) => memif.once('connected', resolve));
    swap = await Testpmd.start({
      role: 'client',
      socketPath,
      forwardMode: 'macswap',
      log2RingSize: LOG2_RING,
      mainLcore: 1, // forwarding on CPU 0
    });
    await connected;
    const tx = new PacketBatch(BATCH, size);
    fillFrames(tx, size);
    // Every frame is the same, so whatever the ring took is simply sent again next time.
    const send = (): void => {
      memif.txBurst(0, tx);
    };
    let received = 0;
    memif.onFrames(
      (batch) => {
        received += batch.count;
        if (!polling) send();
      },
      { batchCapacity: BATCH, maxFrameSize: 1514 },
    );
    // Polling: transmit on every turn, next to the receive poll. Interrupt mode: transmit
    // whenever frames come back, plus a slow pump in case the loop ever runs dry.
    pumping = true;
    const pump = (): void => {
      if (!pumping) return;
      send();
      pumpTimer = polling ? setImmediate(pump) : undefined;
    };
    pump();
    const idlePump = polling ? undefined : setInterval(send, 1);
    await sleep(WARMUP_MS);
    const r0 = received;
    const t0 = performance.now();
    await sleep(MEASURE_MS);
    const r1 = received;
    const t1 = performance.now();
    if (idlePump !== undefined) clearInterval(idlePump);
    return rate(r1 - r0, t1 - t0, size);
  } finally {
    pumping = false;
    if (pumpTimer !== undefined) clearImmediate(pumpTimer);
    await swap?.stop();
    await memif.close();
  }
}

// This process generates on CPU 1, testpmd's forwarding core is CPU 0 (it pins itself):
// left to the scheduler, node can land on testpmd's busy core and halve both.
function pinToCpu1(): void {
  try {
    execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  } catch {
    console.warn('warning: could not pin to CPU 1 (taskset); figures may be noisy');
  }
}

function median(rates: Rate[]): Rate {
  const sorted = [...rates].sort((a, b) => a.fps - b.fps);
  return sorted[Math.floor(sorted.length / 2)];
}

function fmt(r: Rate): string {
  return `${(r.fps / 1e6).toFixed(3).padStart(7)} Mfps ${r.gbps.toFixed(2).padStart(6)} Gbit/s`;
}

async function main(): Promise<void> {
  if (!testpmdAvailable()) {
    console.error('bench:memif needs dpdk-testpmd (Debian package dpdk) and stdbuf (coreutils)');
    process.exitCode = 1;
    return;
  }
  pinToCpu1();
  const dir = mkdtempSync(join(tmpdir(), 'memif-bench-'));
  try {
    console.log(
      `memif benchmark: ring 2^${LOG2_RING}, ${BATCH}-frame bursts, median of ${ROUNDS} rounds of ${MEASURE_MS} ms ` +
        `(load average ${loadavg()[0].toFixed(2)} at start; other work on the 2 CPUs skews every figure)`,
    );
    for (const size of FRAME_SIZES) {
      const runs: Rate[][] = [[], [], []];
      for (let round = 0; round < ROUNDS; round++) {
        runs[0].push(await reference(dir, size));
        runs[1].push(await ours(dir, size, true));
        runs[2].push(await ours(dir, size, false));
      }
      const [ref, poll, intr] = runs.map(median);
      console.log(`\n${size}-byte frames`);
      console.log(`  testpmd <-> testpmd (reference)   ${fmt(ref)}`);
      console.log(`  ours <-> testpmd, polling         ${fmt(poll)}  ${((100 * poll.fps) / ref.fps).toFixed(1)} % of reference`);
      console.log(`  ours <-> testpmd, interrupts      ${fmt(intr)}  ${((100 * intr.fps) / ref.fps).toFixed(1)} % of reference`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
