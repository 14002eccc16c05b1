// A misbehaving memif peer never takes the process down. A scripted peer (the hostile
// harness) sends each defect the protocol allows for: wrong sizes, unknown and out-of-order
// messages, missing or wrong descriptors, regions and rings that do not add up, bad
// cookies, descriptors and ring indexes pointing anywhere, shared memory truncated under
// our feet. Each time ours drops that connection with a reason (sent to the peer and
// reported), and afterwards still serves a well-behaved peer. Both roles are covered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ftruncateSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Memif } from '../../src/tun/memif.js';
import { nativeMemif } from '../../src/tun/memif-native.js';
import { PacketBatch } from '../../src/wireguard/batch.js';
import type { Logger } from '../../src/wireguard/log.js';
import {
  COOKIE,
  ControlSocket,
  FakeMasterListener,
  Msg,
  RING_FLAGS,
  RING_HEAD,
  RING_TAIL,
  SlaveMemory,
  addRegionMsg,
  addRingMsg,
  bareMsg,
  closeQuietly,
  connectToMaster,
  disconnectMsg,
  drainEventfd,
  eventfd,
  helloMsg,
  initMsg,
  kick,
  masterHandshake,
  nameMsg,
  openFdCount,
  slaveHandshake,
} from '../helpers/memif-hostile.js';
import { connected, frameMatches, makeFrame, waitEvent } from '../helpers/memif-traffic.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wgts-memif-hostile-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => {
    lines.push(m);
  };
  return { logger: { error: push, verbose: push, debug: () => {} }, lines };
}

/** Exchanges one frame each way between a connected master and slave. */
async function exchange(master: Memif, slave: Memif, seq: number): Promise<void> {
  const got: Buffer[][] = [[], []];
  master.onFrames((b) => {
    for (let i = 0; i < b.count; i++) got[0].push(Buffer.from(b.packet(i)));
  });
  slave.onFrames((b) => {
    for (let i = 0; i < b.count; i++) got[1].push(Buffer.from(b.packet(i)));
  });
  const tx = new PacketBatch(1, 1000);
  tx.push(makeFrame(seq, 1000));
  assert.equal(slave.txBurst(0, tx), 1);
  tx.reset();
  tx.push(makeFrame(seq + 1, 700));
  assert.equal(master.txBurst(0, tx), 1);
  for (let i = 0; i < 500 && (got[0].length === 0 || got[1].length === 0); i++) await sleep(2);
  assert.ok(frameMatches(got[0][0], seq, 1000, false), 'slave -> master');
  assert.ok(frameMatches(got[1][0], seq + 1, 700, false), 'master -> slave');
}

