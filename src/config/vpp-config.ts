// The memif service's configuration: $VPP_MEMIF_CONFIG_DIR/<iface>.json (default
// /etc/wggo-vpp), in the wireguard-go-vpp format plus optional extensions. The file is
// validated against schemas/wggo-vpp.schema.json with ajv; then the checks a schema
// cannot express (MACs usable as unicast, MTU fitting the memif buffers) run, defaults
// are applied and the text is turned into typed values. Any mistake stops the start with
// a message naming the file, the JSON path, the value and what was expected.
//
// Compatibility with wireguard-go-vpp: keys match case-insensitively (Go's encoding/json
// does), MACs take the spellings Go's net.ParseMAC takes for 6 bytes, CIDRs may have host
// bits set (they are cleared, as net.ParseCIDR does), empty strings in range lists are
// ignored. Unlike wireguard-go-vpp we refuse what it silently replaced: an unparsable
// GatewayMacAddr, uid 0 and VppBridgeID 0 (see the schema for each key).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { formatMac, isUsableUnicastMac, parseMac } from '../ethernet/frames.js';
import type { Prefix } from '../wireguard/config.js';
import { parsePrefix } from '../wireguard/ip.js';

export const DEFAULT_CONFIG_DIR = '/etc/wggo-vpp';

/** The value each optional key takes when the file leaves it out. */
export const CONFIG_DEFAULTS = {
  IPv4ArpLearningRanges: [] as string[],
  IPv6NdpLearningRanges: [] as string[],
  VppApi: true,
  MemifRole: 'master' as MemifRole,
  MemifQueuePairs: 1,
  MemifRingSize: 1024,
  MemifBufferSize: 2048,
  Mtu: 1420,
  GratuitousArpAtStart: false,
  UnsolicitedNaAtStart: false,
  AnnounceAddressLimit: 16,
  /** Seconds. */
  NeighbourLifetime: 300,
} as const;

/** memif "secret": "random" asks for a fresh secret each start. */
export const RANDOM_SECRET = 'random';

export type MemifRole = 'master' | 'slave';

export interface MemifSettings {
  /** Our role; VPP takes the other one. */
  role: MemifRole;
  queuePairs: number;
  /** Descriptors per ring (a power of two) and its log2, as the memif protocol sends it. */
  ringSize: number;
  log2RingSize: number;
  bufferSize: number;
}

export interface VppConfig {
  /** The file it came from and the interface name it was loaded for. */
  file: string;
  iface: string;
  uid: number;
  /** null: no secret. */
  secret: string | null;
  /** The file said "random" and `secret` was generated for this run. */
  secretGenerated: boolean;
  /** false: standalone memif, no VPP API calls. */
  vppApi: boolean;
  /** null only when VppApi is false and the file has no VppBridgeID. */
  vppBridgeId: number | null;
  memif: MemifSettings;
  mtu: number;
  /** Our MAC, and whether it was derived from the uid rather than configured. */
  mac: Uint8Array;
  macDerived: boolean;
  vppMac: Uint8Array;
  gatewayMac: Uint8Array;
  ipv4ArpResponseRanges: Prefix[];
  ipv4ArpLearningRanges: Prefix[];
  ipv6NdpNeighAdvRanges: Prefix[];
  ipv6NdpLearningRanges: Prefix[];
  gratuitousArpAtStart: boolean;
  unsolicitedNaAtStart: boolean;
  announceAddressLimit: number;
  neighbourLifetimeMs: number;
}

/** One mistake in a config file. */
export interface ConfigProblem {
  /** JSON path like $.IPv4ArpResponseRanges[1]; "" for problems with the file as a whole. */
  path: string;
  /** The offending value; undefined when missing or not applicable. */
  value: unknown;
  /** What was expected there. */
  expected: string;
  /** The whole line: file, path, value, expectation. */
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Environment to read VPP_MEMIF_CONFIG_DIR from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Source of randomness for "secret": "random" (default crypto.randomBytes). */
  randomBytes?: (n: number) => Uint8Array;
}

/**
 * Our MAC when none is configured: 0a:42 and the uid as four big-endian bytes. 0x0a has
 * the locally-administered bit set and the group bit clear, so it is a local unicast MAC;
 * it is stable for the uid, unique per uid within one VPP, and the MAC wireguard-go-vpp
 * used, so neighbours' caches and l2fib entries survive the switch.
 */
