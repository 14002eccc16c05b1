#!/usr/bin/env node
// wireguard-ts-vpp: WireGuard with a VPP memif interface as its data plane, a drop-in
// for wireguard-go-vpp (same config file, same environment, same command line).
//
//   wireguard-ts-vpp [-f|--foreground] wg0
//
// reads $VPP_MEMIF_CONFIG_DIR/wg0.json, serves the memif socket
// $VPP_MEMIF_SOCKET_DIR/wg0.sock, has VPP create the other end of the memif and put it
// in the configured bridge domain (unless "VppApi": false), and opens the UAPI socket
// /var/run/wireguard/wg0.sock for wg(8); it goes to the background once all of that is
// ready. It exits, removing what it created in VPP and its sockets, on SIGINT/SIGTERM,
// when the UAPI socket is removed, or when its interface is deleted in VPP. When VPP
// restarts it waits for it and sets everything up again.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, ethernetSettings, loadVppConfigSync, RANDOM_SECRET, type ConfigProblem, type VppConfig } from '../config/vpp-config.js';
import { formatMac } from '../ethernet/frames.js';
import { L2Adapter } from '../ethernet/l2adapter.js';
import { Memif } from '../tun/memif.js';
import { resolveVppApiSocketPath, VppLifecycle } from '../vpp/index.js';
import type { Logger } from '../wireguard/log.js';
import { serveUapi, startDevice } from './device-service.js';
import type { Lifecycle } from './lifecycle.js';
import { COMMON_ENV_HELP, runProgramAndExit } from './program.js';

const PROGRAM = 'wireguard-ts-vpp';
const DEFAULT_MEMIF_SOCKET_DIR = '/var/run/wggo-vpp';
/** Variables naming files or directories: a daemon started in / needs them absolute. */
const PATH_VARIABLES = ['VPP_MEMIF_CONFIG_DIR', 'VPP_MEMIF_SOCKET_DIR', 'VPP_SOCKET_DIR', 'VPP_API_SOCKET_PATH', 'VPP_API_DIR', 'LOG_FILE'];
const ETHERNET_HEADER = 14;
/** Queue pairs our memif implementation offers (native/memif.cc); the schema allows VPP's 255. */
const MEMIF_MAX_QUEUE_PAIRS = 8;

const HELP = `
Reads $VPP_MEMIF_CONFIG_DIR/INTERFACE-NAME.json (the wireguard-go-vpp format), serves the
memif socket $VPP_MEMIF_SOCKET_DIR/INTERFACE-NAME.sock, creates the memif interface in
VPP's bridge domain VppBridgeID (unless "VppApi": false), and serves the WireGuard
userspace API on /var/run/wireguard/INTERFACE-NAME.sock; configure it with wg(8).
Goes to the background once ready unless -f/--foreground is given.

Stop it with SIGTERM, by removing the UAPI socket, or by deleting its interface in VPP.

Environment:
  VPP_MEMIF_CONFIG_DIR=DIR               config directory (default /etc/wggo-vpp)
  VPP_MEMIF_SOCKET_DIR=DIR               memif socket directory (default ${DEFAULT_MEMIF_SOCKET_DIR})
  VPP_SOCKET_DIR=DIR                     directory of VPP's api.sock (default /run/vpp)
  VPP_API_SOCKET_PATH=PATH               VPP's API socket itself (wins over VPP_SOCKET_DIR)
  VPP_API_DIR=DIR                        VPP's JSON API files (default /usr/share/vpp/api)
${COMMON_ENV_HELP}`;

/** $VPP_MEMIF_SOCKET_DIR/<iface>.sock, the directory defaulting to /var/run/wggo-vpp. */
function memifSocketPath(iface: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.VPP_MEMIF_SOCKET_DIR;
  return path.join(dir !== undefined && dir !== '' ? dir : DEFAULT_MEMIF_SOCKET_DIR, `${iface}.sock`);
}

/** A problem in the shape the config module reports them. */
function problem(config: VppConfig, key: string, value: unknown, expected: string): ConfigProblem {
  return { path: `$.${key}`, value, expected, message: `${config.file}: $.${key}: got ${JSON.stringify(value)}, expected ${expected}` };
}

/**
 * The configuration, with the checks that depend on what this program does with it. A
 * "random" secret is generated at each start and reaches the memif peer only through
 * VPP's API, so without the API no peer could ever connect.
 */
