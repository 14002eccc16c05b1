import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DeviceConfigChange, DeviceState, PeerState, Prefix } from '../../src/wireguard/config.js';
import type { Endpoint } from '../../src/wireguard/endpoint.js';
import { formatIPv4, formatIPv6, formatPrefix, maskAddress } from '../../src/wireguard/ip.js';
import {
  EADDRINUSE,
  EINVAL,
  EIO,
  EPROTO,
  MAX_LINE_LENGTH,
  MAX_REQUEST_BYTES,
  UapiError,
  UapiFramer,
  errnoOf,
  formatErrno,
  formatGet,
  handleUapiRequest,
  parseSet,
  type UapiTarget,
} from '../../src/wireguard/uapi.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const key = (fill: number) => new Uint8Array(32).fill(fill);
const K1 = 'a'.repeat(64);
const K2 = 'b'.repeat(64);
const K3 = 'c'.repeat(64);

/** A UapiTarget that records what it is asked to apply. */
class FakeTarget implements UapiTarget {
  applied: DeviceConfigChange[] = [];
  failWith: unknown = undefined;
  stateError: unknown = undefined;
  constructor(private readonly current: DeviceState) {}
  state(): DeviceState {
    if (this.stateError !== undefined) throw this.stateError;
    return this.current;
  }
  async applyConfig(change: DeviceConfigChange): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith;
    this.applied.push(change);
  }
}

const emptyState: DeviceState = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };

// ---------------------------------------------------------------------------------------
// get

function fixedState(): DeviceState {
  const priv = new Uint8Array(32);
  for (let i = 0; i < 32; i++) priv[i] = i;
  return {
    privateKey: priv,
    listenPort: 51820,
    fwmark: 0,
    peers: [
      {
        publicKey: key(0x11),
        presharedKey: new Uint8Array(32),
        endpoint: { family: 4, address: '192.0.2.7', port: 51821 },
        lastHandshakeTimeSec: 1700000000,
        lastHandshakeTimeNsec: 123456789,
        txBytes: 5_000_000_000,
        rxBytes: 1024,
        persistentKeepaliveInterval: 25,
        allowedIps: [
          { family: 4, address: Uint8Array.from([10, 0, 0, 2]), bits: 32 },
          { family: 6, address: maskAddress(Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), 2]), 128), bits: 128 },
        ],
        protocolVersion: 1,
      },
      {
        publicKey: key(0x22),
        presharedKey: key(0xff),
        endpoint: { family: 6, address: '2001:db8::1', port: 443 },
        lastHandshakeTimeSec: 0,
        lastHandshakeTimeNsec: 0,
        txBytes: 0,
        rxBytes: 0,
        persistentKeepaliveInterval: 0,
        allowedIps: [],
        protocolVersion: 1,
      },
      {
        publicKey: key(0x33),
        presharedKey: new Uint8Array(32),
        endpoint: null,
        lastHandshakeTimeSec: 0,
        lastHandshakeTimeNsec: 0,
        txBytes: 0,
        rxBytes: 0,
        persistentKeepaliveInterval: 0,
        allowedIps: [{ family: 4, address: new Uint8Array(4), bits: 0 }],
        protocolVersion: 1,
      },
    ],
  };
}

const FIXED_GET = [
  'private_key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  'listen_port=51820',
  'public_key=1111111111111111111111111111111111111111111111111111111111111111',
  'preshared_key=0000000000000000000000000000000000000000000000000000000000000000',
  'protocol_version=1',
  'endpoint=192.0.2.7:51821',
  'last_handshake_time_sec=1700000000',
  'last_handshake_time_nsec=123456789',
  'tx_bytes=5000000000',
  'rx_bytes=1024',
  'persistent_keepalive_interval=25',
  'allowed_ip=10.0.0.2/32',
  'allowed_ip=fd00::2/128',
  'public_key=2222222222222222222222222222222222222222222222222222222222222222',
  'preshared_key=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'protocol_version=1',
  'endpoint=[2001:db8::1]:443',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=0',
  'public_key=3333333333333333333333333333333333333333333333333333333333333333',
  'preshared_key=0000000000000000000000000000000000000000000000000000000000000000',
  'protocol_version=1',
  'last_handshake_time_sec=0',
  'last_handshake_time_nsec=0',
  'tx_bytes=0',
  'rx_bytes=0',
  'persistent_keepalive_interval=0',
  'allowed_ip=0.0.0.0/0',
  '',
].join('\n');