export function defaultMac(uid: number): Uint8Array {
  return Uint8Array.of(0x0a, 0x42, uid >>> 24, (uid >>> 16) & 0xff, (uid >>> 8) & 0xff, uid & 0xff);
}

/**
 * VPP's memif MAC when none is configured: 0e:42 and the uid as four big-endian bytes
 * (local unicast; wireguard-go-vpp used 0b:42:..., which has the group bit set).
 */
export function defaultVppMac(uid: number): Uint8Array {
  return Uint8Array.of(0x0e, 0x42, uid >>> 24, (uid >>> 16) & 0xff, (uid >>> 8) & 0xff, uid & 0xff);
}

/** The config directory: $VPP_MEMIF_CONFIG_DIR when set and non-empty, else /etc/wggo-vpp. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.VPP_MEMIF_CONFIG_DIR;
  return dir !== undefined && dir !== '' ? dir : DEFAULT_CONFIG_DIR;
}

/** The config file for an interface. Throws ConfigError for names that are not a plain file name. */
export function configPath(iface: string, env: NodeJS.ProcessEnv = process.env): string {
  if (iface === '' || iface === '.' || iface === '..' || /[/\\\0]/.test(iface)) {
    const file = path.join(configDir(env), '<iface>.json');
    throw new ConfigError(file, [problem(file, '', iface, 'an interface name without "/" (it names the config file)', false)]);
  }
  return path.join(configDir(env), `${iface}.json`);
}

/** Reads, validates and normalises the config of `iface`. Rejects with ConfigError. */
export async function loadVppConfig(iface: string, options: LoadOptions = {}): Promise<VppConfig> {
  const file = configPath(iface, options.env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [problem(file, '', undefined, `a readable file (${(err as Error).message})`, false)]);
  }
  return parseVppConfig(text, file, iface, options);
}

/** Synchronous loadVppConfig, for a parent process that must decide before it forks. */
export function loadVppConfigSync(iface: string, options: LoadOptions = {}): VppConfig {
  const file = configPath(iface, options.env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [problem(file, '', undefined, `a readable file (${(err as Error).message})`, false)]);
  }
  return parseVppConfig(text, file, iface, options);
}

/** Validates and normalises config text; `file` is only used in messages. Throws ConfigError. */
export function parseVppConfig(text: string, file: string, iface: string, options: LoadOptions = {}): VppConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [problem(file, '', undefined, `valid JSON (${jsonErrorWhere(text, err as Error)})`, false)]);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError(file, [problem(file, '$', data, 'a JSON object', false)]);
  }
  const { canonical, spelled, problems } = canonicalKeys(file, data as Record<string, unknown>);
  if (problems.length > 0) throw new ConfigError(file, problems);

  const validate = schemaValidator();
  if (!validate(canonical)) {
    throw new ConfigError(file, schemaProblems(file, validate.errors ?? [], canonical, spelled));
  }
  return normalise(file, iface, canonical as unknown as RawConfig, spelled, options);
}

// ---- schema ----

interface RawConfig {
  uid: number;
  secret: string;
  GatewayMacAddr: string;
  IPv4ArpResponseRanges: string[];
  IPv4ArpLearningRanges?: string[];
  IPv6NdpNeighAdvRanges: string[];
  IPv6NdpLearningRanges?: string[];
  VppBridgeID?: number;
  VppApi?: boolean;
  MemifRole?: MemifRole;
  MemifQueuePairs?: number;
  MemifRingSize?: number;
  MemifBufferSize?: number;
  Mtu?: number;
  MacAddr?: string;
  VppMacAddr?: string;
  GratuitousArpAtStart?: boolean;
  UnsolicitedNaAtStart?: boolean;
  AnnounceAddressLimit?: number;
  NeighbourLifetime?: number;
}

type SchemaNode = Record<string, unknown>;

const FORMAT_TEXT: Record<string, string> = {
  'ipv4-cidr': 'an IPv4 CIDR (address/length, e.g. 192.168.37.0/24)',
  'ipv6-cidr': 'an IPv6 CIDR (address/length, e.g. fd42::/64)',
  'mac-address': 'a MAC address (e.g. 42:42:42:42:42:42)',
};