function loadConfig(iface: string): VppConfig {
  const config = loadVppConfigSync(iface);
  const problems: ConfigProblem[] = [];
  if (config.secretGenerated && !config.vppApi) {
    problems.push(
      problem(config, 'secret', RANDOM_SECRET, 'a fixed secret, or "" for none, with "VppApi": false (a "random" secret is told only to VPP, through its API; no other memif peer could know it)'),
    );
  }
  if (config.memif.queuePairs > MEMIF_MAX_QUEUE_PAIRS) {
    problems.push(problem(config, 'MemifQueuePairs', config.memif.queuePairs, `at most ${MEMIF_MAX_QUEUE_PAIRS} (the queue pairs this memif implementation offers)`));
  }
  if (problems.length > 0) throw new ConfigError(config.file, problems);
  return config;
}

function absolutePaths(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of PATH_VARIABLES) {
    const value = out[name];
    if (value !== undefined && value !== '') out[name] = path.resolve(value);
  }
  return out;
}

/**
 * Has VPP create its end of the memif, put it in the bridge domain and keep it there
 * across VPP restarts; deleting it in VPP shuts the service down.
 */
async function startVpp(config: VppConfig, socketPath: string, logger: Logger, life: Lifecycle): Promise<VppLifecycle> {
  const vpp = new VppLifecycle({
    socketPath: resolveVppApiSocketPath(),
    uid: config.uid,
    secret: config.secret,
    // The schema requires VppBridgeID whenever the API is used.
    bridgeId: config.vppBridgeId as number,
    ourMac: config.mac,
    vppMac: config.vppMac,
    memifSocketPath: socketPath,
    ourRole: config.memif.role,
    queues: config.memif.queuePairs,
    ringSizeLog2: config.memif.log2RingSize,
    bufferSize: config.memif.bufferSize,
    logger,
  });
  // Registered before start: a signal during start-up waits for it, then undoes it.
  life.defer('remove the interface from VPP', () => vpp.stop());
  vpp.on('interface-deleted', () => life.shutdown(`${vpp.interfaceName} was deleted in VPP`));
  vpp.on('vpp-reconnected', () => logger.verbose(`VPP is back; ${vpp.interfaceName} recreated`));
  await vpp.start();
  return vpp;
}

/**
 * The memif socket first (it refuses when another live process serves it, before VPP is
 * touched), then the Ethernet side and the WireGuard device on it, VPP, and the UAPI socket.
 */
async function startService(iface: string, config: VppConfig, logger: Logger, life: Lifecycle): Promise<void> {
  const socketPath = memifSocketPath(iface);
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  const memif = Memif.open({
    socketPath,
    role: config.memif.role,
    id: config.uid,
    secret: config.secret ?? undefined,
    queuePairs: config.memif.queuePairs,
    log2RingSize: config.memif.log2RingSize,
    bufferSize: config.memif.bufferSize,
    maxFrameSize: config.mtu + ETHERNET_HEADER,
    interfaceName: iface,
    appName: PROGRAM,
    logger,
  });
  life.defer('close memif', () => memif.close());
  const adapter = new L2Adapter(memif, { ...ethernetSettings(config), logger });
  memif.on('connected', (c) => {
    logger.verbose(`memif connected to ${c.remoteName || 'peer'} (${c.rxQueues} queue pair(s), ring 2^${c.log2RingSize})`);
    adapter.announce();
  });
  memif.on('disconnected', (reason) => logger.verbose(`memif disconnected: ${reason}`));
  memif.on('handshakeFailed', (reason) => logger.verbose(`memif connection refused: ${reason}`));

  const { device, bind } = await startDevice(adapter, logger, life);
  const vpp = config.vppApi ? await startVpp(config, socketPath, logger, life) : null;
  await serveUapi(iface, device, logger, life);
  logger.verbose(
    `Device started: memif ${socketPath} (${config.memif.role}, id ${config.uid}), MAC ${formatMac(config.mac)}, UDP port ${bind.port}` +
      (vpp !== null ? `, VPP ${vpp.interfaceName} in bridge domain ${config.vppBridgeId}` : ', no VPP API'),
  );
}

await runProgramAndExit({ name: PROGRAM, help: HELP, prepare: loadConfig, daemonEnv: absolutePaths, start: startService });
