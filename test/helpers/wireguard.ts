// WireGuard-specific test helpers: keys from wg(8), starting wireguard-go or wireguard-ts
// inside a namespace, and parsing `wg show <if> dump`.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { run, runOk, waitFor } from './exec.js';
import type { Harness, ManagedProcess, Netns } from './netns.js';
import { quietEnv } from './process.js';

export const UAPI_DIR = '/var/run/wireguard';

/** dist/src/cli/wireguard-ts.js, seen from dist/test/helpers/. */
export const WIREGUARD_TS_CLI = fileURLToPath(new URL('../../src/cli/wireguard-ts.js', import.meta.url));
/** dist/src/cli/wireguard-ts-vpp.js, seen from dist/test/helpers/. */
export const WIREGUARD_TS_VPP_CLI = fileURLToPath(new URL('../../src/cli/wireguard-ts-vpp.js', import.meta.url));

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export async function genKeyPair(): Promise<KeyPair> {
  const privateKey = (await runOk('wg', ['genkey'])).trim();
  const publicKey = (await runOk('wg', ['pubkey'], { input: `${privateKey}\n` })).trim();
  return { privateKey, publicKey };
}

export type Implementation = 'wireguard-go' | 'wireguard-ts' | 'wireguard-ts-vpp';

const TS_CLI: Record<Exclude<Implementation, 'wireguard-go'>, string> = {
  'wireguard-ts': WIREGUARD_TS_CLI,
  'wireguard-ts-vpp': WIREGUARD_TS_VPP_CLI,
};

export function uapiSocketPath(ifname: string): string {
  return `${UAPI_DIR}/${ifname}.sock`;
}

async function socketExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

/**
 * Starts `impl` in the foreground inside `ns` with interface `ifname` and waits until the
 * interface and its UAPI socket exist and `wg show` answers.
 */
export async function startWireguard(
  h: Harness,
  ns: Netns,
  impl: Implementation,
  ifname: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ManagedProcess> {
  const fullEnv = { LOG_LEVEL: 'debug', ...env };
  const proc =
    impl === 'wireguard-go'
      ? h.spawnIn(ns, `wireguard-go ${ifname}`, 'wireguard-go', ['-f', ifname], fullEnv)
      : h.spawnIn(ns, `${impl} ${ifname}`, process.execPath, [TS_CLI[impl], '-f', ifname], fullEnv);
  h.removeLater(uapiSocketPath(ifname));
  await waitFor(
    `${impl} ${ifname} to come up`,
    async () => {
      if (!proc.running) throw new Error(`exited early\n${proc.describe()}`);
      if (!(await socketExists(uapiSocketPath(ifname)))) return false;
      await ns.runOk('wg', ['show', ifname]);
      return true;
    },
    { timeoutMs: 15_000 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${proc.describe()}`);
  });
  return proc;
}

/**
 * `wg set <if> private-key <file> [listen-port N]`. wg(8) reads keys only from files (and
 * cannot fopen node's socket-pair stdin), so the key goes through a private temp file.
 */
export async function setInterface(
  h: Harness,
  ns: Netns,
  ifname: string,
  privateKey: string,
  listenPort?: number,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wgts-key-'));
  h.removeLater(dir);
  const file = join(dir, 'private.key');
  await writeFile(file, `${privateKey}\n`, { mode: 0o600 });
  const args = ['set', ifname, 'private-key', file];
  if (listenPort !== undefined) args.push('listen-port', String(listenPort));
  await ns.runOk('wg', args);
  await rm(dir, { recursive: true, force: true });
}

export interface PeerDump {
  publicKey: string;
  presharedKey: string;
  endpoint: string;
  allowedIps: string[];
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: string;
}

export interface Dump {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  fwmark: string;
  peers: Map<string, PeerDump>;
}

/** Parses `wg show <if> dump` (tab-separated; first line the interface, then one per peer). */
export function parseDump(text: string): Dump {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error('empty wg dump');
  const [privateKey, publicKey, listenPort, fwmark] = lines[0].split('\t');
  const peers = new Map<string, PeerDump>();
  for (const line of lines.slice(1)) {
    const f = line.split('\t');
    if (f.length < 8) throw new Error(`bad wg dump peer line: ${line}`);
    peers.set(f[0], {
      publicKey: f[0],
      presharedKey: f[1],
      endpoint: f[2],
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7],
    });
  }
  return { privateKey, publicKey, listenPort: Number(listenPort), fwmark, peers };
}

export async function dump(ns: Netns, ifname: string): Promise<Dump> {
  return parseDump(await ns.runOk('wg', ['show', ifname, 'dump']));
}

export async function peerDump(ns: Netns, ifname: string, publicKey: string): Promise<PeerDump> {
  const p = (await dump(ns, ifname)).peers.get(publicKey);
  if (!p) throw new Error(`peer ${publicKey} not on ${ifname}`);
  return p;
}

/** `--version` and `--help` answer with exit status 0; bad arguments are refused with the usage. */
export async function assertCliBasics(cli: string, program: string): Promise<void> {
  const version = await run(process.execPath, [cli, '--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, new RegExp(`^${program} v\\d+\\.\\d+\\.\\d+`));
  const help = await run(process.execPath, [cli, '--help']);
  assert.equal(help.code, 0);
  assert.ok(help.stdout.startsWith(`Usage: ${program} [-f/--foreground] INTERFACE-NAME`), help.stdout);
  for (const bad of [[], ['-x', 'wg0'], ['a', 'b'], ['this-name-is-too-long'], ['bad/name']]) {
    const r = await run(process.execPath, [cli, ...bad], { env: quietEnv() });
    assert.notEqual(r.code, 0, `accepted ${JSON.stringify(bad)}`);
    assert.match(r.stderr, /Usage|invalid|interface name/i, `args ${JSON.stringify(bad)}: ${r.stderr}`);
  }
}