/** Extra words for the checks that depend on another key. */
const NOTES: Record<string, string> = {
  '#/then/properties/uid/minimum': ' (uid 0 is allowed only with "VppApi": false: socket id 0 is VPP\'s default memif socket)',
  '#/then/required': ' (required unless "VppApi" is false)',
};

let compiled: { validate: ValidateFunction; schema: SchemaNode } | null = null;

/** Where the schema lives: schemas/ at the package root, from src/config or dist/src/config. */
export function schemaPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../../schemas/wggo-vpp.schema.json'), path.resolve(here, '../../schemas/wggo-vpp.schema.json')];
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

/** The schema as loaded (for tests and tools). */
export function configSchema(): SchemaNode {
  return compile().schema;
}

function schemaValidator(): ValidateFunction {
  return compile().validate;
}

function compile(): { validate: ValidateFunction; schema: SchemaNode } {
  if (compiled !== null) return compiled;
  const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as SchemaNode;
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false });
  ajv.addFormat('ipv4-cidr', (s: string) => parsePrefix(s)?.family === 4);
  ajv.addFormat('ipv6-cidr', (s: string) => parsePrefix(s)?.family === 6);
  ajv.addFormat('mac-address', (s: string) => parseMac(s) !== null);
  compiled = { validate: ajv.compile(schema), schema };
  return compiled;
}

/**
 * Renames keys to the schema's spelling when they match it case-insensitively, as Go's
 * encoding/json matches them. Two keys for one name are refused.
 */
function canonicalKeys(file: string, data: Record<string, unknown>) {
  const known = Object.keys((compile().schema.properties ?? {}) as SchemaNode);
  const byLower = new Map(known.map((k) => [k.toLowerCase(), k]));
  const canonical: Record<string, unknown> = {};
  const spelled = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(data)) {
    const name = byLower.get(key.toLowerCase()) ?? key;
    if (spelled.has(name)) {
      const first = spelled.get(name);
      problems.push(problem(file, jsonPath([key]), value, 'each key once', `a second "${name}" key after "${first}" (keys match case-insensitively)`));
      continue;
    }
    spelled.set(name, key);
    canonical[name] = value;
  }
  return { canonical, spelled, problems };
}

function schemaProblems(file: string, errors: ErrorObject[], data: unknown, spelled: Map<string, string>): ConfigProblem[] {
  // A failed anyOf reports each branch too; its own error says it better, so branches go.
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  const relevant = errors.filter(
    (e) => e.keyword !== 'if' && !anyOfs.some((a) => a !== e && a.instancePath === e.instancePath && e.schemaPath.startsWith(a.schemaPath + '/')),
  );
  // One problem per place: the key's own schema first, conditional (then) checks after.
  relevant.sort((a, b) => Number(a.schemaPath.startsWith('#/then')) - Number(b.schemaPath.startsWith('#/then')));
  const schema = compile().schema;
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const e of relevant) {
    const segments = pointerSegments(e.instancePath, data);
    const note = NOTES[e.schemaPath] ?? '';
    let p: ConfigProblem;
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      const props = (schema.properties ?? {}) as Record<string, SchemaNode>;
      p = problem(file, jsonPath([...segments, missing], spelled), undefined, describe(props[missing] ?? {}, schema) + note, true);
    } else if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((schema.properties ?? {}) as SchemaNode).filter((k) => k !== '$schema');
      const value = (e.data as Record<string, unknown>)[extra];
      p = problem(file, jsonPath([...segments, extra], spelled), value, `one of the known keys: ${known.join(', ')}`, `unknown key with value ${showValue(value)}`);
    } else {
      p = problem(file, jsonPath(segments, spelled), e.data, describe(e.parentSchema as SchemaNode, schema) + note, false);
    }
    if (seen.has(p.path)) continue;
    seen.add(p.path);
    out.push(p);
  }
  return out;
}

