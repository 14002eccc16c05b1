import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_DEFAULTS,
  ConfigError,
  configPath,
  configSchema,
  defaultMac,
  defaultVppMac,
  ethernetSettings,
  loadVppConfig,
  loadVppConfigSync,
  parseVppConfig,
  type VppConfig,
} from '../../src/config/vpp-config.js';
import { formatMac } from '../../src/ethernet/frames.js';
import { formatPrefix } from '../../src/wireguard/ip.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const ETC = path.join(REPO, 'etc');
const FILE = '/etc/wggo-vpp/wg0.json';

const EXAMPLE = {
  uid: 3,
  secret: 'pwd',
  GatewayMacAddr: '42:42:42:42:42:42',
  IPv4ArpResponseRanges: ['192.168.37.128/30'],
  IPv4ArpLearningRanges: ['192.168.37.0/24'],
  IPv6NdpNeighAdvRanges: ['fd42::/64'],
  IPv6NdpLearningRanges: ['fd42::/64'],
  VppBridgeID: 4242,
};

function parse(obj: unknown, options = {}): VppConfig {
  return parseVppConfig(JSON.stringify(obj), FILE, 'wg0', options);
}

/** The ConfigError a config gives, with its problems. */
function refuse(obj: unknown): ConfigError {
  const text = typeof obj === 'string' ? obj : JSON.stringify(obj);
  try {
    parseVppConfig(text, FILE, 'wg0');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail(`accepted: ${text}`);
}

function withKey(key: string, value: unknown): Record<string, unknown> {
  return { ...EXAMPLE, [key]: value };
}

function without(key: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...EXAMPLE };
  delete copy[key];
  return copy;
}

test('the seed example (etc/wg0.json) loads unchanged', async () => {
  assert.deepEqual(JSON.parse(readFileSync(path.join(ETC, 'wg0.json'), 'utf8')), EXAMPLE);
  const c = await loadVppConfig('wg0', { env: { VPP_MEMIF_CONFIG_DIR: ETC } });
  assert.equal(c.file, path.join(ETC, 'wg0.json'));
  assert.equal(c.iface, 'wg0');
  assert.equal(c.uid, 3);
  assert.equal(c.secret, 'pwd');
  assert.equal(c.secretGenerated, false);
  assert.equal(formatMac(c.gatewayMac), '42:42:42:42:42:42');
  assert.deepEqual(c.ipv4ArpResponseRanges.map(formatPrefix), ['192.168.37.128/30']);
  assert.deepEqual(c.ipv4ArpLearningRanges.map(formatPrefix), ['192.168.37.0/24']);
  assert.deepEqual(c.ipv6NdpNeighAdvRanges.map(formatPrefix), ['fd42::/64']);
  assert.deepEqual(c.ipv6NdpLearningRanges.map(formatPrefix), ['fd42::/64']);
  assert.equal(c.vppBridgeId, 4242);
  assert.equal(c.vppApi, true);
  const sync = loadVppConfigSync('wg0', { env: { VPP_MEMIF_CONFIG_DIR: ETC } });
  assert.deepEqual(sync, c);
});

test('optional keys take their documented defaults', () => {
  const c = parse(without('IPv4ArpLearningRanges'));
  assert.deepEqual(c.ipv4ArpLearningRanges, []);
  assert.deepEqual(parse(without('IPv6NdpLearningRanges')).ipv6NdpLearningRanges, []);
  assert.equal(c.vppApi, true);
  assert.deepEqual(c.memif, { role: 'master', queuePairs: 1, ringSize: 1024, log2RingSize: 10, bufferSize: 2048 });
  assert.equal(c.mtu, 1420);
  assert.equal(formatMac(c.mac), '0a:42:00:00:00:03');
  assert.equal(c.macDerived, true);
  assert.equal(formatMac(c.vppMac), '0e:42:00:00:00:03');
  assert.equal(c.gratuitousArpAtStart, false);
  assert.equal(c.unsolicitedNaAtStart, false);
  assert.equal(c.announceAddressLimit, 16);
  assert.equal(c.neighbourLifetimeMs, 300_000);
  // The table the README quotes is the one the code uses.
  assert.equal(CONFIG_DEFAULTS.NeighbourLifetime * 1000, c.neighbourLifetimeMs);
  assert.equal(CONFIG_DEFAULTS.Mtu, c.mtu);
});

