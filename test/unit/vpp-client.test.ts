import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { VppClient, splitNameCrc } from '../../src/vpp/client.js';
import { builtinRegistry, loadRegistry } from '../../src/vpp/api-loader.js';
import {
  VppApiError,
  VppConnectError,
  VppDisconnectedError,
  VppMessageUnavailableError,
  VppProtocolError,
  VppTimeoutError,
} from '../../src/vpp/errors.js';
import { DEFAULT_VPP_API_DIR, resolveVppApiDir, resolveVppApiSocketPath } from '../../src/vpp/env.js';
import { FrameDecoder, describeConnectError, encodeFrame } from '../../src/vpp/transport.js';
import { FakeVpp, SHARED_VPP_API_DIR, type FakeVppOptions } from '../helpers/vpp-api-server.js';
import { until } from '../helpers/exec.js';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vpp-client-'));
}

async function withVpp(opts: Partial<FakeVppOptions>, fn: (vpp: FakeVpp, dir: string) => Promise<void>): Promise<void> {
  const dir = tmpDir();
  const vpp = await FakeVpp.start({ socketPath: path.join(dir, 'api.sock'), ...opts });
  try {
    await fn(vpp, dir);
  } finally {
    await vpp.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function connect(vpp: FakeVpp, extra: { requestTimeoutMs?: number } = {}): Promise<VppClient> {
  return VppClient.connect({ socketPath: vpp.socketPath, registry: builtinRegistry(), ...extra });
}


test('frames survive any chunking of the stream; oversized frames are refused', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 2, maxLength: 300 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
      (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const dec = new FrameDecoder();
        const out: Buffer[] = [];
        let off = 0;
        let i = 0;
        while (off < stream.length) {
          const n = cuts[i++ % cuts.length];
          out.push(...dec.push(stream.subarray(off, off + n)));
          off += n;
        }
        assert.deepStrictEqual(out.map((b) => new Uint8Array(b)), payloads);
        assert.equal(dec.buffered, 0);
      },
    ),
    { numRuns: 100 },
  );
  // The header: 8 zero bytes, big-endian length, 4 zero bytes.
  assert.deepStrictEqual([...encodeFrame(new Uint8Array([9, 9, 9]))], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 9, 9, 9]);
  const big = Buffer.alloc(16);
  big.writeUInt32BE(0xffffffff, 8);
  assert.throws(() => new FrameDecoder(1024).push(big), VppProtocolError);
});

test('message table entries split into name and CRC', () => {
  assert.deepStrictEqual(splitNameCrc('memif_create_v2_8c7de5f7'), { name: 'memif_create_v2', crc: '8c7de5f7' });
  assert.deepStrictEqual(splitNameCrc('control_ping_51077D14\u0013'), { name: 'control_ping', crc: '51077d14' });
  assert.equal(splitNameCrc('nocrc'), null);
});

test('environment: VPP_API_SOCKET_PATH wins, then VPP_SOCKET_DIR, then /run/vpp', () => {
  assert.equal(resolveVppApiSocketPath({}), '/run/vpp/api.sock');
  assert.equal(resolveVppApiSocketPath({ VPP_SOCKET_DIR: '/tmp/v' }), '/tmp/v/api.sock');
  assert.equal(resolveVppApiSocketPath({ VPP_SOCKET_DIR: '/tmp/v', VPP_API_SOCKET_PATH: '/x/y.sock' }), '/x/y.sock');
  assert.equal(resolveVppApiSocketPath({ VPP_API_SOCKET_PATH: ' ' }), '/run/vpp/api.sock');
  assert.equal(resolveVppApiDir({}), DEFAULT_VPP_API_DIR);
  assert.equal(resolveVppApiDir({ VPP_API_DIR: '/opt/api' }), '/opt/api');
});

test('handshake: sockclnt_create with id 15, client index from the reply, zeroed headers out, junk headers in', async () => {
  await withVpp({ idBase: 700 }, async (vpp) => {
    const client = await connect(vpp);
    assert.deepStrictEqual(vpp.log, ['sockclnt_create']);
    assert.equal(vpp.idOf('sockclnt_create'), 15);
    assert.ok(client.clientIndex >= 0x100);
    const reply = await client.request('show_version');
    assert.equal(reply['version'], '26.10-fake');
    assert.equal(vpp.stats.nonZeroHeaders, 0);
    assert.equal(vpp.stats.badClientIndex, 0);
    await client.close();
  });
});