/** What a schema node asks for, in words. */
function describe(node: SchemaNode, root: SchemaNode): string {
  const ref = node.$ref;
  if (typeof ref === 'string') return describe(resolveRef(ref, root), root);
  if (Array.isArray(node.anyOf)) return (node.anyOf as SchemaNode[]).map((n) => describe(n, root)).join(' or ');
  if (Array.isArray(node.enum)) return 'one of ' + (node.enum as unknown[]).map((v) => JSON.stringify(v)).join(', ');
  switch (node.type) {
    case 'integer': {
      const min = node.minimum as number | undefined;
      const max = node.maximum as number | undefined;
      if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
      if (min !== undefined) return `an integer of at least ${min}`;
      return 'an integer';
    }
    case 'string': {
      if (typeof node.format === 'string') return FORMAT_TEXT[node.format] ?? `a string in ${node.format} format`;
      if (node.maxLength === 0) return 'an empty string (ignored)';
      if (typeof node.maxLength === 'number') {
        return `a string of at most ${node.maxLength}${typeof node.pattern === 'string' ? ' printable ASCII' : ''} characters`;
      }
      return 'a string';
    }
    case 'array':
      return `a list, each item ${describe((node.items ?? {}) as SchemaNode, root)}`;
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a JSON object';
    default:
      return 'a valid value';
  }
}