describe('hostile slave against our master', () => {
  let path: string;
  let master: Memif;
  let log: ReturnType<typeof capture>;
  let fdsBefore: number;
  const received: Buffer[] = [];

  before(() => {
    path = join(dir, 'master.sock');
    log = capture();
    master = Memif.open({ socketPath: path, role: 'master', handshakeTimeoutMs: 300, logger: log.logger });
    master.onFrames((b) => {
      for (let i = 0; i < b.count; i++) received.push(Buffer.from(b.packet(i)));
    });
    fdsBefore = openFdCount();
  });

  after(async () => {
    await master.close();
  });

  /** Connects, lets `script` misbehave, and returns the reason the master gave. */
  async function refusal(script: (sock: ControlSocket, mem: SlaveMemory) => void | Promise<void>): Promise<string> {
    const mem = new SlaveMemory();
    const { sock } = await connectToMaster(path);
    try {
      await script(sock, mem);
      return await sock.expectDisconnect();
    } finally {
      sock.close();
      mem.close();
    }
  }

  // Runs the handshake up to (not including) CONNECT with `mem`, each step acknowledged.
  async function upToConnect(sock: ControlSocket, mem: SlaveMemory): Promise<void> {
    sock.send(initMsg({}));
    await sock.expect(Msg.Ack);
    sock.send(addRegionMsg(0, mem.size), [mem.fd]);
    await sock.expect(Msg.Ack);
    sock.send(addRingMsg({ s2m: true, index: 0, offset: mem.s2m, log2RingSize: mem.log2 }), [mem.s2mEventfd]);
    await sock.expect(Msg.Ack);
    sock.send(addRingMsg({ s2m: false, index: 0, offset: mem.m2s, log2RingSize: mem.log2 }), [mem.m2sEventfd]);
    await sock.expect(Msg.Ack);
  }

  async function afterInit(sock: ControlSocket): Promise<void> {
    sock.send(initMsg({}));
    await sock.expect(Msg.Ack);
  }

  const messageDefects: Array<[string, (sock: ControlSocket, mem: SlaveMemory) => void | Promise<void>, string]> = [
    ['a short message', (s) => void s.send(bareMsg(Msg.Init, 64)), 'Invalid message size'],
    ['an oversized message', (s) => void s.send(bareMsg(Msg.Init, 200)), 'Invalid message size'],
    ['an unknown message type', (s) => void s.send(bareMsg(99)), 'Unknown message type 99'],
    ['ADD_REGION before INIT', (s, m) => void s.send(addRegionMsg(0, m.size), [m.fd]), 'Unexpected message ADD_REGION'],
    ['CONNECT before INIT', (s) => void s.send(nameMsg(Msg.Connect, 'x')), 'Unexpected message CONNECT'],
    ['an incompatible version', (s) => void s.send(initMsg({ version: 0x0100 })), 'Incompatible memif version'],
    [
      'HELLO sent to the master',
      async (s) => {
        await afterInit(s);
        s.send(helloMsg({}));
      },
      'Unexpected message HELLO',
    ],
    [
      'INIT twice',
      async (s) => {
        await afterInit(s);
        s.send(initMsg({}));
      },
      'Unexpected message INIT',
    ],
    [
      'an unknown type mid-handshake',
      async (s) => {
        await afterInit(s);
        s.send(bareMsg(1234));
      },
      'Unknown message type 1234',
    ],
    [
      'a wrong size mid-handshake',
      async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(0, m.size).subarray(0, 100), [m.fd]);
      },
      'Invalid message size',
    ],
    [
      'ADD_REGION without its fd',
      async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(0, m.size));
      },
      'Missing region fd',
    ],
    [
      'an eventfd as the region',
      async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(0, m.size), [m.s2mEventfd]);
      },
      'Region fd is not a shared memory file',
    ],
    [
      'a region larger than its file',
      async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(0, m.size * 4), [m.fd]);
      },
      'Region is larger than its file',
    ],
    [
      'a region index out of sequence',
      async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(1, m.size), [m.fd]);
      },
      'Invalid region index',
    ],
    [
      'a zero-sized region',
      async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(0, 0), [m.fd]);
      },
      'Invalid region size',
    ],
  ];

  const ringDefects: Array<[string, Parameters<typeof addRingMsg>[0] | null, 'none' | 'memfd' | 'eventfd', string]> = [
    ['ADD_RING without its fd', { s2m: true, index: 0, offset: 0, log2RingSize: 4 }, 'none', 'Missing interrupt fd'],
    ['a ring in a region never added', { s2m: true, index: 0, region: 3, offset: 0, log2RingSize: 4 }, 'eventfd', 'Invalid ring region'],
    ['a ring running past its region', { s2m: true, index: 0, offset: 100_000, log2RingSize: 4 }, 'eventfd', 'Ring does not fit its region'],
    ['a ring larger than its region', { s2m: false, index: 0, offset: 0, log2RingSize: 14 }, 'eventfd', 'Ring does not fit its region'],
    ['a ring index beyond the queues', { s2m: true, index: 5, offset: 0, log2RingSize: 4 }, 'eventfd', 'Invalid ring index'],
    ['a ring size beyond 2^14', { s2m: true, index: 0, offset: 0, log2RingSize: 15 }, 'eventfd', 'Invalid ring size'],
    ['a misaligned ring', { s2m: true, index: 0, offset: 4, log2RingSize: 4 }, 'eventfd', 'Misaligned ring'],
    ['a private header', { s2m: true, index: 0, offset: 0, log2RingSize: 4, privateHdrSize: 8 }, 'eventfd', 'Private header not supported'],
    ['a memfd as the interrupt fd', { s2m: true, index: 0, offset: 0, log2RingSize: 4 }, 'memfd', 'Interrupt fd is not an eventfd'],
  ];

  for (const [name, script, reason] of messageDefects) {
    test(`${name} is refused: ${reason}`, async () => {
      assert.equal(await refusal(script), reason);
    });
  }

  for (const [name, ring, fdKind, reason] of ringDefects) {
    test(`${name} is refused: ${reason}`, async () => {
      const got = await refusal(async (s, m) => {
        await afterInit(s);
        s.send(addRegionMsg(0, m.size), [m.fd]);
        await s.expect(Msg.Ack);
        const fds = fdKind === 'none' ? [] : fdKind === 'memfd' ? [m.fd] : [m.s2mEventfd];
        s.send(addRingMsg(ring ?? { s2m: true, index: 0, offset: 0, log2RingSize: 4 }), fds);
      });
      assert.equal(got, reason);
    });
  }

  test('a duplicate ring is refused', async () => {
    const got = await refusal(async (s, m) => {
      await upToConnect(s, m);
      s.send(addRingMsg({ s2m: true, index: 0, offset: m.s2m, log2RingSize: m.log2 }), [m.s2mEventfd]);
    });
    assert.equal(got, 'Duplicate ring');
  });

  test('CONNECT without rings is refused', async () => {
    const got = await refusal(async (s, m) => {
      await afterInit(s);
      s.send(addRegionMsg(0, m.size), [m.fd]);
      await s.expect(Msg.Ack);
      s.send(nameMsg(Msg.Connect, 'x'));
    });
    assert.equal(got, 'No S2M ring');
  });

  test('a bad ring cookie is refused at CONNECT', async () => {
    const mem = new SlaveMemory(4, 2048, { cookie: 0xdeadbeef });
    const { sock } = await connectToMaster(path);
    try {
      await upToConnect(sock, mem);
      sock.send(nameMsg(Msg.Connect, 'x'));
      assert.equal(await sock.expectDisconnect(), 'Wrong ring cookie');
    } finally {
      sock.close();
      mem.close();
    }
  });

  test('a peer that never speaks is dropped when the handshake times out', async () => {
    const { sock } = await connectToMaster(path);
    try {
      assert.equal(await sock.expectDisconnect(2000), 'Handshake timed out');
    } finally {
      sock.close();
    }
  });

  test('a peer that stalls mid-handshake is dropped when the handshake times out', async () => {
    const got = await refusal(async (s) => {
      await afterInit(s);
    });
    assert.equal(got, 'Handshake timed out');
  });

  test('a DISCONNECT during the handshake is taken calmly', async () => {
    const { sock } = await connectToMaster(path);
    try {
      await afterInit(sock);
      sock.send(disconnectMsg('changed my mind'));
      await sock.expectClosed();
    } finally {
      sock.close();
    }
  });

  test('connections that never finish their handshake are capped', async () => {
    const socks: ControlSocket[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const fd = nativeMemif().memifTest.seqpacketConnect(path);
        assert.ok(fd >= 0);
        socks.push(new ControlSocket(fd));
        await sleep(2); // let the listener accept: the kernel's backlog is small
      }
      let hellos = 0;
      let closed = 0;
      for (const s of socks) {
        const m = await s.recv(1000);
        if (m === 'closed') closed++;
        else if (m.type === Msg.Hello) hellos++;
      }
      assert.equal(hellos, 16);
      assert.equal(closed, 4);
    } finally {
      for (const s of socks) s.close();
    }
  });

  /** A connected hostile slave; `run` corrupts something and we expect `reason`. */
  async function connectedDefect(
    run: (mem: SlaveMemory, sock: ControlSocket) => void | Promise<void>,
    reason: string,
    memOpts?: ConstructorParameters<typeof SlaveMemory>[2],
  ): Promise<void> {
    const mem = new SlaveMemory(4, 2048, memOpts);
    const sock = await slaveHandshake(path, mem);
    try {
      await connected(master);
      const gone = waitEvent<string>(master, 'disconnected', 2000);
      await run(mem, sock);
      assert.equal(await gone, reason);
      assert.equal(await sock.expectDisconnect(), reason);
    } finally {
      sock.close();
      mem.close();
    }
  }

  /** Publishes S2M descriptor `desc` at slot 0 and kicks the master. */
  function publishS2M(mem: SlaveMemory, desc: { flags?: number; region?: number; length: number; offset: number }, head = 1): void {
    mem.view.setDesc(mem.s2m, 0, mem.mask, desc);
    mem.view.setU16(mem.s2m + RING_HEAD, head);
    kick(mem.s2mEventfd);
  }

  test('a message after CONNECT drops the connection', async () => {
    await connectedDefect((mem, sock) => void sock.send(addRegionMsg(1, mem.size), [mem.fd]), 'Unexpected message ADD_REGION');
  });

  test('a descriptor pointing outside its region drops the connection', async () => {
    await connectedDefect((mem) => publishS2M(mem, { length: 100, offset: mem.size }), 'Descriptor points outside its region');
  });

  test('a descriptor length running past the region drops the connection', async () => {
    await connectedDefect(
      (mem) => publishS2M(mem, { length: 0xffffff00, offset: mem.s2mBuffer(0) }),
      'Descriptor points outside its region',
    );
  });

  test('a descriptor naming a region that does not exist drops the connection', async () => {
    await connectedDefect(
      (mem) => publishS2M(mem, { region: 9, length: 64, offset: 0 }),
      'Descriptor points outside its region',
    );
  });

  test('a ring head running beyond the ring size drops the connection', async () => {
    await connectedDefect(
      (mem) => publishS2M(mem, { length: 64, offset: mem.s2mBuffer(0) }, mem.slots + 5),
      'Ring head moved beyond the ring size',
    );
  });

  test('an offered buffer outside its region drops the connection when we transmit', async () => {
    await connectedDefect((mem) => {
      mem.view.setDesc(mem.m2s, 0, mem.mask, { length: 2048, offset: mem.size - 100 });
      mem.view.setU16(mem.m2s + RING_HEAD, 1);
      const tx = new PacketBatch(1, 200);
      tx.push(makeFrame(1, 200));
      master.txBurst(0, tx);
    }, 'Offered buffer lies outside its region');
  });

  test('an offered buffer with no room drops the connection when we transmit', async () => {
    await connectedDefect((mem) => {
      mem.view.setDesc(mem.m2s, 0, mem.mask, { length: 0, offset: mem.m2sBuffer(0) });
      mem.view.setU16(mem.m2s + RING_HEAD, 1);
      const tx = new PacketBatch(1, 200);
      tx.push(makeFrame(1, 200));
      master.txBurst(0, tx);
    }, 'Offered buffer has no room');
  });

  test('offering more buffers than the ring holds drops the connection when we transmit', async () => {
    await connectedDefect((mem) => {
      mem.view.setU16(mem.m2s + RING_HEAD, mem.slots * 3);
      const tx = new PacketBatch(1, 200);
      tx.push(makeFrame(1, 200));
      master.txBurst(0, tx);
    }, 'Ring head moved beyond the ring size');
  });

  test('a region truncated under our feet (unsealable memfd) drops the connection instead of the process', async () => {
    await connectedDefect(
      (mem) => {
        mem.view.setDesc(mem.s2m, 0, mem.mask, { length: 64, offset: mem.s2mBuffer(0) });
        mem.view.setU16(mem.s2m + RING_HEAD, 1);
        ftruncateSync(mem.fd, 0); // (writing after this would grow the file again)
        kick(mem.s2mEventfd);
      },
      'Shared memory vanished (SIGBUS)',
      { allowSealing: false, seal: false },
    );
  });

  test('a region that allows sealing but was not sealed gets sealed: the peer can no longer shrink it', async () => {
    const mem = new SlaveMemory(4, 2048, { allowSealing: true, seal: false });
    const sock = await slaveHandshake(path, mem);
    try {
      await connected(master);
      assert.throws(() => ftruncateSync(mem.fd, 0), /EPERM/);
      const gone = waitEvent<string>(master, 'disconnected');
      sock.close();
      assert.equal(await gone, 'Peer closed the control socket');
    } finally {
      sock.close();
      mem.close();
    }
  });

  test('a chain published without its end waits for the rest; frames are reassembled', async () => {
    const mem = new SlaveMemory(4, 2048);
    const sock = await slaveHandshake(path, mem);
    try {
      await connected(master);
      // Our receive ring reports interrupts wanted (we are not polling).
      assert.equal(mem.view.u16(mem.s2m + RING_FLAGS), 0);
      const frame = makeFrame(77, 3000);
      mem.view.write(mem.s2mBuffer(0), frame.subarray(0, 2048));
      mem.view.write(mem.s2mBuffer(1), frame.subarray(2048));
      received.length = 0;
      publishS2M(mem, { flags: 1, length: 2048, offset: mem.s2mBuffer(0) });
      await sleep(30);
      assert.equal(received.length, 0);
      assert.equal(mem.view.u16(mem.s2m + RING_TAIL), 0, 'the half chain is left in the ring');
      mem.view.setDesc(mem.s2m, 1, mem.mask, { length: 952, offset: mem.s2mBuffer(1) });
      mem.view.setU16(mem.s2m + RING_HEAD, 2);
      kick(mem.s2mEventfd);
      for (let i = 0; i < 200 && received.length === 0; i++) await sleep(2);
      assert.equal(received.length, 0, 'frames longer than the 1518-byte slots are dropped');
      assert.equal(mem.view.u16(mem.s2m + RING_TAIL), 2, 'but consumed');
      assert.equal(master.counters(0).rxDrops, 1);
    } finally {
      sock.close();
      mem.close();
    }
    await waitEvent(master, 'disconnected');
  });

  test('our transmissions honour the peer’s interrupt mask', async () => {
    const mem = new SlaveMemory(4, 2048);
    const sock = await slaveHandshake(path, mem);
    try {
      await connected(master);
      const tx = new PacketBatch(1, 100);
      tx.push(makeFrame(1, 100));
      mem.view.setU16(mem.m2s + RING_HEAD, mem.slots); // offer every buffer
      mem.view.setU16(mem.m2s + RING_FLAGS, 1); // MEMIF_RING_FLAG_MASK_INT
      assert.equal(master.txBurst(0, tx), 1);
      assert.equal(drainEventfd(mem.m2sEventfd), 0, 'masked: no kick');
      mem.view.setU16(mem.m2s + RING_FLAGS, 0);
      assert.equal(master.txBurst(0, tx), 1);
      assert.ok(drainEventfd(mem.m2sEventfd) >= 1, 'unmasked: kicked');
      assert.equal(mem.view.u16(mem.m2s + RING_TAIL), 2);
      const d = mem.view.desc(mem.m2s, 1, mem.mask);
      assert.deepEqual([d.length, d.flags], [100, 0]);
      assert.ok(frameMatches(mem.view.read(mem.m2sBuffer(1), 100), 1, 100, false));
    } finally {
      sock.close();
      mem.close();
    }
    await waitEvent(master, 'disconnected');
  });

  test('descriptors sent in excess are closed, not leaked', async () => {
    const mem = new SlaveMemory(4, 2048);
    const extra = [eventfd(), eventfd(), eventfd()];
    const { sock } = await connectToMaster(path);
    try {
      sock.send(initMsg({}), extra);
      await sock.expect(Msg.Ack);
      sock.send(addRegionMsg(0, mem.size), [mem.fd, ...extra]);
      await sock.expect(Msg.Ack);
      sock.send(bareMsg(Msg.Connected), extra);
      assert.equal(await sock.expectDisconnect(), 'Unexpected message CONNECTED');
    } finally {
      sock.close();
      mem.close();
      extra.forEach(closeQuietly);
    }
  });

  test('after all that, the master still serves a well-behaved slave, and leaked no descriptors', async () => {
    const slave = Memif.open({ socketPath: path, role: 'slave', reconnectMs: 20 });
    try {
      await Promise.all([connected(master), connected(slave)]);
      await exchange(master, slave, 1000);
      assert.ok(log.lines.some((l) => l.includes('Descriptor points outside its region')), 'reasons are logged');
    } finally {
      await slave.close();
    }
    await sleep(20); // closed handles are released on the next loop turns
    assert.ok(openFdCount() <= fdsBefore + 2, `open fds: ${fdsBefore} before, ${openFdCount()} after`);
  });
});