test('requests are matched by context, dumps end with control_ping, events reach listeners', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp);
    const [version, sockets, ping] = await Promise.all([
      client.request('show_version'),
      client.dump('memif_socket_filename_dump'),
      client.request('control_ping'),
    ]);
    assert.equal(version['program'], 'vpe');
    assert.deepStrictEqual(
      sockets.map((s) => [s['socket_id'], s['socket_filename']]),
      [[0, '/run/vpp/memif.sock']],
    );
    assert.equal(ping['vpe_pid'], process.pid);
    assert.deepStrictEqual(vpp.log.slice(-4).sort(), ['control_ping', 'control_ping', 'memif_socket_filename_dump', 'show_version']);

    const events: number[] = [];
    client.onMessage('sw_interface_event', (ev) => events.push(ev['sw_if_index'] as number));
    vpp.broadcast('sw_interface_event', { pid: 1, sw_if_index: 42, flags: 2, deleted: false });
    await until(() => events.length === 1);
    assert.deepStrictEqual(events, [42]);
    await client.close();
  });
});

test('retval != 0 becomes VppApiError with VPP\'s error name and a sentence', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp);
    vpp.failNext('show_version', -73);
    await assert.rejects(client.request('show_version'), (err: Error) => {
      assert.ok(err instanceof VppApiError);
      assert.equal(err.retval, -73);
      assert.equal(err.errorName, 'INVALID_ARGUMENT');
      assert.match(err.message, /show_version.*INVALID_ARGUMENT \(-73\)/);
      return true;
    });
    vpp.failNext('show_version', -9999);
    await assert.rejects(client.request('show_version'), /UNKNOWN_ERROR_-9999/);
    await client.close();
  });
});

test('time-outs name the message and the socket; late replies are counted and dropped', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp, { requestTimeoutMs: 80 });
    vpp.silence('show_version');
    await assert.rejects(client.request('show_version'), (err: Error) => {
      assert.ok(err instanceof VppTimeoutError);
      assert.ok(err.message.includes('show_version') && err.message.includes(vpp.socketPath));
      return true;
    });
    const lateContext = vpp.received.filter((r) => r.name === 'show_version').at(-1)?.msg['context'] as number;
    vpp.broadcast('show_version_reply', { context: lateContext, retval: 0 });
    await until(() => client.stats.unsolicitedMessages === 1);
    vpp.unsilence('show_version');
    assert.equal((await client.request('show_version'))['program'], 'vpe');
    await client.close();
  });
});

test('unknown ids, truncated and garbage messages never crash the client', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp, { requestTimeoutMs: 2000 });
    vpp.sendRaw(vpp.frame(Buffer.from([0x7f, 0xff, 1, 2, 3]))); // id not in the table
    vpp.sendRaw(vpp.frame(Buffer.from([0x01]))); // shorter than a message id
    vpp.sendRaw(vpp.frame(vpp.encode('sw_interface_event', { sw_if_index: 1 }).subarray(0, 5))); // truncated event
    await until(() => client.stats.unknownMessages === 1 && client.stats.malformedMessages === 2);

    // A truncated reply fails its request at once instead of waiting for the time-out.
    vpp.silence('show_version');
    const pending = client.request('show_version');
    await until(() => vpp.received.some((r) => r.name === 'show_version'));
    const context = vpp.received.filter((r) => r.name === 'show_version').at(-1)?.msg['context'] as number;
    const full = vpp.encode('show_version_reply', { context, retval: 0, program: 'vpe' });
    vpp.sendRaw(vpp.frame(full.subarray(0, 40)));
    await assert.rejects(pending, VppProtocolError);
    vpp.unsilence('show_version');
    assert.equal((await client.request('show_version'))['program'], 'vpe');
    await client.close();
  });
});