test('every extension can be set', () => {
  const c = parse({
    ...EXAMPLE,
    VppApi: false,
    MemifRole: 'slave',
    MemifQueuePairs: 2,
    MemifRingSize: 4096,
    MemifBufferSize: 9216,
    Mtu: 9000,
    MacAddr: '02:00:00:00:00:01',
    VppMacAddr: '02-00-00-00-00-02',
    GratuitousArpAtStart: true,
    UnsolicitedNaAtStart: true,
    AnnounceAddressLimit: 4,
    NeighbourLifetime: 60,
  });
  assert.equal(c.vppApi, false);
  assert.deepEqual(c.memif, { role: 'slave', queuePairs: 2, ringSize: 4096, log2RingSize: 12, bufferSize: 9216 });
  assert.equal(c.mtu, 9000);
  assert.equal(formatMac(c.mac), '02:00:00:00:00:01');
  assert.equal(c.macDerived, false);
  assert.equal(formatMac(c.vppMac), '02:00:00:00:00:02');
  assert.equal(c.gratuitousArpAtStart, true);
  assert.equal(c.unsolicitedNaAtStart, true);
  assert.equal(c.announceAddressLimit, 4);
  assert.equal(c.neighbourLifetimeMs, 60_000);
  const e = ethernetSettings(c);
  assert.equal(e.mtu, 9000);
  assert.equal(e.gratuitousArp, true);
  assert.equal(e.announceLimit, 4);
  assert.equal(e.ipv6ResponseRanges, c.ipv6NdpNeighAdvRanges);
});

test('our default MAC is locally administered, unicast, derived from the uid and stable', () => {
  for (const uid of [0, 1, 3, 255, 256, 65_536, 0x12345678, 4294967295]) {
    const m = defaultMac(uid);
    assert.equal(m[0] & 0x02, 0x02, 'locally administered');
    assert.equal(m[0] & 0x01, 0, 'unicast');
    assert.equal(m.subarray(2).reduce((a, b) => a * 256 + b, 0), uid, 'the uid, big-endian, in the last four bytes');
    assert.deepEqual(defaultMac(uid), m);
    const v = defaultVppMac(uid);
    assert.equal(v[0] & 0x03, 0x02);
    assert.notDeepEqual(v, m);
  }
  assert.equal(formatMac(defaultMac(0x12345678)), '0a:42:12:34:56:78');
  assert.notDeepEqual(defaultMac(3), defaultMac(4));
  assert.equal(formatMac(parse(withKey('uid', 77)).mac), '0a:42:00:00:00:4d');
});

test('secret: "" means none, "random" generates one that memif accepts', () => {
  assert.equal(parse(withKey('secret', '')).secret, null);
  const fixed = parse(withKey('secret', 'random'), { randomBytes: (n: number) => new Uint8Array(n).fill(0xab) });
  assert.equal(fixed.secretGenerated, true);
  assert.equal(fixed.secret, Buffer.alloc(16, 0xab).toString('base64url'));
  const a = parse(withKey('secret', 'random')).secret as string;
  const b = parse(withKey('secret', 'random')).secret as string;
  assert.notEqual(a, b);
  assert.ok(a.length <= 23 && /^[ -~]+$/.test(a));
  assert.equal(parse(withKey('secret', '12345678901234567890123')).secret, '12345678901234567890123');
});

test('empty strings in range lists are ignored and host bits are cleared', () => {
  const c = parse({ ...EXAMPLE, IPv4ArpResponseRanges: ['', '192.168.37.129/30', ''], IPv6NdpNeighAdvRanges: [''], IPv6NdpLearningRanges: [] });
  assert.deepEqual(c.ipv4ArpResponseRanges.map(formatPrefix), ['192.168.37.128/30']);
  assert.deepEqual(c.ipv6NdpNeighAdvRanges, []);
  assert.deepEqual(c.ipv6NdpLearningRanges, []);
});