function resolveRef(ref: string, root: SchemaNode): SchemaNode {
  let node: unknown = root;
  for (const part of ref.replace(/^#\//, '').split('/')) node = (node as SchemaNode)?.[part];
  return (node ?? {}) as SchemaNode;
}

// ---- after the schema: cross-key checks, defaults, typed values ----

function normalise(file: string, iface: string, raw: RawConfig, spelled: Map<string, string>, options: LoadOptions): VppConfig {
  const problems: ConfigProblem[] = [];
  const at = (key: string, ...rest: (string | number)[]) => jsonPath([key, ...rest], spelled);
  const d = CONFIG_DEFAULTS;

  const gatewayMac = parseMac(raw.GatewayMacAddr) as Uint8Array;
  const mac = raw.MacAddr !== undefined ? (parseMac(raw.MacAddr) as Uint8Array) : defaultMac(raw.uid);
  const vppMac = raw.VppMacAddr !== undefined ? (parseMac(raw.VppMacAddr) as Uint8Array) : defaultVppMac(raw.uid);
  const macChecks: [string, string | undefined, Uint8Array][] = [
    ['GatewayMacAddr', raw.GatewayMacAddr, gatewayMac],
    ['MacAddr', raw.MacAddr, mac],
    ['VppMacAddr', raw.VppMacAddr, vppMac],
  ];
  for (const [key, text, value] of macChecks) {
    if (text !== undefined && !isUsableUnicastMac(value)) {
      problems.push(problem(file, at(key), text, 'a unicast MAC address (group bit clear, not all zero)', false));
    }
  }
  if (sameMac(gatewayMac, mac)) {
    const key = raw.MacAddr !== undefined ? 'MacAddr' : 'GatewayMacAddr';
    problems.push(problem(file, at(key), key === 'MacAddr' ? raw.MacAddr : raw.GatewayMacAddr, `a MAC different from ${key === 'MacAddr' ? 'GatewayMacAddr' : `our MAC ${formatMac(mac)}`}`, false));
  }
  if (raw.VppMacAddr !== undefined && sameMac(vppMac, mac)) {
    problems.push(problem(file, at('VppMacAddr'), raw.VppMacAddr, `a MAC different from our MAC ${formatMac(mac)}`, false));
  }

  const mtu = raw.Mtu ?? d.Mtu;
  const bufferSize = raw.MemifBufferSize ?? d.MemifBufferSize;
  if (mtu + 14 > bufferSize) {
    const key = raw.Mtu !== undefined ? 'Mtu' : 'MemifBufferSize';
    const expected = key === 'Mtu' ? `at most ${bufferSize - 14} (MemifBufferSize ${bufferSize} minus the 14-byte Ethernet header)` : `at least ${mtu + 14} (Mtu ${mtu} plus the 14-byte Ethernet header)`;
    problems.push(problem(file, at(key), key === 'Mtu' ? raw.Mtu : raw.MemifBufferSize, expected, false));
  }
  if (problems.length > 0) throw new ConfigError(file, problems);

  let secret: string | null = raw.secret === '' ? null : raw.secret;
  const secretGenerated = raw.secret === RANDOM_SECRET;
  if (secretGenerated) secret = Buffer.from((options.randomBytes ?? randomBytes)(16)).toString('base64url');

  const vppApi = raw.VppApi ?? d.VppApi;
  const ringSize = raw.MemifRingSize ?? d.MemifRingSize;
  return {
    file,
    iface,
    uid: raw.uid,
    secret,
    secretGenerated,
    vppApi,
    vppBridgeId: raw.VppBridgeID ?? null,
    memif: {
      role: raw.MemifRole ?? d.MemifRole,
      queuePairs: raw.MemifQueuePairs ?? d.MemifQueuePairs,
      ringSize,
      log2RingSize: Math.log2(ringSize),
      bufferSize,
    },
    mtu,
    mac,
    macDerived: raw.MacAddr === undefined,
    vppMac,
    gatewayMac,
    ipv4ArpResponseRanges: prefixes(raw.IPv4ArpResponseRanges),
    ipv4ArpLearningRanges: prefixes(raw.IPv4ArpLearningRanges ?? d.IPv4ArpLearningRanges),
    ipv6NdpNeighAdvRanges: prefixes(raw.IPv6NdpNeighAdvRanges),
    ipv6NdpLearningRanges: prefixes(raw.IPv6NdpLearningRanges ?? d.IPv6NdpLearningRanges),
    gratuitousArpAtStart: raw.GratuitousArpAtStart ?? d.GratuitousArpAtStart,
    unsolicitedNaAtStart: raw.UnsolicitedNaAtStart ?? d.UnsolicitedNaAtStart,
    announceAddressLimit: raw.AnnounceAddressLimit ?? d.AnnounceAddressLimit,
    neighbourLifetimeMs: (raw.NeighbourLifetime ?? d.NeighbourLifetime) * 1000,
  };
}

/** Range strings already checked by the schema; empty strings are skipped. */
function prefixes(list: readonly string[]): Prefix[] {
  return list.filter((s) => s !== '').map((s) => parsePrefix(s) as Prefix);
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The Ethernet side's settings in the shape L2AdapterOptions takes (the CLI adds the
 * clock and logger).
 */
export function ethernetSettings(config: VppConfig) {
  return {
    mac: config.mac,
    gatewayMac: config.gatewayMac,
    mtu: config.mtu,
    ipv4ResponseRanges: config.ipv4ArpResponseRanges,
    ipv4LearningRanges: config.ipv4ArpLearningRanges,
    ipv6ResponseRanges: config.ipv6NdpNeighAdvRanges,
    ipv6LearningRanges: config.ipv6NdpLearningRanges,
    neighbourLifetimeMs: config.neighbourLifetimeMs,
    gratuitousArp: config.gratuitousArpAtStart,
    unsolicitedNa: config.unsolicitedNaAtStart,
    announceLimit: config.announceAddressLimit,
  };
}

// ---- messages ----

/**
 * "<file>: <path>: got <value>, expected <what>". `found` replaces "got <value>" where the
 * value alone would not say what is wrong (true: "missing").
 */
function problem(file: string, where: string, value: unknown, expected: string, found: boolean | string): ConfigProblem {
  const parts = [file];
  if (where !== '') parts.push(where);
  let what = '';
  if (found === true) what = 'missing';
  else if (typeof found === 'string') what = found;
  else if (value !== undefined) what = `got ${showValue(value)}`;
  const message = `${parts.join(': ')}${what !== '' ? `: ${what}, ` : ': '}expected ${expected}`;
  return { path: where, value, expected, message };
}

function showValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? text.slice(0, 77) + '...' : text;
}

/** JSON pointer segments, with array indices as numbers (looked up in the data). */
function pointerSegments(pointer: string, data: unknown): (string | number)[] {
  if (pointer === '') return [];
  const out: (string | number)[] = [];
  let node = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(key));
      node = node[Number(key)];
    } else {
      out.push(key);
      node = (node as Record<string, unknown> | undefined)?.[key];
    }
  }
  return out;
}

/** "$.key[3]" style; the first key is shown as the file spells it. */
function jsonPath(segments: (string | number)[], spelled?: Map<string, string>): string {
  let s = '$';
  segments.forEach((seg, i) => {
    if (typeof seg === 'number') s += `[${seg}]`;
    else {
      const name = i === 0 ? spelled?.get(seg) ?? seg : seg;
      s += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
    }
  });
  return s;
}

/** "line L column C: <parser message>" for a JSON.parse error, when a position is known. */
function jsonErrorWhere(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (m === null) return err.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `line ${line} column ${column}: ${err.message.replace(/\s*\(line \d+ column \d+\)$/, '')}`;
}