describe('hostile master against our slave', () => {
  let path: string;
  let listener: FakeMasterListener;
  let slave: Memif;
  let log: ReturnType<typeof capture>;

  before(() => {
    path = join(dir, 'slave.sock');
    listener = new FakeMasterListener(path);
    log = capture();
    slave = Memif.open({
      socketPath: path,
      role: 'slave',
      queuePairs: 4,
      log2RingSize: 10,
      bufferSize: 1024,
      reconnectMs: 20,
      handshakeTimeoutMs: 300,
      logger: log.logger,
    });
    slave.onFrames(() => {});
  });

  after(async () => {
    await slave.close();
    listener.close();
  });

  async function refusedBySlave(script: (sock: ControlSocket) => void | Promise<void>, reason: string): Promise<void> {
    const sock = await listener.accept();
    try {
      const failed = waitEvent<string>(slave, 'handshakeFailed', 2000);
      await script(sock);
      assert.equal(await sock.expectDisconnect(), reason);
      assert.equal(await failed, reason);
    } finally {
      sock.close();
    }
  }

  test('an incompatible HELLO is refused', async () => {
    await refusedBySlave((s) => void s.send(helloMsg({ minVersion: 0x0300, maxVersion: 0x0300 })), 'Incompatible memif version');
  });

  test('a HELLO of the wrong size is refused', async () => {
    await refusedBySlave((s) => void s.send(helloMsg({}).subarray(0, 100)), 'Invalid message size');
  });

  test('anything but HELLO first is refused', async () => {
    await refusedBySlave((s) => void s.send(bareMsg(Msg.Ack)), 'Unexpected message ACK');
  });

  test('an unknown message type is refused', async () => {
    await refusedBySlave((s) => void s.send(bareMsg(42)), 'Unknown message type 42');
  });

  test('CONNECTED before CONNECT is refused', async () => {
    await refusedBySlave(async (s) => {
      s.send(helloMsg({}));
      await s.expect(Msg.Init);
      s.send(nameMsg(Msg.Connected, 'early'));
    }, 'Unexpected message CONNECTED');
  });

  test('a master that never says HELLO is dropped when the handshake times out', async () => {
    await refusedBySlave(() => {}, 'Handshake timed out');
  });

  test('the slave negotiates down to the master’s HELLO limits and sets up its memory as announced', async () => {
    const side = await masterHandshake(listener, { maxS2MRing: 0, maxM2SRing: 1, maxLog2RingSize: 3 });
    try {
      const conn = await connected(slave);
      assert.deepEqual([conn.txQueues, conn.rxQueues, conn.log2RingSize, conn.bufferSize], [1, 2, 3, 1024]);
      assert.deepEqual(
        side.rings.map((r) => [r.s2m, r.index, r.log2RingSize]),
        [
          [true, 0, 3],
          [false, 0, 3],
          [false, 1, 3],
        ],
      );
      assert.equal(side.init.version, 0x0200);
      // Our memory: sealed against shrinking, cookies in place, every M2S buffer offered.
      assert.throws(() => ftruncateSync(side.regionFd, 0), /EPERM/);
      for (const r of side.rings) {
        assert.equal(side.view.read(r.offset, 4).readUInt32LE(0), COOKIE);
        if (!r.s2m) assert.equal(side.view.u16(r.offset + RING_HEAD), 8);
      }
      const gone = waitEvent<string>(slave, 'disconnected');
      side.sock.send(disconnectMsg('bye'));
      assert.equal(await gone, 'Peer disconnected: bye');
    } finally {
      side.sock.close();
      closeQuietly(side.regionFd);
    }
  });

  /** Completes a handshake, then `run` misbehaves; the slave must drop with `reason`. */
  async function connectedDefect(run: (side: Awaited<ReturnType<typeof masterHandshake>>) => void, reason: string): Promise<void> {
    const side = await masterHandshake(listener, { maxS2MRing: 0, maxM2SRing: 0, maxLog2RingSize: 4 });
    try {
      await connected(slave);
      const gone = waitEvent<string>(slave, 'disconnected', 2000);
      run(side);
      assert.equal(await gone, reason);
      assert.equal(await side.sock.expectDisconnect(), reason);
    } finally {
      side.sock.close();
      closeQuietly(side.regionFd);
    }
  }

  const m2s = (side: Awaited<ReturnType<typeof masterHandshake>>) => side.rings.find((r) => !r.s2m)!;
  const s2m = (side: Awaited<ReturnType<typeof masterHandshake>>) => side.rings.find((r) => r.s2m)!;

  test('an M2S tail beyond the buffers offered drops the connection', async () => {
    await connectedDefect((side) => {
      const r = m2s(side);
      side.view.setU16(r.offset + RING_TAIL, 40);
      kick(r.eventfd);
    }, 'Ring tail moved beyond the buffers offered');
  });

  test('an M2S descriptor longer than the buffer drops the connection', async () => {
    await connectedDefect((side) => {
      const r = m2s(side);
      side.view.setDesc(r.offset, 0, 15, { length: 5000, offset: 0 });
      side.view.setU16(r.offset + RING_TAIL, 1);
      kick(r.eventfd);
    }, 'Descriptor length exceeds the buffer size');
  });

  test('an S2M tail overtaking the head drops the connection when we transmit', async () => {
    await connectedDefect((side) => {
      side.view.setU16(s2m(side).offset + RING_TAIL, 100);
      const tx = new PacketBatch(1, 100);
      tx.push(makeFrame(3, 100));
      slave.txBurst(0, tx);
    }, 'Ring tail moved beyond the head');
  });

  test('frames from the master are read from the buffers we assigned, whatever offset it writes', async () => {
    const side = await masterHandshake(listener, { maxS2MRing: 0, maxM2SRing: 0, maxLog2RingSize: 4 });
    const got: Buffer[] = [];
    slave.onFrames((b) => {
      for (let i = 0; i < b.count; i++) got.push(Buffer.from(b.packet(i)));
    });
    try {
      await connected(slave);
      const r = m2s(side);
      const d = side.view.desc(r.offset, 0, 15);
      side.view.write(d.offset, makeFrame(5, 300));
      side.view.setDesc(r.offset, 0, 15, { length: 300, offset: 0xfffffff0 }); // nonsense offset
      side.view.setU16(r.offset + RING_TAIL, 1);
      kick(r.eventfd);
      for (let i = 0; i < 200 && got.length === 0; i++) await sleep(2);
      assert.equal(got.length, 1);
      assert.ok(frameMatches(got[0], 5, 300, false));
      // ...and the slot is offered again, with our own offset restored.
      assert.equal(side.view.u16(r.offset + RING_HEAD), 17);
      assert.equal(side.view.desc(r.offset, 0, 15).offset, d.offset);
    } finally {
      slave.onFrames(() => {});
      side.sock.close();
      closeQuietly(side.regionFd);
    }
    await waitEvent(slave, 'disconnected');
  });

  test('after all that, the slave connects to a well-behaved master and traffic flows', async () => {
    listener.close();
    unlinkSync(path);
    const master = Memif.open({ socketPath: path, role: 'master', queuePairs: 2 });
    try {
      await Promise.all([connected(master), connected(slave, 3000)]);
      await exchange(master, slave, 2000);
      assert.ok(log.lines.some((l) => l.includes('Ring tail moved beyond the head')), 'reasons are logged');
    } finally {
      await master.close();
    }
  });
});
