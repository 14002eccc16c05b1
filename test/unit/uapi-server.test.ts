// UapiServer (src/ipc/uapi-server.ts) over a real unix socket in a temp directory, with
// a fake target: request framing on a stream, replies in order, permissions, stale and
// live sockets, removal detection, oversized requests, and one request at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UapiServer } from '../../src/ipc/uapi-server.js';
import type { DeviceConfigChange, DeviceState } from '../../src/wireguard/config.js';
import type { UapiTarget } from '../../src/wireguard/uapi.js';

class FakeTarget implements UapiTarget {
  listenPort = 51820;
  applied: DeviceConfigChange[] = [];
  delayMs = 0;
  active = 0;
  maxActive = 0;

  state(): DeviceState {
    return { privateKey: null, listenPort: this.listenPort, fwmark: 0, peers: [] };
  }

  async applyConfig(change: DeviceConfigChange): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (change.listenPort === 1) throw Object.assign(new Error('port taken'), { errno: 98 });
      if (change.listenPort !== undefined) this.listenPort = change.listenPort;
      this.applied.push(change);
    } finally {
      this.active--;
    }
  }
}

async function withServer(
  fn: (server: UapiServer, target: FakeTarget, dir: string) => Promise<void>,
  opts: { maxRequestBytes?: number; watchIntervalMs?: number } = {},
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wgts-uapi-'));
  const target = new FakeTarget();
  const server = await UapiServer.listen('wgtest', target, { dir: join(dir, 'wireguard'), ...opts });
  try {
    await fn(server, target, dir);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads until `count` replies (each ending in "errno=N\n\n") have arrived. */
function readReplies(sock: Socket, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(text)}`)), 3000);
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      const replies = text.match(/[\s\S]*?errno=-?\d+\n\n/g) ?? [];
      if (replies.length >= count) {
        clearTimeout(timer);
        sock.off('data', onData);
        resolve(replies);
      }
    };
    sock.on('data', onData);
  });
}

test('get and set over the socket, several requests per write and one request over many writes', async () => {
  await withServer(async (server, target) => {
    const sock = await connect(server.path);
    sock.write('get=1\n\nset=1\nlisten_port=1234\n\nget=1\n\n');
    const replies = await readReplies(sock, 3);
    assert.equal(replies[0], 'listen_port=51820\nerrno=0\n\n');
    assert.equal(replies[1], 'errno=0\n\n');
    assert.equal(replies[2], 'listen_port=1234\nerrno=0\n\n');
    assert.equal(target.applied.length, 1);

    const request = 'set=1\nlisten_port=4321\n\n';
    const pending = readReplies(sock, 1);
    for (const ch of request) sock.write(ch);
    assert.deepEqual(await pending, ['errno=0\n\n']);
    assert.equal(target.listenPort, 4321);

    const failing = readReplies(sock, 2);
    sock.write('set=1\nlisten_port=1\n\nset=1\nbogus_key=1\n\n');
    assert.deepEqual(await failing, ['errno=-98\n\n', 'errno=-22\n\n']);
    sock.destroy();
  });
});

test('a client that half-closes after its request still gets the reply', async () => {
  await withServer(async (server) => {
    const sock = await connect(server.path);
    const reply = readReplies(sock, 1);
    sock.end('get=1\n\n');
    assert.deepEqual(await reply, ['listen_port=51820\nerrno=0\n\n']);
    await new Promise((r) => sock.once('close', r));
  });
});

test('the socket is mode 0600 in a 0755 directory, and close() removes it', async () => {
  let path = '';
  await withServer(async (server, _target, dir) => {
    path = server.path;
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.ok((await stat(path)).isSocket());
    assert.equal((await stat(join(dir, 'wireguard'))).mode & 0o777, 0o755);
    await server.close();
    await assert.rejects(stat(path));
  });
});

test('a second server on a live socket is refused with EADDRINUSE; a stale one is replaced', async () => {
  await withServer(async (server, _target, dir) => {
    await assert.rejects(
      UapiServer.listen('wgtest', new FakeTarget(), { dir: join(dir, 'wireguard') }),
      (err: Error & { errno?: number }) => err.errno === 98 && /in use/.test(err.message),
    );
    // The refused attempt left the live socket alone.
    const sock = await connect(server.path);
    sock.destroy();
  });

  // A stale socket: its listener was SIGKILLed, so nobody removed the file.
  const dir = await mkdtemp(join(tmpdir(), 'wgts-uapi-'));
  try {
    const path = join(dir, 'wgstale.sock');
    const holder = spawn(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => console.log('up'))",
      path,
    ]);
    await new Promise((r) => holder.stdout.once('data', r));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    assert.ok((await stat(path)).isSocket());
    const server = await UapiServer.listen('wgstale', new FakeTarget(), { dir });
    const sock = await connect(path);
    sock.destroy();
    await server.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('removing the socket file is noticed; close() then leaves a replacement alone', async () => {
  await withServer(
    async (server) => {
      let removed = 0;
      server.onRemoved(() => removed++);
      await unlink(server.path);
      const deadline = Date.now() + 2000;
      while (removed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(removed, 1);
      // Someone else's socket now at that path must survive our close().
      const other = createServer();
      await new Promise<void>((r) => other.listen(server.path, r));
      try {
        await server.close();
        assert.ok((await stat(server.path)).isSocket());
        const sock = await connect(server.path);
        sock.destroy();
      } finally {
        await new Promise((r) => other.close(r));
      }
    },
    { watchIntervalMs: 50 },
  );
});

test('an oversized request gets errno=-EPROTO and the connection is closed', async () => {
  await withServer(
    async (server, target) => {
      const sock = await connect(server.path);
      const reply = readReplies(sock, 1);
      sock.write(`set=1\n${'listen_port=1\n'.repeat(20)}`);
      assert.deepEqual(await reply, ['errno=-71\n\n']);
      await new Promise((r) => sock.once('close', r));
      assert.equal(target.applied.length, 0);
    },
    { maxRequestBytes: 100 },
  );
});

test('requests from different connections run one at a time', async () => {
  await withServer(async (server, target) => {
    target.delayMs = 30;
    const socks = await Promise.all([connect(server.path), connect(server.path), connect(server.path)]);
    const replies = socks.map((s) => readReplies(s, 2));
    socks.forEach((s, i) => s.write(`set=1\nlisten_port=${2000 + i}\n\nset=1\nlisten_port=${3000 + i}\n\n`));
    for (const r of await Promise.all(replies)) assert.deepEqual(r, ['errno=0\n\n', 'errno=0\n\n']);
    assert.equal(target.applied.length, 6);
    assert.equal(target.maxActive, 1);
    for (const s of socks) s.destroy();
  });
});
