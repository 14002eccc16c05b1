// Our memif against an independent implementation: DPDK's net_memif driver in dpdk-testpmd
// (Debian's DPDK 22.11, no hugepages), in both roles. testpmd forwards every frame back on
// the queue it came in on, unchanged (io) or with its MAC addresses swapped (macswap); we
// check each of 100 000 mixed-size frames comes back exactly once, bit for bit, for 1, 2
// and 4 queue pairs and rings of 2^8 and 2^12 slots; 9000-byte frames cross as descriptor
// chains over 2048-byte buffers; wrong secrets and ids are refused with a reason; and
// killing testpmd mid-traffic and starting it again costs a reconnect, nothing more.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Memif, type MemifOptions } from '../../src/tun/memif.js';
import { Testpmd, testpmdAvailable, type TestpmdOptions } from '../helpers/testpmd.js';
import { connected, echo, waitEvent } from '../helpers/memif-traffic.js';

let dir: string;
let counter = 0;

before(() => {
  assert.ok(testpmdAvailable(), 'dpdk-testpmd (Debian package dpdk) and stdbuf are required');
  dir = mkdtempSync(join(tmpdir(), 'wgts-memif-pmd-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

type OurRole = 'master' | 'slave';

interface Peering {
  ours: Memif;
  pmd: Testpmd;
  path: string;
}

/** Starts ours and testpmd in opposite roles (the master first) and waits for the link. */
async function peer(role: OurRole, ourOpts: Partial<MemifOptions>, pmdOpts: Partial<TestpmdOptions>): Promise<Peering> {
  const path = join(dir, `p${++counter}.sock`);
  let ours: Memif | undefined;
  let pmd: Testpmd | undefined;
  try {
    if (role === 'master') {
      ours = Memif.open({ socketPath: path, role: 'master', ...ourOpts });
      pmd = await Testpmd.start({ role: 'client', socketPath: path, ...pmdOpts });
    } else {
      pmd = await Testpmd.start({ role: 'server', socketPath: path, ...pmdOpts });
      ours = Memif.open({ socketPath: path, role: 'slave', reconnectMs: 100, ...ourOpts });
    }
    await connected(ours, 10_000);
    return { ours, pmd, path };
  } catch (err) {
    await pmd?.kill();
    await ours?.close();
    throw err;
  }
}

async function unpeer(p: Peering): Promise<void> {
  await p.pmd.stop();
  await p.ours.close();
}

describe('memif echo through dpdk-testpmd', () => {
  for (const role of ['master', 'slave'] as const) {
    for (const log2 of [8, 12]) {
      for (const queues of [1, 2, 4]) {
        const mode = log2 === 8 ? 'macswap' : 'io';
        test(`ours as ${role}: 100 000 frames of 60..1514 bytes, ${queues} queue pair(s), 2^${log2} rings, testpmd ${mode}`, async () => {
          const p = await peer(role, { queuePairs: queues, log2RingSize: log2 }, { queues, log2RingSize: log2, forwardMode: mode });
          try {
            const conn = p.ours.connection;
            assert.ok(conn !== undefined);
            assert.deepEqual([conn.rxQueues, conn.txQueues, conn.log2RingSize], [queues, queues, log2]);
            assert.match(conn.remoteName, /^DPDK \d+\.\d+/);
            // In flight per queue: at most half a ring, so testpmd's transmissions back to
            // us always find room (a frame it cannot place, it drops).
            const r = await echo(p.ours, {
              count: 100_000,
              window: Math.min(512, (1 << log2) / 2),
              swapped: mode === 'macswap',
            });
            assert.deepEqual(
              { received: r.received, corrupt: r.corrupt, duplicate: r.duplicate, wrongQueue: r.wrongQueue },
              { received: 100_000, corrupt: 0, duplicate: 0, wrongQueue: 0 },
            );
            const stats = await p.pmd.portStats();
            assert.equal(stats.rxPackets, 100_000);
            assert.equal(stats.txPackets, 100_000);
            let sent = 0;
            let got = 0;
            for (let q = 0; q < queues; q++) {
              const c = p.ours.counters(q);
              assert.equal(c.txDrops + c.rxDrops, 0);
              sent += c.txPackets;
              got += c.rxPackets;
            }
            assert.deepEqual([sent, got], [100_000, 100_000]);
          } finally {
            await unpeer(p);
          }
        });
      }
    }
  }

  for (const role of ['master', 'slave'] as const) {
    test(`ours as ${role}: 9000-byte frames cross as chains of 2048-byte buffers and are reassembled`, async () => {
      const p = await peer(role, { bufferSize: 2048 }, { bufferSize: 2048, forwardMode: 'macswap' });
      try {
        const r = await echo(p.ours, {
          count: 5000,
          size: (seq) => 8000 + (seq % 1001),
          window: 40, // 5 descriptors a frame, 1024-slot rings
          swapped: true,
        });
        assert.deepEqual([r.received, r.corrupt, r.duplicate], [5000, 0, 0]);
        assert.equal((await p.pmd.portStats()).rxPackets, 5000);
      } finally {
        await unpeer(p);
      }
    });
  }
});

describe('memif refusals with dpdk-testpmd', () => {
  test('ours as master refuses testpmd with a wrong secret or id, with the reason, and keeps listening', async () => {
    const path = join(dir, `r${++counter}.sock`);
    const lines: string[] = [];
    const ours = Memif.open({
      socketPath: path,
      role: 'master',
      id: 5,
      secret: 'open-sesame',
      logger: { error: (m) => lines.push(m), verbose: (m) => lines.push(m), debug: () => {} },
    });
    try {
      for (const [opts, reason] of [
        [{ id: 5, secret: 'wrong' }, 'Incorrect secret'],
        [{ id: 5 }, 'Secret required'],
        [{ id: 6, secret: 'open-sesame' }, 'ID not found'],
      ] as const) {
        const pmd = await Testpmd.start({ role: 'client', socketPath: path, debugMemif: true, ...opts });
        try {
          // DPDK logs the reason it was given.
          await pmd.waitForOutput(`Disconnect received: ${reason}`);
        } finally {
          await pmd.stop();
        }
        assert.ok(lines.some((l) => l.endsWith(`refused a slave: ${reason}`) || l.endsWith(`refused a connection: ${reason}`)), reason);
      }
      assert.equal(ours.connected, false);
      const pmd = await Testpmd.start({ role: 'client', socketPath: path, id: 5, secret: 'open-sesame', forwardMode: 'macswap' });
      try {
        await connected(ours);
        const r = await echo(ours, { count: 1000, window: 100, swapped: true });
        assert.equal(r.received, 1000);
      } finally {
        await pmd.stop();
      }
    } finally {
      await ours.close();
    }
  });

  test('ours as slave is refused by testpmd with a wrong secret or id, and says why', async () => {
    const path = join(dir, `r${++counter}.sock`);
    const pmd = await Testpmd.start({ role: 'server', socketPath: path, id: 5, secret: 'open-sesame', forwardMode: 'io' });
    try {
      for (const [opts, reason] of [
        [{ id: 5, secret: 'wrong' }, 'Incorrect secret'],
        [{ id: 5 }, 'Secret required'],
        [{ id: 6, secret: 'open-sesame' }, 'ID not found'],
      ] as const) {
        const ours = Memif.open({ socketPath: path, role: 'slave', reconnectMs: 60_000, ...opts });
        try {
          assert.equal(await waitEvent<string>(ours, 'handshakeFailed'), `Peer disconnected: ${reason}`);
        } finally {
          await ours.close();
        }
      }
      const ours = Memif.open({ socketPath: path, role: 'slave', id: 5, secret: 'open-sesame' });
      try {
        await connected(ours);
        const r = await echo(ours, { count: 1000, window: 100, swapped: false });
        assert.equal(r.received, 1000);
      } finally {
        await ours.close();
      }
    } finally {
      await pmd.stop();
    }
  });
});

describe('memif with dpdk-testpmd killed mid-traffic', () => {
  for (const role of ['master', 'slave'] as const) {
    test(`ours as ${role} notices within a second, ${role === 'master' ? 'accepts' : 'reconnects to'} the new testpmd, and traffic resumes`, async () => {
      const pmdOpts: Partial<TestpmdOptions> = { forwardMode: 'macswap', queues: 2 };
      const p = await peer(role, { queuePairs: 2 }, pmdOpts);
      let pmd = p.pmd;
      try {
        // Traffic in full flow when testpmd dies.
        const flowing = echo(p.ours, { count: 10_000_000, window: 256, swapped: true, stallMs: 300 });
        await new Promise((r) => setTimeout(r, 300));
        const before = p.ours.counters(0).rxPackets;
        assert.ok(before > 0, 'traffic was flowing');
        const gone = waitEvent<string>(p.ours, 'disconnected', 1000);
        const killedAt = Date.now();
        await pmd.kill('SIGKILL');
        const reason = await gone;
        assert.ok(Date.now() - killedAt < 1000);
        assert.equal(reason, 'Peer closed the control socket');
        const partial = await flowing;
        assert.ok(partial.received < 10_000_000 && partial.corrupt === 0);

        const back = waitEvent(p.ours, 'connected', 15_000);
        pmd = await Testpmd.start({ role: role === 'master' ? 'client' : 'server', socketPath: p.path, ...pmdOpts });
        await back;
        const r = await echo(p.ours, { count: 20_000, window: 128, swapped: true, firstSeq: 50_000_000 });
        assert.deepEqual([r.received, r.corrupt, r.duplicate], [20_000, 0, 0]);
      } finally {
        await pmd.kill();
        await p.ours.close();
      }
    });
  }
});