test('keys match case-insensitively, as wireguard-go-vpp (Go encoding/json) matches them', () => {
  const c = parse({ UID: 3, Secret: 'pwd', gatewaymacaddr: '42:42:42:42:42:42', ipv4arpresponseranges: [], IPv6NdpNeighAdvRanges: [], vppbridgeid: 7, macaddr: '02:00:00:00:00:09' });
  assert.equal(c.uid, 3);
  assert.equal(c.vppBridgeId, 7);
  assert.equal(formatMac(c.mac), '02:00:00:00:00:09');
  const e = refuse({ ...EXAMPLE, UID: 4 });
  assert.match(e.message, /\$\.UID: a second "uid" key after "uid"/);
  // Errors name the key as the file spells it.
  assert.match(refuse({ ...without('VppBridgeID'), VPPBRIDGEID: 0 }).message, /\$\.VPPBRIDGEID: got 0, expected an integer from 1 to 16777215/);
});

test('standalone memif ("VppApi": false) needs no bridge and allows uid 0', () => {
  const c = parse({ ...without('VppBridgeID'), VppApi: false, uid: 0 });
  assert.equal(c.vppBridgeId, null);
  assert.equal(c.uid, 0);
  assert.equal(formatMac(c.mac), '0a:42:00:00:00:00');
});

test('MACs in the other spellings Go accepts load', () => {
  assert.equal(formatMac(parse(withKey('GatewayMacAddr', '42-42-42-42-42-4A')).gatewayMac), '42:42:42:42:42:4a');
  assert.equal(formatMac(parse(withKey('GatewayMacAddr', '4242.4242.4242')).gatewayMac), '42:42:42:42:42:42');
});

