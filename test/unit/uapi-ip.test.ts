// Address, prefix and endpoint text handling used by the UAPI parser (src/wireguard/ip.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatIPv6,
  formatPrefix,
  maskAddress,
  parseEndpoint,
  parseIPv4,
  parseIPv6,
  parsePrefix,
  parseUnsigned,
  prefixEquals,
} from '../../src/wireguard/ip.js';

function isMapped(b: Uint8Array): boolean {
  return b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

test('IPv6 formatting is RFC 5952 (checked against the WHATWG URL serializer) and parses back', () => {
  // Bias towards zero groups so runs of zeros and ties between runs are common.
  const groupArb = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(groupArb, { minLength: 8, maxLength: 8 }), (groups) => {
      const bytes = new Uint8Array(16);
      groups.forEach((g, i) => {
        bytes[2 * i] = g >> 8;
        bytes[2 * i + 1] = g & 0xff;
      });
      const text = formatIPv6(bytes);
      if (!isMapped(bytes)) assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
      assert.deepEqual(parseIPv6(text)?.bytes, bytes);
      // The long uncompressed uppercase spelling parses to the same bytes.
      const long = groups.map((g) => g.toString(16).toUpperCase().padStart(4, '0')).join(':');
      assert.deepEqual(parseIPv6(long)?.bytes, bytes);
    }),
    { numRuns: 500 },
  );
});

test('IPv6 parsing: accepted and refused spellings', () => {
  const ok: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['0:0:0:0:0:0:0:0', '::'],
  ];
  for (const [input, canonical] of ok) assert.equal(formatIPv6(parseIPv6(input)!.bytes), canonical, input);
  const bad = [
    '', ':', ':::', '1', '1:2', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', ':1::', '1:',
    '::1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8::', 'g::', '::1.2.3', '::1.2.3.4.5', '1.2.3.4::', '::256.0.0.1',
    '::01.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%',
  ];
  for (const input of bad) assert.equal(parseIPv6(input), null, input);
  assert.deepEqual(parseIPv6('fe80::1%eth0')?.zone, 'eth0');
});

test('IPv4 parsing refuses leading zeros, out-of-range octets and wrong field counts', () => {
  assert.deepEqual(parseIPv4('0.0.0.0'), new Uint8Array(4));
  assert.deepEqual(parseIPv4('255.255.255.255'), new Uint8Array(4).fill(255));
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', '1..2.3', '0x1.2.3.4']) {
    assert.equal(parseIPv4(bad), null, bad);
  }
});

test('prefixes: host bits masked, canonical length, no zones', () => {
  assert.equal(formatPrefix(parsePrefix('10.0.0.1/8')!), '10.0.0.0/8');
  assert.equal(formatPrefix(parsePrefix('192.168.1.255/23')!), '192.168.0.0/23');
  assert.equal(formatPrefix(parsePrefix('2001:db8::ffff/0')!), '::/0');
  assert.equal(formatPrefix(parsePrefix('2001:DB8:1:2:3:4:5:6/61')!), '2001:db8:1::/61');
  assert.equal(formatPrefix(parsePrefix('::ffff:10.1.2.3/120')!), '::ffff:10.1.2.0/120');
  for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/+8', '::/129', 'fe80::1%eth0/64', '/8', 'x/8']) {
    assert.equal(parsePrefix(bad), null, bad);
  }
  assert.ok(prefixEquals(parsePrefix('10.1.0.0/16')!, parsePrefix('10.1.255.255/16')!));
  assert.ok(!prefixEquals(parsePrefix('10.1.0.0/16')!, parsePrefix('10.1.0.0/17')!));
  assert.deepEqual(maskAddress(Uint8Array.from([0xff, 0xff]), 9), Uint8Array.from([0xff, 0x80]));
});

test('endpoints are parsed as wireguard-go does and printed canonically', () => {
  assert.deepEqual(parseEndpoint('192.0.2.1:51820'), { family: 4, address: '192.0.2.1', port: 51820 });
  assert.deepEqual(parseEndpoint('[2001:DB8:0::1]:1'), { family: 6, address: '2001:db8::1', port: 1 });
  assert.deepEqual(parseEndpoint('[fe80::1%wg0]:00080'), { family: 6, address: 'fe80::1%wg0', port: 80 });
  assert.deepEqual(parseEndpoint('[::ffff:192.0.2.1]:7'), { family: 6, address: '::ffff:192.0.2.1', port: 7 });
  for (const bad of ['', ':1', '192.0.2.1', '192.0.2.1:', '192.0.2.1:65536', '::1:80', '[::1]80', '[::1]:', '[1.2.3.4]:1', 'host:1', '[::1]:-1', '1.2.3.4%eth0:1']) {
    assert.equal(parseEndpoint(bad), null, bad);
  }
});

test('unsigned decimals: digits only, within bounds', () => {
  assert.equal(parseUnsigned('0', 10), 0);
  assert.equal(parseUnsigned('0010', 10), 10);
  assert.equal(parseUnsigned('11', 10), -1);
  for (const bad of ['', '-1', '+1', '1e3', ' 1', '0x1', '1.0', '9'.repeat(21)]) assert.equal(parseUnsigned(bad, 2 ** 32), -1, bad);
});