test('get answers the state in wireguard-go order, then errno=0 and an empty line', async () => {
  assert.equal(formatGet(fixedState()), FIXED_GET);
  const target = new FakeTarget(fixedState());
  assert.equal(await handleUapiRequest(target, 'get=1\n\n'), FIXED_GET + 'errno=0\n\n');
  assert.equal(target.applied.length, 0);
});

test('get of an empty device: no private key, no port, no fwmark lines', async () => {
  assert.equal(formatGet(emptyState), '');
  assert.equal(formatGet({ ...emptyState, privateKey: new Uint8Array(32), fwmark: 7 }), 'fwmark=7\n');
  assert.equal(await handleUapiRequest(new FakeTarget(emptyState), 'get=1\n\n'), 'errno=0\n\n');
});

test('get with arguments, a failing state(), or an unknown operation answers a nonzero errno', async () => {
  const target = new FakeTarget(emptyState);
  assert.equal(await handleUapiRequest(target, 'get=1\nlisten_port=1\n\n'), formatErrno(EINVAL));
  assert.equal(await handleUapiRequest(target, 'get=2\n\n'), formatErrno(EINVAL));
  assert.equal(await handleUapiRequest(target, '\n\n'), formatErrno(EINVAL));
  assert.equal(await handleUapiRequest(target, ''), formatErrno(EINVAL));
  target.stateError = new Error('boom');
  assert.equal(await handleUapiRequest(target, 'get=1\n\n'), 'errno=-5\n\n');
});

// ---------------------------------------------------------------------------------------
// set: parsing

test('parseSet reads every key of the protocol', () => {
  const change = parseSet([
    `private_key=${'0F'.repeat(32)}`,
    'listen_port=051820',
    'fwmark=4294967295',
    'replace_peers=true',
    `public_key=${K1}`,
    `preshared_key=${K2}`,
    'endpoint=[FE80::1%eth0]:51820',
    'persistent_keepalive_interval=65535',
    'replace_allowed_ips=true',
    'allowed_ip=10.1.2.3/8',
    'allowed_ip=2001:DB8::1/32',
    'protocol_version=1',
    `public_key=${K2}`,
    'update_only=true',
    'endpoint=192.0.2.1:0',
    `public_key=${K3}`,
    'remove=true',
  ]);
  assert.equal(hex(change.privateKey!), '0f'.repeat(32));
  assert.equal(change.listenPort, 51820);
  assert.equal(change.fwmark, 4294967295);
  assert.equal(change.replacePeers, true);
  assert.equal(change.peers.length, 3);
  const [a, b, c] = change.peers;
  assert.equal(hex(a.publicKey), K1);
  assert.equal(hex(a.presharedKey!), K2);
  assert.deepEqual(a.endpoint, { family: 6, address: 'fe80::1%eth0', port: 51820 });
  assert.equal(a.persistentKeepaliveInterval, 65535);
  assert.equal(a.replaceAllowedIps, true);
  assert.deepEqual(a.allowedIps.map(formatPrefix), ['10.0.0.0/8', '2001:db8::/32']);
  assert.equal(a.remove, false);
  assert.equal(a.updateOnly, false);
  assert.equal(b.updateOnly, true);
  assert.deepEqual(b.endpoint, { family: 4, address: '192.0.2.1', port: 0 });
  assert.equal(b.presharedKey, undefined);
  assert.equal(b.persistentKeepaliveInterval, undefined);
  assert.equal(c.remove, true);
});

test('an all-zero private or preshared key is passed through (it means: remove it)', () => {
  const zero = '0'.repeat(64);
  const change = parseSet([`private_key=${zero}`, `public_key=${K1}`, `preshared_key=${zero}`]);
  assert.deepEqual(change.privateKey, new Uint8Array(32));
  assert.deepEqual(change.peers[0].presharedKey, new Uint8Array(32));
  assert.equal(change.listenPort, undefined);
  assert.equal(change.fwmark, undefined);
  assert.equal(change.replacePeers, false);
});

