// The UAPI text protocol against a real Device: what `wg set` writes is what `wg show` reads
// back, and a request with one bad line changes nothing at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/wireguard/device.js';
import { MemoryBind, MemoryNetwork } from '../../src/bind/memory.js';
import { MemoryTun } from '../../src/tun/memory.js';
import { handleUapiRequest } from '../../src/wireguard/uapi.js';
import { generatePrivateKey, publicKey } from '../../src/crypto/x25519.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function device(): Promise<Device> {
  const dev = new Device({ tun: new MemoryTun(), bind: new MemoryBind(new MemoryNetwork(), '192.0.2.1') });
  await dev.up();
  return dev;
}

test('set then get through the text protocol', async () => {
  const dev = await device();
  const priv = generatePrivateKey();
  const peer1 = publicKey(generatePrivateKey());
  const peer2 = publicKey(generatePrivateKey());
  const set = [
    'set=1',
    `private_key=${hex(priv)}`,
    'listen_port=51999',
    `public_key=${hex(peer1)}`,
    'endpoint=[2001:db8::1]:51820',
    'persistent_keepalive_interval=0',
    'allowed_ip=10.1.0.0/16',
    'allowed_ip=fd00:1::/64',
    `public_key=${hex(peer2)}`,
    'endpoint=192.0.2.9:51820',
    'allowed_ip=10.1.2.3/32',
    '',
    '',
  ].join('\n');
  assert.equal(await handleUapiRequest(dev, set), 'errno=0\n\n');
  const got = await handleUapiRequest(dev, 'get=1\n\n');
  assert.match(got, new RegExp(`^private_key=${hex(priv)}\nlisten_port=51999\n`));
  assert.match(got, new RegExp(`public_key=${hex(peer1)}\n[^]*endpoint=\\[2001:db8::1\\]:51820\n[^]*allowed_ip=10.1.0.0/16\nallowed_ip=fd00:1::/64\n`));
  assert.match(got, /public_key=[0-9a-f]{64}\n[^]*endpoint=192.0.2.9:51820\n[^]*allowed_ip=10.1.2.3\/32\nerrno=0\n\n$/);

  // Moving 10.1.2.3/32's supernet owner does not steal the more specific prefix; moving
  // the exact prefix does.
  assert.equal(await handleUapiRequest(dev, `set=1\npublic_key=${hex(peer1)}\nallowed_ip=10.1.2.3/32\n\n`), 'errno=0\n\n');
  const state = dev.state();
  const p2 = state.peers.find((p) => hex(p.publicKey) === hex(peer2));
  assert.equal(p2?.allowedIps.length, 0);
  await dev.close();
});

test('a set with one invalid line changes nothing', async () => {
  const dev = await device();
  const priv = generatePrivateKey();
  const peer1 = publicKey(generatePrivateKey());
  await handleUapiRequest(dev, `set=1\nprivate_key=${hex(priv)}\npublic_key=${hex(peer1)}\nallowed_ip=10.0.0.0/8\n\n`);
  const before = await handleUapiRequest(dev, 'get=1\n\n');
  const bad = `set=1\nreplace_peers=true\nlisten_port=40001\npublic_key=${hex(publicKey(generatePrivateKey()))}\nallowed_ip=10.0.0.0/33\n\n`;
  const reply = await handleUapiRequest(dev, bad);
  assert.match(reply, /^errno=-\d+\n\n$/);
  assert.notEqual(reply, 'errno=0\n\n');
  assert.equal(await handleUapiRequest(dev, 'get=1\n\n'), before);
  await dev.close();
});

test('a set whose new listen port is taken fails with EADDRINUSE and changes nothing', async () => {
  const net = new MemoryNetwork();
  const other = new MemoryBind(net, '192.0.2.1');
  await other.open(45000);
  const dev = new Device({ tun: new MemoryTun(), bind: new MemoryBind(net, '192.0.2.1') });
  await dev.up();
  const peer1 = publicKey(generatePrivateKey());
  const before = await handleUapiRequest(dev, 'get=1\n\n');
  const reply = await handleUapiRequest(dev, `set=1\nlisten_port=45000\npublic_key=${hex(peer1)}\n\n`);
  assert.equal(reply, 'errno=-98\n\n');
  assert.equal(await handleUapiRequest(dev, 'get=1\n\n'), before);
  await dev.close();
});