test('an oversized frame drops the connection: pending requests fail, "disconnected" is emitted', async () => {
  await withVpp({}, async (vpp) => {
    const client = await VppClient.connect({ socketPath: vpp.socketPath, registry: builtinRegistry(), maxFrameBytes: 64 * 1024 });
    let disconnected: Error | null = null;
    client.on('disconnected', (e: Error) => (disconnected = e));
    vpp.silence('show_version');
    const pending = client.request('show_version');
    const header = Buffer.alloc(16);
    header.writeUInt32BE(1 << 30, 8);
    vpp.sendRaw(header);
    await assert.rejects(pending, VppDisconnectedError);
    await until(() => disconnected !== null);
    await assert.rejects(client.request('show_version'), VppDisconnectedError);
  });
});

test('VPP closing the connection rejects what is pending and emits "disconnected"', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp);
    const seen: Error[] = [];
    client.on('disconnected', (e: Error) => seen.push(e));
    vpp.silence('show_version');
    const pending = client.request('show_version');
    await until(() => vpp.received.some((r) => r.name === 'show_version'));
    await vpp.stopListening();
    await assert.rejects(pending, (err: Error) => err instanceof VppDisconnectedError && err.message.includes(vpp.socketPath));
    await until(() => seen.length === 1);
    await client.close(); // closing a dropped client is harmless
  });
});

test('close() unregisters with sockclnt_delete (VPP answers 1) and is idempotent', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp);
    let disconnected = false;
    client.on('disconnected', () => (disconnected = true));
    await client.close();
    await client.close();
    assert.equal(vpp.log.at(-1), 'sockclnt_delete');
    assert.equal(vpp.received.at(-1)?.msg['index'], client.clientIndex);
    await until(() => vpp.connectionCount === 0);
    assert.equal(disconnected, false);
  });
});

test('keepalives from VPP are answered', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp);
    vpp.broadcast('memclnt_keepalive', { context: 77 });
    await until(() => vpp.log.includes('memclnt_keepalive_reply'));
    assert.equal(vpp.received.find((r) => r.name === 'memclnt_keepalive_reply')?.msg['context'], 77);
    await client.close();
  });
});

test('message variants: v2 preferred, v1 when VPP lacks v2 or has an unknown CRC for it', async () => {
  await withVpp({}, async (vpp) => {
    const client = await connect(vpp);
    assert.equal(client.choose(['memif_create_v2', 'memif_create']), 'memif_create_v2');
    await client.close();
  });
  await withVpp({ omit: ['memif_create_v2', 'memif_create_v2_reply'] }, async (vpp) => {
    const client = await connect(vpp);
    assert.equal(client.choose(['memif_create_v2', 'memif_create']), 'memif_create');
    await client.close();
  });
  await withVpp({ crcOverrides: { memif_create_v2: 'deadbeef' } }, async (vpp) => {
    const client = await connect(vpp);
    assert.equal(client.choose(['memif_create_v2', 'memif_create']), 'memif_create');
    await client.close();
  });
});