const INVALID: Array<[string[], number]> = [
  [['bogus=1'], EINVAL],
  [['noequals'], EPROTO],
  [[''.padEnd(MAX_LINE_LENGTH + 1, 'x')], EPROTO],
  [[`listen_port=${'1'.repeat(MAX_LINE_LENGTH)}`], EPROTO],
  [['private_key='], EINVAL],
  [[`private_key=${'g'.repeat(64)}`], EINVAL],
  [[`private_key=${'a'.repeat(62)}`], EINVAL],
  [[`private_key=${'a'.repeat(66)}`], EINVAL],
  [['listen_port='], EINVAL],
  [['listen_port=65536'], EINVAL],
  [['listen_port=-1'], EINVAL],
  [['listen_port=+1'], EINVAL],
  [['listen_port=1a'], EINVAL],
  [['listen_port= 1'], EINVAL],
  [['fwmark=4294967296'], EINVAL],
  [['fwmark=0x10'], EINVAL],
  [['replace_peers=false'], EINVAL],
  [['replace_peers='], EINVAL],
  [['protocol_version=1'], EINVAL], // a peer key before any public_key
  [['endpoint=192.0.2.1:1'], EINVAL],
  [['allowed_ip=10.0.0.0/8'], EINVAL],
  [['public_key='], EINVAL],
  [[`public_key=${'z'.repeat(64)}`], EINVAL],
  [[`public_key=${K1}`, 'listen_port=1'], EINVAL], // a device key after a peer key
  [[`public_key=${K1}`, `private_key=${K2}`], EINVAL],
  [[`public_key=${K1}`, 'replace_peers=true'], EINVAL],
  [[`public_key=${K1}`, 'preshared_key=00'], EINVAL],
  [[`public_key=${K1}`, 'endpoint='], EINVAL],
  [[`public_key=${K1}`, 'endpoint=192.0.2.1'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=192.0.2.1:'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=192.0.2.1:65536'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=256.0.2.1:1'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=01.2.3.4:1'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=2001:db8::1:51820'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=[192.0.2.1]:1'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=[2001:db8::1:1'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=[fe80::1%]:1'], EINVAL],
  [[`public_key=${K1}`, 'endpoint=example.com:51820'], EINVAL],
  [[`public_key=${K1}`, 'persistent_keepalive_interval=65536'], EINVAL],
  [[`public_key=${K1}`, 'persistent_keepalive_interval=1.5'], EINVAL],
  [[`public_key=${K1}`, 'persistent_keepalive_interval='], EINVAL],
  [[`public_key=${K1}`, 'replace_allowed_ips=false'], EINVAL],
  [[`public_key=${K1}`, 'remove=yes'], EINVAL],
  [[`public_key=${K1}`, 'update_only=1'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip='], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=10.0.0.0'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=10.0.0.0/33'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=10.0.0.0/08'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=10.0.0.0/-1'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=10.0.0/8'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=fd00::/129'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=fe80::1%eth0/128'], EINVAL],
  [[`public_key=${K1}`, 'allowed_ip=fd00:::1/128'], EINVAL],
  [[`public_key=${K1}`, 'protocol_version=2'], EINVAL],
  [[`public_key=${K1}`, 'protocol_version='], EINVAL],
  [[`public_key=${K1}`, 'last_handshake_time_sec=0'], EINVAL], // get-only keys
  [[`public_key=${K1}`, 'tx_bytes=0'], EINVAL],
  [[`public_key=${K1}`, 'remove=true', 'allowed_ip=bad'], EINVAL], // validated even after remove
  [['listen_port=1', '', 'fwmark=1'], EPROTO],
];

test('every kind of invalid line throws UapiError with its errno', () => {
  for (const [lines, errno] of INVALID) {
    assert.throws(
      () => parseSet(lines),
      (err: unknown) => err instanceof UapiError && err.errno === errno && err.message.length > 0,
      JSON.stringify(lines).slice(0, 120),
    );
  }
});

test('error messages never echo key material', () => {
  const secret = 'q' + '5'.repeat(63);
  for (const k of ['private_key', 'public_key']) {
    assert.throws(
      () => parseSet([`${k}=${secret}`]),
      (err: unknown) => err instanceof UapiError && !err.message.includes('5555'),
    );
  }
});

test('replace_allowed_ips drops the allowed IPs listed before it in the block; remove ignores the rest', () => {
  const change = parseSet([
    `public_key=${K1}`,
    'allowed_ip=10.0.0.0/8',
    'replace_allowed_ips=true',
    'allowed_ip=10.1.0.0/16',
    `public_key=${K2}`,
    'allowed_ip=10.2.0.0/16',
    'endpoint=192.0.2.1:1',
    'remove=true',
  ]);
  assert.deepEqual(change.peers[0].allowedIps.map(formatPrefix), ['10.1.0.0/16']);
  assert.equal(change.peers[0].replaceAllowedIps, true);
  assert.equal(change.peers[1].remove, true);
  assert.deepEqual(change.peers[1].allowedIps, []);
  assert.equal(change.peers[1].endpoint, undefined);
});

test('duplicate public_key blocks are merged in order', () => {
  const change = parseSet([
    `public_key=${K1}`,
    `preshared_key=${K3}`,
    'endpoint=192.0.2.1:1',
    'allowed_ip=10.0.0.1/32',
    `public_key=${K2}`,
    'allowed_ip=10.0.0.2/32',
    `public_key=${K1}`,
    'endpoint=192.0.2.9:9',
    'persistent_keepalive_interval=5',
    'allowed_ip=10.0.0.3/32',
  ]);
  assert.equal(change.peers.length, 2);
  const [a, b] = change.peers;
  assert.equal(hex(a.publicKey), K1);
  assert.equal(hex(a.presharedKey!), K3);
  assert.deepEqual(a.endpoint, { family: 4, address: '192.0.2.9', port: 9 });
  assert.equal(a.persistentKeepaliveInterval, 5);
  assert.deepEqual(a.allowedIps.map(formatPrefix), ['10.0.0.1/32', '10.0.0.3/32']);
  assert.equal(hex(b.publicKey), K2);
});

test('duplicate blocks stay separate where merging would change the outcome', () => {
  // Removed, then configured again: the peer is recreated from scratch.
  let peers = parseSet([`public_key=${K1}`, 'remove=true', `public_key=${K1}`, 'allowed_ip=10.0.0.0/8']).peers;
  assert.deepEqual(peers.map((p) => [hex(p.publicKey), p.remove]), [[K1, true], [K1, false]]);
  // Two removals are one.
  peers = parseSet([`public_key=${K1}`, 'remove=true', `public_key=${K1}`, 'remove=true']).peers;
  assert.equal(peers.length, 1);
  // An update-only block, then a creating one.
  peers = parseSet([`public_key=${K1}`, 'update_only=true', 'endpoint=192.0.2.1:1', `public_key=${K1}`, 'allowed_ip=10.0.0.0/8']).peers;
  assert.deepEqual(peers.map((p) => p.updateOnly), [true, false]);
  // ...but a creating block followed by an update-only one merges (the peer exists by then).
  peers = parseSet([`public_key=${K1}`, `public_key=${K1}`, 'update_only=true', 'endpoint=192.0.2.1:1']).peers;
  assert.equal(peers.length, 1);
  assert.equal(peers[0].updateOnly, false);
  // The same prefix claimed by another peer in between: the order decides who ends up with it.
  peers = parseSet([
    `public_key=${K1}`,
    'allowed_ip=10.0.0.1/32',
    `public_key=${K2}`,
    'allowed_ip=10.0.0.1/32',
    `public_key=${K1}`,
    'allowed_ip=10.0.0.1/32',
  ]).peers;
  assert.deepEqual(peers.map((p) => hex(p.publicKey)), [K1, K2, K1]);
  // A replace after prefixes were added in an earlier block.
  peers = parseSet([`public_key=${K1}`, 'allowed_ip=10.0.0.1/32', `public_key=${K1}`, 'replace_allowed_ips=true']).peers;
  assert.equal(peers.length, 2);
});

// ---------------------------------------------------------------------------------------
// set: requests

test('a set with a bad line in the middle applies nothing and answers errno=-EINVAL', async () => {
  const target = new FakeTarget(emptyState);
  const request = `set=1\nlisten_port=51820\npublic_key=${K1}\nallowed_ip=10.0.0.0/33\nendpoint=192.0.2.1:1\n\n`;
  assert.equal(await handleUapiRequest(target, request), 'errno=-22\n\n');
  assert.equal(target.applied.length, 0);
  assert.equal(await handleUapiRequest(target, 'set=1\nlisten_port=51820\nbroken\n\n'), 'errno=-71\n\n');
  assert.equal(target.applied.length, 0);
});

test('a good set is applied once, as a whole', async () => {
  const target = new FakeTarget(emptyState);
  const reply = await handleUapiRequest(target, `set=1\nlisten_port=51820\npublic_key=${K1}\nallowed_ip=10.0.0.0/8\n\n`);
  assert.equal(reply, 'errno=0\n\n');
  assert.equal(target.applied.length, 1);
  assert.equal(target.applied[0].listenPort, 51820);
  assert.deepEqual(target.applied[0].peers[0].allowedIps.map(formatPrefix), ['10.0.0.0/8']);
  // A request without its final empty line (stream ended) is still a complete set.
  assert.equal(await handleUapiRequest(target, 'set=1\nfwmark=3\n'), 'errno=0\n\n');
  assert.equal(target.applied[1].fwmark, 3);
  // Text after the empty line does not belong to this request.
  assert.equal(await handleUapiRequest(target, 'set=1\nfwmark=3\n\nfwmark=4\n'), formatErrno(EPROTO));
  assert.equal(target.applied.length, 2);
});

test('errors thrown by applyConfig become negative errno values', async () => {
  const target = new FakeTarget(emptyState);
  const set = 'set=1\nlisten_port=1\n\n';
  // Node system errors carry errno negative and a code.
  target.failWith = Object.assign(new Error('listen EADDRINUSE'), { errno: -98, code: 'EADDRINUSE' });
  assert.equal(await handleUapiRequest(target, set), 'errno=-98\n\n');
  target.failWith = Object.assign(new Error('in use'), { code: 'EADDRINUSE' });
  assert.equal(await handleUapiRequest(target, set), `errno=-${EADDRINUSE}\n\n`);
  target.failWith = Object.assign(new Error('x'), { errno: 13 });
  assert.equal(await handleUapiRequest(target, set), 'errno=-13\n\n');
  target.failWith = new UapiError(EINVAL, 'bad');
  assert.equal(await handleUapiRequest(target, set), 'errno=-22\n\n');
  target.failWith = new Error('anything else');
  assert.equal(await handleUapiRequest(target, set), `errno=-${EIO}\n\n`);
  target.failWith = 'not even an Error';
  assert.equal(await handleUapiRequest(target, set), `errno=-${EIO}\n\n`);
  assert.equal(errnoOf(null), EIO);
  assert.equal(errnoOf({ errno: 0 }), EIO);
});

test('errors are logged without key material', async () => {
  const logged: string[] = [];
  const logger = { error: (m: string) => logged.push(m), verbose: () => {}, debug: () => {} };
  await handleUapiRequest(new FakeTarget(emptyState), `set=1\nprivate_key=${'7'.repeat(63)}x\n\n`, logger);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /private_key/);
  assert.ok(!logged[0].includes('7777'));
});