// Each kind of mistake: the config, the JSON path and words the message must contain.
const MISTAKES: [string, unknown, string, RegExp][] = [
  ['missing uid', without('uid'), '$.uid', /missing, expected an integer from 0 to 4294967295/],
  ['missing secret', without('secret'), '$.secret', /missing, expected a string of at most 23 printable ASCII characters/],
  ['missing GatewayMacAddr', without('GatewayMacAddr'), '$.GatewayMacAddr', /missing, expected a MAC address/],
  ['missing IPv4ArpResponseRanges', without('IPv4ArpResponseRanges'), '$.IPv4ArpResponseRanges', /missing, expected a list, each item an empty string \(ignored\) or an IPv4 CIDR/],
  ['missing IPv6NdpNeighAdvRanges', without('IPv6NdpNeighAdvRanges'), '$.IPv6NdpNeighAdvRanges', /missing, expected a list, each item .* IPv6 CIDR/],
  ['missing VppBridgeID', without('VppBridgeID'), '$.VppBridgeID', /missing, expected an integer from 1 to 16777215 \(required unless "VppApi" is false\)/],
  ['uid negative', withKey('uid', -1), '$.uid', /got -1, expected an integer from 0 to 4294967295/],
  ['uid fractional', withKey('uid', 3.5), '$.uid', /got 3\.5, expected an integer/],
  ['uid as text', withKey('uid', '3'), '$.uid', /got "3", expected an integer/],
  ['uid too large', withKey('uid', 4294967296), '$.uid', /got 4294967296, expected an integer from 0 to 4294967295/],
  ['uid 0 with the VPP API', withKey('uid', 0), '$.uid', /got 0, expected an integer of at least 1 \(uid 0 is allowed only with "VppApi": false/],
  ['secret too long', withKey('secret', 'x'.repeat(24)), '$.secret', /expected a string of at most 23 printable ASCII characters/],
  ['secret with a control character', withKey('secret', 'a\nb'), '$.secret', /got "a\\nb", expected a string of at most 23 printable ASCII/],
  ['secret not text', withKey('secret', 42), '$.secret', /got 42, expected a string/],
  ['GatewayMacAddr too short', withKey('GatewayMacAddr', '42:42:42:42:42'), '$.GatewayMacAddr', /got "42:42:42:42:42", expected a MAC address \(e\.g\. 42:42:42:42:42:42\)/],
  ['GatewayMacAddr not hex', withKey('GatewayMacAddr', '42:42:42:42:42:4g'), '$.GatewayMacAddr', /expected a MAC address/],
  ['GatewayMacAddr multicast', withKey('GatewayMacAddr', '01:00:5e:00:00:01'), '$.GatewayMacAddr', /got "01:00:5e:00:00:01", expected a unicast MAC address/],
  ['GatewayMacAddr all zero', withKey('GatewayMacAddr', '00:00:00:00:00:00'), '$.GatewayMacAddr', /expected a unicast MAC address/],
  ['GatewayMacAddr is our MAC', withKey('GatewayMacAddr', '0a:42:00:00:00:03'), '$.GatewayMacAddr', /expected a MAC different from our MAC 0a:42:00:00:00:03/],
  ['IPv4 range prefix too long', withKey('IPv4ArpResponseRanges', ['192.168.37.128/33']), '$.IPv4ArpResponseRanges[0]', /got "192\.168\.37\.128\/33", expected an empty string \(ignored\) or an IPv4 CIDR/],
  ['IPv4 range without length', withKey('IPv4ArpResponseRanges', ['192.168.37.128']), '$.IPv4ArpResponseRanges[0]', /expected .*IPv4 CIDR/],
  ['IPv4 range with a leading zero', withKey('IPv4ArpLearningRanges', ['192.168.037.0/24']), '$.IPv4ArpLearningRanges[0]', /IPv4 CIDR/],
  ['IPv6 prefix in the IPv4 list', withKey('IPv4ArpLearningRanges', ['', 'fd42::/64']), '$.IPv4ArpLearningRanges[1]', /got "fd42::\/64", expected .*IPv4 CIDR/],
  ['IPv4 prefix in the IPv6 list', withKey('IPv6NdpNeighAdvRanges', ['192.168.37.0/24']), '$.IPv6NdpNeighAdvRanges[0]', /expected .*IPv6 CIDR \(address\/length, e\.g\. fd42::\/64\)/],
  ['IPv6 prefix too long', withKey('IPv6NdpLearningRanges', ['fd42::/129']), '$.IPv6NdpLearningRanges[0]', /IPv6 CIDR/],
  ['IPv6 range with a zone', withKey('IPv6NdpLearningRanges', ['fe80::%eth0/64']), '$.IPv6NdpLearningRanges[0]', /IPv6 CIDR/],
  ['range list not a list', withKey('IPv4ArpResponseRanges', '192.168.37.128/30'), '$.IPv4ArpResponseRanges', /got "192\.168\.37\.128\/30", expected a list/],
  ['range item not text', withKey('IPv6NdpNeighAdvRanges', [64]), '$.IPv6NdpNeighAdvRanges[0]', /got 64, expected/],
  ['VppBridgeID 0', withKey('VppBridgeID', 0), '$.VppBridgeID', /got 0, expected an integer from 1 to 16777215/],
  ['VppBridgeID too large', withKey('VppBridgeID', 16777216), '$.VppBridgeID', /expected an integer from 1 to 16777215/],
  ['unknown key', withKey('GatewayMac', '42:42:42:42:42:42'), '$.GatewayMac', /unknown key with value "42:42:42:42:42:42", expected one of the known keys: uid, secret, GatewayMacAddr/],
  ['VppApi not boolean', withKey('VppApi', 'no'), '$.VppApi', /got "no", expected true or false/],
  ['MemifRole unknown', withKey('MemifRole', 'server'), '$.MemifRole', /got "server", expected one of "master", "slave"/],
  ['MemifQueuePairs 0', withKey('MemifQueuePairs', 0), '$.MemifQueuePairs', /expected an integer from 1 to 255/],
  ['MemifRingSize not a power of two', withKey('MemifRingSize', 1000), '$.MemifRingSize', /got 1000, expected one of 8, 16, .*16384/],
  ['MemifBufferSize too small', withKey('MemifBufferSize', 100), '$.MemifBufferSize', /expected an integer from 128 to 65535/],
  ['MemifBufferSize smaller than a frame', withKey('MemifBufferSize', 1024), '$.MemifBufferSize', /got 1024, expected at least 1434 \(Mtu 1420 plus the 14-byte Ethernet header\)/],
  ['Mtu too small', withKey('Mtu', 500), '$.Mtu', /expected an integer from 576 to 65521/],
  ['Mtu too large for the buffers', withKey('Mtu', 2040), '$.Mtu', /got 2040, expected at most 2034 \(MemifBufferSize 2048/],
  ['MacAddr multicast', withKey('MacAddr', '03:00:00:00:00:01'), '$.MacAddr', /expected a unicast MAC address/],
  ['MacAddr bad', withKey('MacAddr', 'zz'), '$.MacAddr', /expected a MAC address/],
  ['VppMacAddr equal to ours', withKey('VppMacAddr', '0a:42:00:00:00:03'), '$.VppMacAddr', /expected a MAC different from our MAC/],
  ['GratuitousArpAtStart not boolean', withKey('GratuitousArpAtStart', 1), '$.GratuitousArpAtStart', /got 1, expected true or false/],
  ['UnsolicitedNaAtStart not boolean', withKey('UnsolicitedNaAtStart', 'yes'), '$.UnsolicitedNaAtStart', /expected true or false/],
  ['AnnounceAddressLimit 0', withKey('AnnounceAddressLimit', 0), '$.AnnounceAddressLimit', /expected an integer from 1 to 4096/],
  ['NeighbourLifetime 0', withKey('NeighbourLifetime', 0), '$.NeighbourLifetime', /expected an integer from 1 to 86400/],
  ['top level not an object', [EXAMPLE], '$', /got \[\{"uid":3,.*\.\.\., expected a JSON object/],
];

for (const [name, config, where, words] of MISTAKES) {
  test(`refused with its message: ${name}`, () => {
    const err = refuse(config);
    assert.ok(
      err.problems.some((p) => p.path === where),
      `problem at ${where}; got ${err.problems.map((p) => p.path).join(', ')}`,
    );
    const line = err.problems.find((p) => p.path === where)?.message ?? '';
    assert.ok(line.startsWith(`${FILE}: ${where}: `), line);
    assert.match(line, words);
    assert.equal(err.file, FILE);
    assert.ok(err.message.includes(line));
  });
}

test('invalid JSON is refused with the line and column', () => {
  const err = refuse('{\n  "uid": 3,\n  "secret": "pwd",,\n}');
  assert.match(err.message, /^\/etc\/wggo-vpp\/wg0\.json: expected valid JSON \(line 3 column 19: /);
});

test('several mistakes are reported together', () => {
  const err = refuse({ ...EXAMPLE, uid: -1, GatewayMacAddr: 'x', IPv4ArpResponseRanges: ['a', 'b'] });
  assert.deepEqual(
    err.problems.map((p) => p.path).sort(),
    ['$.GatewayMacAddr', '$.IPv4ArpResponseRanges[0]', '$.IPv4ArpResponseRanges[1]', '$.uid'],
  );
  assert.equal(err.message.split('\n').length, 4);
});

test('the config directory comes from VPP_MEMIF_CONFIG_DIR, default /etc/wggo-vpp', async () => {
  assert.equal(configPath('wg0', {}), '/etc/wggo-vpp/wg0.json');
  assert.equal(configPath('wg0', { VPP_MEMIF_CONFIG_DIR: '' }), '/etc/wggo-vpp/wg0.json');
  assert.equal(configPath('wg1', { VPP_MEMIF_CONFIG_DIR: '/tmp/x' }), '/tmp/x/wg1.json');
  for (const bad of ['', '.', '..', 'a/b', '../wg0']) assert.throws(() => configPath(bad, {}), ConfigError);

  const dir = mkdtempSync(path.join(tmpdir(), 'wggo-vpp-'));
  try {
    await assert.rejects(loadVppConfig('nope', { env: { VPP_MEMIF_CONFIG_DIR: dir } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`^${path.join(dir, 'nope.json')}: expected a readable file \\(ENOENT`));
      return true;
    });
    writeFileSync(path.join(dir, 'wg9.json'), JSON.stringify({ ...EXAMPLE, uid: 9 }));
    assert.equal((await loadVppConfig('wg9', { env: { VPP_MEMIF_CONFIG_DIR: dir } })).uid, 9);
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(withKey('uid', 'x')));
    assert.throws(
      () => loadVppConfigSync('bad', { env: { VPP_MEMIF_CONFIG_DIR: dir } }),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${path.join(dir, 'bad.json')}: $.uid: got "x", expected an integer`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the schema documents every key and lists the required ones', () => {
  const schema = configSchema();
  const props = schema.properties as Record<string, { description?: string }>;
  for (const [key, node] of Object.entries(props)) assert.ok((node.description ?? '').length > 10, key);
  assert.deepEqual(schema.required, ['uid', 'secret', 'GatewayMacAddr', 'IPv4ArpResponseRanges', 'IPv6NdpNeighAdvRanges']);
  for (const key of Object.keys(CONFIG_DEFAULTS)) assert.ok(key in props, key);
});