test('a message VPP lacks or whose CRC we do not know fails with its name, VPP\'s CRC and ours', async () => {
  await withVpp({ crcOverrides: { memif_create_v2: 'deadbeef', show_version_reply: '0badc0de' }, omit: ['memif_create', 'memif_create_reply'] }, async (vpp) => {
    const client = await connect(vpp);
    assert.throws(
      () => client.choose(['memif_create_v2', 'memif_create']),
      (err: Error) => {
        assert.ok(err instanceof VppMessageUnavailableError);
        assert.match(err.message, /memif_create_v2 with CRC 0xdeadbeef, but we only know CRC 0x8c7de5f7 \(VPP 23\.06/);
        assert.match(err.message, /VPP lacks message memif_create \(we know CRC 0xb1b25061 \(VPP 22\.10/);
        assert.match(err.message, /VPP_API_DIR/);
        return true;
      },
    );
    await assert.rejects(client.request('show_version'), /show_version_reply with CRC 0x0badc0de/);
    await client.close();
  });
});

test('VPP\'s installed JSON files are used when present; broken ones are skipped', async () => {
  const lines: string[] = [];
  const logger = { error: (m: string) => lines.push(m), verbose: () => {}, debug: () => {} };
  const reg = loadRegistry({ apiDir: SHARED_VPP_API_DIR, logger });
  assert.ok(reg.files.some((f) => f.source.endsWith('memif.api.json')));
  assert.equal(lines.length, 0);

  const dir = tmpDir();
  try {
    fs.mkdirSync(path.join(dir, 'plugins'));
    fs.writeFileSync(path.join(dir, 'plugins', 'memif.api.json'), '{ not json');
    const reg2 = loadRegistry({ apiDir: dir, logger });
    assert.match(lines.join('\n'), /ignoring .*memif\.api\.json/);
    assert.ok(reg2.get('memif_create_v2', '8c7de5f7'), 'built-in definitions still apply');
    // A newer VPP: its own file teaches us a CRC the built-in set lacks.
    const shifted = JSON.parse(fs.readFileSync(path.join(SHARED_VPP_API_DIR, 'memif.api.json'), 'utf8'));
    for (const m of shifted.messages) if (m[0] === 'memif_create_v2') m[m.length - 1].crc = '0xdeadbeef';
    fs.writeFileSync(path.join(dir, 'plugins', 'memif.api.json'), JSON.stringify(shifted));
    const reg3 = loadRegistry({ apiDir: dir, logger });
    assert.deepStrictEqual(reg3.knownCrcs('memif_create_v2').sort(), ['8c7de5f7', 'deadbeef']);
    await withVpp({ crcOverrides: { memif_create_v2: 'deadbeef' } }, async (vpp) => {
      const client = await VppClient.connect({ socketPath: vpp.socketPath, registry: reg3 });
      assert.equal(client.choose(['memif_create_v2', 'memif_create']), 'memif_create_v2');
      await client.close();
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(loadRegistry({ apiDir: '/nonexistent/vpp/api' }).files.length, 5);
});

test('connect errors say which socket and what to check', async () => {
  const dir = tmpDir();
  try {
    const missing = path.join(dir, 'nope.sock');
    await assert.rejects(VppClient.connect({ socketPath: missing, registry: builtinRegistry() }), (err: Error) => {
      assert.ok(err instanceof VppConnectError);
      assert.equal(err.code, 'ENOENT');
      assert.ok(err.message.includes(missing));
      assert.match(err.message, /is VPP running/);
      assert.match(err.message, /VPP_API_SOCKET_PATH/);
      return true;
    });
    const stale = path.join(dir, 'stale.sock');
    fs.writeFileSync(stale, '');
    await assert.rejects(VppClient.connect({ socketPath: stale, registry: builtinRegistry() }), (err: Error) => {
      assert.ok(err instanceof VppConnectError);
      assert.equal(err.code, 'ECONNREFUSED');
      assert.match(err.message, /stale socket file/);
      return true;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // Tests run as root, for whom permissions do not apply: check the wording directly.
  const eacces = describeConnectError(Object.assign(new Error('denied'), { code: 'EACCES' }), '/run/vpp/api.sock');
  assert.match(eacces.message, /permission denied on VPP API socket \/run\/vpp\/api\.sock/);
  assert.match(eacces.message, /unix \{ gid/);
});

test('a server that never answers sockclnt_create times out the connect', async () => {
  const dir = tmpDir();
  const net = await import('node:net');
  const sockPath = path.join(dir, 'mute.sock');
  const server = net.createServer((s) => s.on('data', () => {}));
  await new Promise<void>((r) => server.listen(sockPath, r));
  try {
    await assert.rejects(
      VppClient.connect({ socketPath: sockPath, registry: builtinRegistry(), connectTimeoutMs: 100 }),
      (err: Error) => err instanceof VppTimeoutError && err.message.includes('sockclnt_create'),
    );
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a VPP whose sockclnt_create_reply layout we do not know is refused at connect', async () => {
  await withVpp({ crcOverrides: { sockclnt_create_reply: 'abcdef01' } }, async (vpp) => {
    await assert.rejects(
      VppClient.connect({ socketPath: vpp.socketPath, registry: builtinRegistry() }),
      (err: Error) => err instanceof VppMessageUnavailableError && /sockclnt_create_reply with CRC 0xabcdef01.*0x35166268/.test(err.message),
    );
    await until(() => vpp.connectionCount === 0);
  });
});