test('oversized requests are refused without applying anything', async () => {
  const target = new FakeTarget(emptyState);
  const long = `set=1\nlisten_port=${'1'.repeat(MAX_LINE_LENGTH + 10)}\n\n`;
  assert.equal(await handleUapiRequest(target, long), formatErrno(EPROTO));
  const huge = 'set=1\n' + 'fwmark=1\n'.repeat(Math.ceil(MAX_REQUEST_BYTES / 9) + 1) + '\n';
  assert.equal(await handleUapiRequest(target, huge), formatErrno(EPROTO));
  const many = 'set=1\n' + 'x=1\n'.repeat((1 << 19) + 1) + '\n';
  assert.equal(await handleUapiRequest(target, many), formatErrno(EPROTO));
  assert.equal(target.applied.length, 0);
});

test('handleUapiRequest never throws and always ends with an errno line', async () => {
  const line = fc.oneof(
    fc.constantFrom('get=1', 'set=1', `public_key=${K1}`, 'listen_port=1', 'allowed_ip=10.0.0.0/8', 'remove=true', '', '='),
    fc.string({ maxLength: 30 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 12 }), fc.boolean(), async (lines, failApply) => {
      const target = new FakeTarget(fixedState());
      if (failApply) target.failWith = new Error('nope');
      const reply = await handleUapiRequest(target, lines.join('\n') + '\n\n');
      assert.match(reply, /(^|\n)errno=(0|-[1-9][0-9]*)\n\n$/);
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------------
// get -> set round trip

const bytesArb = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const endpointArb: fc.Arbitrary<Endpoint | null> = fc.oneof(
  fc.constant(null),
  fc.tuple(bytesArb(4), fc.integer({ min: 0, max: 65535 })).map(([b, port]) => ({ family: 4 as const, address: formatIPv4(b), port })),
  fc
    .tuple(bytesArb(16), fc.integer({ min: 0, max: 65535 }), fc.constantFrom('', '%eth0', '%3'))
    .map(([b, port, zone]) => ({ family: 6 as const, address: formatIPv6(b) + zone, port })),
);
const prefixArb: fc.Arbitrary<Prefix> = fc.oneof(
  fc.tuple(bytesArb(4), fc.integer({ min: 0, max: 32 })).map(([b, bits]) => ({ family: 4 as const, address: maskAddress(b, bits), bits })),
  fc.tuple(bytesArb(16), fc.integer({ min: 0, max: 128 })).map(([b, bits]) => ({ family: 6 as const, address: maskAddress(b, bits), bits })),
);
const counterArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const peerArb: fc.Arbitrary<PeerState> = fc.record({
  publicKey: bytesArb(32),
  presharedKey: fc.oneof(fc.constant(new Uint8Array(32)), bytesArb(32)),
  endpoint: endpointArb,
  lastHandshakeTimeSec: counterArb,
  lastHandshakeTimeNsec: fc.integer({ min: 0, max: 999_999_999 }),
  rxBytes: counterArb,
  txBytes: counterArb,
  persistentKeepaliveInterval: fc.integer({ min: 0, max: 65535 }),
  allowedIps: fc.array(prefixArb, { maxLength: 5 }),
  protocolVersion: fc.constant(1),
});
const stateArb: fc.Arbitrary<DeviceState> = fc.record({
  privateKey: fc.oneof(fc.constant(null), bytesArb(32)),
  listenPort: fc.integer({ min: 0, max: 65535 }),
  fwmark: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
  peers: fc.uniqueArray(peerArb, { maxLength: 6, selector: (p) => hex(p.publicKey) }),
});

/** Keys a get reports but a set does not take. */
const GET_ONLY = /^(last_handshake_time_sec|last_handshake_time_nsec|tx_bytes|rx_bytes)=/;

test('formatGet output, minus its statistics, parses back as a set describing the same device', () => {
  fc.assert(
    fc.property(stateArb, (state) => {
      const text = formatGet(state);
      assert.ok(text === '' || text.endsWith('\n'));
      const lines = text.split('\n').filter((l) => l !== '' && !GET_ONLY.test(l));
      const change = parseSet(lines);
      const hasKey = state.privateKey !== null && state.privateKey.some((b) => b !== 0);
      assert.deepEqual(change.privateKey, hasKey ? state.privateKey : undefined);
      assert.equal(change.listenPort, state.listenPort === 0 ? undefined : state.listenPort);
      assert.equal(change.fwmark, state.fwmark === 0 ? undefined : state.fwmark);
      assert.equal(change.replacePeers, false);
      assert.equal(change.peers.length, state.peers.length);
      state.peers.forEach((peer, i) => {
        const got = change.peers[i];
        assert.deepEqual(got.publicKey, peer.publicKey);
        assert.deepEqual(got.presharedKey, peer.presharedKey);
        assert.deepEqual(got.endpoint, peer.endpoint ?? undefined);
        assert.equal(got.persistentKeepaliveInterval, peer.persistentKeepaliveInterval);
        assert.deepEqual(got.allowedIps.map(formatPrefix), peer.allowedIps.map(formatPrefix));
        assert.deepEqual(got.allowedIps, peer.allowedIps);
        assert.equal(got.remove, false);
        assert.equal(got.updateOnly, false);
      });
      // The statistics lines are plain unsigned decimals, as wg(8) requires.
      for (const l of text.split('\n').filter((x) => GET_ONLY.test(x))) assert.match(l, /=[0-9]+$/);
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------------
// framing

test('the framer cuts a stream into requests however it is chunked', () => {
  const requestArb = fc
    .array(fc.stringMatching(/^[a-z_]{1,8}=[0-9a-z.:/\[\]]{0,12}$/), { minLength: 1, maxLength: 5 })
    .map((lines) => lines.join('\n') + '\n\n');
  fc.assert(
    fc.property(fc.array(requestArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (requests, cuts) => {
      const stream = requests.join('');
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const framer = new UapiFramer();
      const got: string[] = [];
      let last = 0;
      for (const point of [...points, stream.length]) {
        got.push(...framer.push(stream.slice(last, point)));
        last = point;
      }
      assert.deepEqual(got, requests);
      assert.equal(framer.pending, 0);
      assert.equal(framer.overflowed, false);
    }),
    { numRuns: 300 },
  );
});

test('the framer handles a chunk boundary between the two newlines', () => {
  const framer = new UapiFramer();
  assert.deepEqual(framer.push('get=1\n'), []);
  assert.deepEqual(framer.push('\nset=1\nfwmark=1\n'), ['get=1\n\n']);
  assert.deepEqual(framer.push('\n'), ['set=1\nfwmark=1\n\n']);
  assert.deepEqual(framer.push('get=1\n\nget=1\n\n'), ['get=1\n\n', 'get=1\n\n']);
});

test('the framer bounds what it holds and reports overflow', () => {
  const framer = new UapiFramer(100);
  assert.deepEqual(framer.push('get=1\n\n' + 'x'.repeat(60)), ['get=1\n\n']);
  assert.deepEqual(framer.push('y'.repeat(60)), []);
  assert.equal(framer.overflowed, true);
  assert.equal(framer.pending, 0);
  assert.deepEqual(framer.push('\n\nget=1\n\n'), []);
  // A complete request that is itself too large also overflows.
  const other = new UapiFramer(10);
  assert.deepEqual(other.push('set=1\nfwmark=1\n\n'), []);
  assert.equal(other.overflowed, true);
});

test('wg setconf with 1000 peers fits the bounds and parses', async () => {
  const lines = ['set=1', `private_key=${K1}`, 'listen_port=51820', 'replace_peers=true'];
  for (let i = 0; i < 1000; i++) {
    const pk = i.toString(16).padStart(64, '0');
    lines.push(
      `public_key=${pk}`,
      `preshared_key=${K2}`,
      `endpoint=[2001:db8:ffff:ffff::${i.toString(16)}]:51820`,
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      `allowed_ip=10.${i >> 8}.${i & 255}.0/24`,
      `allowed_ip=10.100.${i >> 8}.${i & 255}/32`,
      `allowed_ip=fd00:0:0:${i.toString(16)}::/64`,
      `allowed_ip=fd00:1::${i.toString(16)}/128`,
    );
  }
  const request = lines.join('\n') + '\n\n';
  assert.ok(request.length * 4 < MAX_REQUEST_BYTES, `${request.length} characters`);
  const framer = new UapiFramer();
  const requests: string[] = [];
  for (let i = 0; i < request.length; i += 4096) requests.push(...framer.push(request.slice(i, i + 4096)));
  assert.deepEqual(requests, [request]);
  const target = new FakeTarget(emptyState);
  assert.equal(await handleUapiRequest(target, requests[0]), 'errno=0\n\n');
  assert.equal(target.applied[0].peers.length, 1000);
  assert.equal(target.applied[0].peers[999].allowedIps.length, 4);
});
