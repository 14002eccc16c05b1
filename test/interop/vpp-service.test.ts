// wireguard-ts-vpp end to end, with real programs in network namespaces.
//
//   ns lan                              ns wg                          ns remote
//   host 192.168.37.10, fd42::10        wireguard-ts-vpp (wv…)         wireguard-go (wr…)
//   on TAP tl…                          UDP 192.0.2.2:51821 --veth--   192.0.2.1:51820
//     |                                 memif master                   tunnel 10.99.0.1, fd99::1
//   dpdk-testpmd: net_tap <-io-> net_memif (slave) ---- memif socket ----'
//
// dpdk-testpmd forwarding between a TAP and its memif port stands in for a VPP bridge
// domain with one host in it. The config is the seed example (etc/wg0.json: uid 3, secret
// "pwd", gateway 42:42:42:42:42:42, answers for 192.168.37.128/30 and fd42::/64, learns in
// 192.168.37.0/24 and fd42::/64) plus "VppApi": false; the lan host routes the tunnel
// networks via 192.168.37.129 and fd42::1. The last tests start the seed config unchanged
// against the test-side VPP API server (test/helpers/vpp-api-server.ts), with the same
// testpmd as the data plane VPP would be.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, sleep, waitFor, type RunResult } from '../helpers/exec.js';
import { iperf3 } from '../helpers/iperf.js';
import { Harness, addAddress, type ManagedProcess, type Netns } from '../helpers/netns.js';
import { alive, pidsWith, quietEnv } from '../helpers/process.js';
import { Testpmd, testpmdAvailable } from '../helpers/testpmd.js';
import { FakeVpp, SHARED_VPP_API_DIR } from '../helpers/vpp-api-server.js';
import {
  WIREGUARD_TS_VPP_CLI,
  assertCliBasics,
  dump,
  genKeyPair,
  setInterface,
  startWireguard,
  uapiSocketPath,
  type KeyPair,
} from '../helpers/wireguard.js';

const SEED_FILE = new URL('../../../etc/wg0.json', import.meta.url);
/** What the seed config says, and what follows from it. */
const SEED = { uid: 3, secret: 'pwd', bridge: 4242, ourMac: '0a:42:00:00:00:03', gatewayMac: '42:42:42:42:42:42' } as const;

const ADDR = {
  lan4: '192.168.37.10',
  lan6: 'fd42::10',
  /** Ours, inside the response ranges: the lan host's next hop to the tunnel. */
  our4: '192.168.37.129',
  our6: 'fd42::1',
  /** Inside the learning ranges, not (yet) on the lan host. */
  learn4: '192.168.37.20',
  learn6: 'fd42::20',
  /** Outside every learning range: these leave towards GatewayMacAddr. */
  away4: '203.0.113.5',
  away6: 'fd43::5',
  remote4: '10.99.0.1',
  remote6: 'fd99::1',
  outerOurs: '192.0.2.2',
  outerRemote: '192.0.2.1',
} as const;
const PORT = { ours: 51821, remote: 51820 } as const;
const TUNNEL_NETS = ['10.99.0.0/24', 'fd99::/64'];
const LAN_NETS = ['192.168.37.0/24', 'fd42::/64', '203.0.113.0/24', 'fd43::/64'];
const MTU = 1420;

const h = new Harness();
const IFACE = h.ifname('wv');
const IF_REMOTE = h.ifname('wr');
const TAP = h.ifname('tl');
let nsLan: Netns;
let nsWg: Netns;
let nsRemote: Netns;
let keysOurs: KeyPair;
let keysRemote: KeyPair;
let dir: string;
let cfgDir: string;
let sockDir: string;
let seedText: string;
let service: ManagedProcess;
let pmd: Testpmd | null = null;

function memifSocket(iface = IFACE): string {
  return join(sockDir, `${iface}.sock`);
}

function serviceEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { VPP_MEMIF_CONFIG_DIR: cfgDir, VPP_MEMIF_SOCKET_DIR: sockDir, VPP_API_DIR: SHARED_VPP_API_DIR, ...extra };
}

/** The seed config with "VppApi": false (and an empty range string, which is ignored). */
function standaloneConfig(): string {
  const cfg = JSON.parse(seedText) as Record<string, unknown>;
  cfg.VppApi = false;
  cfg.IPv4ArpResponseRanges = [...(cfg.IPv4ArpResponseRanges as string[]), ''];
  return JSON.stringify(cfg, null, 2);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * testpmd in ns lan joining a new TAP to our memif (it is the memif slave), and the lan
 * host on that TAP. A killed testpmd takes its TAP with it, so this runs again after.
 */
async function startLan(): Promise<Testpmd> {
  const started = await Testpmd.start({
    role: 'client',
    socketPath: memifSocket(),
    id: SEED.uid,
    secret: SEED.secret,
    netns: nsLan.name,
    extraVdevs: [`net_tap0,iface=${TAP}`],
    forwardMode: 'io',
  });
  pmd = started;
  await waitFor(`TAP ${TAP} in ${nsLan.name}`, async () => (await nsLan.run('ip', ['link', 'show', TAP])).code === 0);
  await nsLan.ip('link', 'set', TAP, 'mtu', String(MTU), 'up');
  await addAddress(nsLan, TAP, `${ADDR.lan4}/24`);
  await addAddress(nsLan, TAP, `${ADDR.lan6}/64`);
  await nsLan.ip('route', 'add', TUNNEL_NETS[0], 'via', ADDR.our4);
  await nsLan.ip('route', 'add', TUNNEL_NETS[1], 'via', ADDR.our6);
  return started;
}

async function stopLan(): Promise<void> {
  await pmd?.kill();
  pmd = null;
}

/** Our end of the tunnel: key, port, wireguard-go as the one peer. */
async function configureOurs(): Promise<void> {
  await setInterface(h, nsWg, IFACE, keysOurs.privateKey, PORT.ours);
  await nsWg.runOk('wg', [
    'set', IFACE, 'peer', keysRemote.publicKey,
    'allowed-ips', TUNNEL_NETS.join(','),
    'endpoint', `${ADDR.outerRemote}:${PORT.remote}`,
  ]);
}

async function pingAllWays(): Promise<void> {
  await nsLan.pingReliably(ADDR.remote4);
  await nsLan.pingReliably(ADDR.remote6);
  await nsRemote.pingReliably(ADDR.lan4);
  await nsRemote.pingReliably(ADDR.lan6);
}

/** A capture on the lan TAP printing one line per frame, as it arrives. */
async function capture(label: string, args: readonly string[]): Promise<ManagedProcess> {
  const p = h.spawnIn(nsLan, label, 'tcpdump', ['-i', TAP, '-n', '-l', '--immediate-mode', ...args]);
  await waitFor(`${label} to listen`, () => /listening on/.test(p.output), { timeoutMs: 10_000 });
  return p;
}

before(
  async () => {
    assert.ok(testpmdAvailable(), 'dpdk-testpmd (Debian package dpdk) and stdbuf are required');
    dir = await mkdtemp(join(tmpdir(), 'wgts-vpp-'));
    h.removeLater(dir);
    cfgDir = join(dir, 'config');
    // Not created here: the service creates its memif socket directory.
    sockDir = join(dir, 'memif');
    seedText = await readFile(SEED_FILE, 'utf8');
    await mkdir(cfgDir);
    await writeFile(join(cfgDir, `${IFACE}.json`), standaloneConfig());
    h.onCleanup(stopLan);

    nsLan = await h.netns('lan');
    nsWg = await h.netns('wg');
    nsRemote = await h.netns('remote');
    await h.veth(nsWg, h.ifname('vw'), [`${ADDR.outerOurs}/24`], nsRemote, h.ifname('vr'), [`${ADDR.outerRemote}/24`]);
    [keysOurs, keysRemote] = await Promise.all([genKeyPair(), genKeyPair()]);

    await startWireguard(h, nsRemote, 'wireguard-go', IF_REMOTE);
    await setInterface(h, nsRemote, IF_REMOTE, keysRemote.privateKey, PORT.remote);
    await nsRemote.runOk('wg', ['set', IF_REMOTE, 'peer', keysOurs.publicKey, 'allowed-ips', LAN_NETS.join(',')]);
    await addAddress(nsRemote, IF_REMOTE, `${ADDR.remote4}/24`);
    await addAddress(nsRemote, IF_REMOTE, `${ADDR.remote6}/64`);
    await nsRemote.ip('link', 'set', IF_REMOTE, 'up');
    for (const net of LAN_NETS) await nsRemote.ip('route', 'add', net, 'dev', IF_REMOTE);

    service = await startWireguard(h, nsWg, 'wireguard-ts-vpp', IFACE, serviceEnv());
    assert.ok(await exists(memifSocket()), 'no memif socket once the UAPI socket answers');
    await configureOurs();
    await startLan();
  },
  { timeout: 60_000 },
);

after(() => h.cleanup(), { timeout: 60_000 });

test('ping between the lan host and wireguard-go, IPv4 and IPv6, both ways', { timeout: 60_000 }, () =>
  h.withLogs(async () => {
    await pingAllWays();
  }),
);

test("the lan host's neighbour table holds our MAC for our addresses (ARP and NDP)", { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    // Start from nothing, so what the table holds was learned just now.
    await nsLan.ip('neigh', 'flush', 'dev', TAP);
    await nsLan.pingReliably(ADDR.remote4);
    await nsLan.pingReliably(ADDR.remote6);
    const neigh = await nsLan.ip('neigh', 'show', 'dev', TAP);
    for (const addr of [ADDR.our4, ADDR.our6]) {
      assert.match(neigh, new RegExp(`^${escape(addr)} lladdr ${SEED.ourMac} `, 'm'), `ip neigh:\n${neigh}`);
    }
  }),
);

test('iperf3 TCP for 5 s, lan -> remote and remote -> lan, over IPv4 and IPv6', { timeout: 120_000 }, (t) =>
  h.withLogs(async () => {
    for (const addr of [ADDR.remote4, ADDR.remote6]) {
      for (const reverse of [false, true]) {
        const r = await iperf3(h, nsRemote, addr, nsLan, { reverse });
        t.diagnostic(`${reverse ? 'remote -> lan' : 'lan -> remote'} to ${addr}: ${(r.bitsPerSecond / 1e6).toFixed(1)} Mbit/s`);
      }
    }
  }),
);

test('a destination outside every learning range leaves towards GatewayMacAddr, without a probe', { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    const dumpProc = await capture('tcpdump gateway', ['-e', '-t', `host ${ADDR.away4} or host ${ADDR.away6} or arp or icmp6`]);
    for (const target of [ADDR.away4, ADDR.away6]) {
      // Nobody answers these; the frames are what matters.
      await nsRemote.run('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '1', target], { timeoutMs: 10_000 });
    }
    await waitFor('the frames on the lan TAP', () => frames(dumpProc, ADDR.away4).length >= 3 && frames(dumpProc, ADDR.away6).length >= 3, {
      timeoutMs: 5_000,
    }).catch((err: Error) => assert.fail(`${err.message}\n${dumpProc.output}`));
    await dumpProc.stop('SIGINT');
    const ethernet = (family: string) => new RegExp(`^${SEED.ourMac} > ${SEED.gatewayMac}, ethertype ${family} `);
    for (const line of frames(dumpProc, ADDR.away4)) assert.match(line, ethernet('IPv4'), line);
    for (const line of frames(dumpProc, ADDR.away6)) assert.match(line, ethernet('IPv6'), line);
    assert.doesNotMatch(dumpProc.output, new RegExp(`who-has ${escape(ADDR.away4)}|who has ${escape(ADDR.away6)}`));
  }),
);

/** The capture's lines about echo requests to `target`. */
function frames(p: ManagedProcess, target: string): string[] {
  return p.output.split('\n').filter((l) => l.includes(`> ${target}:`) && /echo request/.test(l));
}

test('a learning-range destination: one probe per 3 s while unresolved, delivered once the lan host answers', { timeout: 60_000 }, (t) =>
  h.withLogs(async () => {
    const probes = await capture('tcpdump probes', ['-tt', 'arp or (icmp6 and ip6[40] == 135)']);
    const pings = [ADDR.learn4, ADDR.learn6].map((target) =>
      h.spawnIn(nsRemote, `ping ${target}`, 'ping', ['-n', '-i', '0.2', '-w', '30', target]),
    );
    try {
      await sleep(7_000);
      const times = {
        v4: probeTimes(probes.output, new RegExp(`ARP, Request who-has ${escape(ADDR.learn4)} `)),
        v6: probeTimes(probes.output, new RegExp(`neighbor solicitation, who has ${escape(ADDR.learn6)},`)),
      };
      t.diagnostic(`probe times: ${JSON.stringify(times)}`);
      for (const [family, list] of Object.entries(times)) {
        assert.ok(list.length >= 2 && list.length <= 3, `${family}: ${list.length} probes in 7 s\n${probes.output}`);
        for (let i = 1; i < list.length; i++) {
          const gap = list[i] - list[i - 1];
          assert.ok(gap >= 2.9 && gap <= 3.6, `${family}: ${gap.toFixed(3)} s between probes\n${probes.output}`);
        }
      }
      for (const p of pings) assert.doesNotMatch(p.output, /bytes from/, 'a reply before the address exists');

      await addAddress(nsLan, TAP, `${ADDR.learn4}/24`);
      await addAddress(nsLan, TAP, `${ADDR.learn6}/64`);
      for (const p of pings) {
        await waitFor(`${p.label} to be answered`, () => /bytes from/.test(p.output), { timeoutMs: 8_000 });
      }
    } finally {
      for (const p of pings) await p.stop('SIGINT');
      await probes.stop('SIGINT');
      await nsLan.ip('addr', 'del', `${ADDR.learn4}/24`, 'dev', TAP).catch(() => '');
      await nsLan.ip('addr', 'del', `${ADDR.learn6}/64`, 'dev', TAP).catch(() => '');
    }
  }),
);

/** tcpdump -tt timestamps (seconds) of the lines matching `re`. */
function probeTimes(output: string, re: RegExp): number[] {
  return output
    .split('\n')
    .filter((l) => re.test(l))
    .map((l) => Number(l.split(' ')[0]));
}

test('wg show reports the interface, the peer, the handshake and the transfer', { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    await nsLan.pingReliably(ADDR.remote4);
    const d = await dump(nsWg, IFACE);
    assert.equal(d.publicKey, keysOurs.publicKey);
    assert.equal(d.listenPort, PORT.ours);
    const peer = d.peers.get(keysRemote.publicKey);
    assert.ok(peer, 'wireguard-go is not a peer');
    assert.equal(peer.endpoint, `${ADDR.outerRemote}:${PORT.remote}`);
    assert.deepEqual(peer.allowedIps, TUNNEL_NETS);
    assert.ok(peer.latestHandshake > Date.now() / 1000 - 180, `latest handshake ${peer.latestHandshake}`);
    assert.ok(peer.rxBytes > 0 && peer.txBytes > 0, `transfer ${peer.rxBytes}/${peer.txBytes}`);
    const text = await nsWg.runOk('wg', ['show', IFACE]);
    assert.match(text, new RegExp(`^interface: ${IFACE}$`, 'm'));
    assert.match(text, new RegExp(`listening port: ${PORT.ours}`));
  }),
);

test('killing testpmd and starting it again restores traffic', { timeout: 60_000 }, () =>
  h.withLogs(async () => {
    const mark = service.output.length;
    await stopLan();
    await waitFor('the service to see the memif go', () => service.output.includes('memif disconnected', mark), { timeoutMs: 5_000 });
    assert.equal(await nsLan.pingOnce(ADDR.remote4), false, 'ping without a TAP');
    await startLan();
    await waitFor('the memif to come back', () => service.output.includes('memif connected', mark), { timeoutMs: 10_000 });
    await pingAllWays();
    assert.ok(service.running);
  }),
);

test('SIGTERM stops it with exit status 0, removing the memif and UAPI sockets', { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    const status = await service.stop('SIGTERM', 5_000);
    assert.deepEqual(status, { code: 0, signal: null });
    assert.equal(await exists(memifSocket()), false, 'memif socket left behind');
    assert.equal(await exists(uapiSocketPath(IFACE)), false, 'UAPI socket left behind');
    await stopLan();
  }),
);

// ---- configuration mistakes ----

interface Mistake {
  what: string;
  /** Changes to the seed config (undefined removes the key), or the whole file text. */
  change: Record<string, unknown> | string;
  /** Each must appear in what the parent prints. */
  says: RegExp[];
}

const MISTAKES: Mistake[] = [
  { what: 'not JSON', change: '{ "uid": 3,', says: [/expected valid JSON \(line \d+ column \d+/] },
  { what: 'not an object', change: '[1, 2]', says: [/\$: got \[1,2\], expected a JSON object/] },
  { what: 'a missing key', change: { GatewayMacAddr: undefined }, says: [/\$\.GatewayMacAddr: missing, expected a MAC address/] },
  { what: 'an unknown key', change: { Bridge: 1 }, says: [/\$\.Bridge: unknown key with value 1, expected one of the known keys/] },
  { what: 'a wrong type', change: { uid: '3' }, says: [/\$\.uid: got "3", expected an integer/] },
  {
    what: 'a bad IPv4 CIDR',
    change: { IPv4ArpResponseRanges: ['', '192.168.37.0/33'] },
    says: [/\$\.IPv4ArpResponseRanges\[1\]: got "192\.168\.37\.0\/33", expected .*an IPv4 CIDR/],
  },
  {
    what: 'an IPv4 range among the IPv6 ones',
    change: { IPv6NdpLearningRanges: ['10.0.0.0/8'] },
    says: [/\$\.IPv6NdpLearningRanges\[0\]: got "10\.0\.0\.0\/8", expected .*an IPv6 CIDR/],
  },
  { what: 'a bad MAC', change: { GatewayMacAddr: '42:42:42:42:42' }, says: [/\$\.GatewayMacAddr: got "42:42:42:42:42", expected a MAC address/] },
  { what: 'a multicast MAC', change: { MacAddr: '01:00:5e:00:00:01' }, says: [/\$\.MacAddr: got "01:00:5e:00:00:01", expected a unicast MAC/] },
  { what: 'a ring size that is not a power of two', change: { MemifRingSize: 1000 }, says: [/\$\.MemifRingSize: got 1000, expected one of 8, 16/] },
  { what: 'an MTU larger than the buffers', change: { Mtu: 2100 }, says: [/\$\.Mtu: got 2100, expected at most 2034/] },
  { what: 'a secret too long for memif', change: { secret: 'x'.repeat(24) }, says: [/\$\.secret: got "x{24}", expected a string of at most 23/] },
  { what: 'no bridge domain with the API', change: { VppBridgeID: undefined }, says: [/\$\.VppBridgeID: missing, .*required unless "VppApi" is false/] },
  {
    what: 'a random secret without the API',
    change: { secret: 'random', VppApi: false },
    says: [/\$\.secret: got "random", expected a fixed secret.*no other memif peer could know it/],
  },
  { what: 'more queue pairs than our memif has', change: { MemifQueuePairs: 9 }, says: [/\$\.MemifQueuePairs: got 9, expected at most 8/] },
  {
    what: 'several mistakes at once',
    change: { uid: -1, GatewayMacAddr: 'gateway', IPv6NdpNeighAdvRanges: 'fd42::/64' },
    says: [/\$\.uid: got -1/, /\$\.GatewayMacAddr: got "gateway"/, /\$\.IPv6NdpNeighAdvRanges: got "fd42::\/64", expected a list/],
  },
];

function mistakeText(change: Mistake['change']): string {
  if (typeof change === 'string') return change;
  const cfg = JSON.parse(seedText) as Record<string, unknown>;
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) delete cfg[key];
    else cfg[key] = value;
  }
  return JSON.stringify(cfg);
}

test('a config with a mistake is refused with a message naming file, place, value and expectation; nothing starts', { timeout: 60_000 }, () =>
  h.withLogs(async () => {
    const badDir = join(dir, 'bad-config');
    await mkdir(badDir, { recursive: true });
    const env = quietEnv({ VPP_MEMIF_CONFIG_DIR: badDir, VPP_MEMIF_SOCKET_DIR: sockDir });
    const check = async (name: string, r: RunResult, says: RegExp[]): Promise<void> => {
      const file = join(badDir, `${name}.json`);
      assert.equal(r.code, 1, `${name}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      for (const re of says) assert.match(r.stderr, re, `${name}:\n${r.stderr}`);
      for (const line of r.stderr.trim().split('\n')) assert.ok(line.startsWith(`${file}: `), `${name}: ${line}`);
      assert.equal(await exists(uapiSocketPath(name)), false, `${name}: UAPI socket created`);
      assert.equal(await exists(memifSocket(name)), false, `${name}: memif socket created`);
    };
    for (const [i, m] of MISTAKES.entries()) {
      const name = h.ifname(`bad${i}`);
      await writeFile(join(badDir, `${name}.json`), mistakeText(m.change));
      await check(name, await run(process.execPath, [WIREGUARD_TS_VPP_CLI, name], { env }), m.says);
      assert.equal((await pidsWith(WIREGUARD_TS_VPP_CLI, name)).length, 0, `${m.what}: a daemon was started`);
    }
    // Every problem of a file is listed, one per line.
    const several = await run(process.execPath, [WIREGUARD_TS_VPP_CLI, h.ifname(`bad${MISTAKES.length - 1}`)], { env });
    assert.equal(several.stderr.trim().split('\n').length, 3, several.stderr);
    // In the foreground too, and for a file that is not there.
    const missing = h.ifname('none');
    await check(missing, await run(process.execPath, [WIREGUARD_TS_VPP_CLI, '-f', missing], { env }), [/: expected a readable file \(ENOENT/]);
  }),
);

test('wireguard-ts-vpp --version, --help and bad arguments', { timeout: 20_000 }, () => assertCliBasics(WIREGUARD_TS_VPP_CLI, 'wireguard-ts-vpp'));

// ---- with the test-side VPP API server ----

let vpp: FakeVpp;

function vppEnv(): NodeJS.ProcessEnv {
  return serviceEnv({ VPP_API_SOCKET_PATH: vpp.socketPath });
}

/** Our memif in the server, checked against the seed config. */
function vppInterface() {
  const itf = vpp.memif(SEED.uid, SEED.uid);
  assert.ok(itf, `no memif${SEED.uid}/${SEED.uid} in VPP`);
  assert.equal(itf.name, `memif${SEED.uid}/${SEED.uid}`);
  assert.equal(itf.adminUp, true);
  assert.equal(itf.bdId, SEED.bridge);
  assert.equal(itf.memif?.role, 'slave');
  assert.equal(itf.memif?.secret, SEED.secret);
  assert.equal(vpp.state.sockets.get(SEED.uid), memifSocket());
  return itf;
}

/** Nothing of ours left in the server: only VPP's own interface and default socket. */
async function assertVppEmpty(): Promise<void> {
  await waitFor('the service to leave VPP', () => vpp.connectionCount === 0, { timeoutMs: 5_000 });
  const s = vpp.state;
  assert.deepEqual([...s.interfaces.keys()], [0], 'interfaces left in VPP');
  assert.deepEqual([...s.sockets.keys()], [0], 'memif sockets left in VPP');
  assert.equal(s.bds.size, 0, 'bridge domains left in VPP');
  assert.equal(s.l2fib.size, 0, 'l2fib entries left in VPP');
}

test('the seed config, unchanged, against the VPP API server: ready means set up; traffic; removing the UAPI socket leaves VPP empty', { timeout: 90_000 }, () =>
  h.withLogs(async () => {
    vpp = await FakeVpp.start({ socketPath: join(dir, 'api.sock') });
    h.onCleanup(() => vpp.close());
    await writeFile(join(cfgDir, `${IFACE}.json`), seedText);
    const log = join(dir, 'daemon.log');

    // Without -f: the parent returns once everything is in place.
    const r = await nsWg.run(process.execPath, [WIREGUARD_TS_VPP_CLI, IFACE], { env: quietEnv({ ...vppEnv(), LOG_FILE: log }), timeoutMs: 20_000 });
    const daemons = await pidsWith(WIREGUARD_TS_VPP_CLI, IFACE);
    h.onCleanup(async () => {
      for (const pid of daemons) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    const daemonLog = async () => `${r.stdout}${r.stderr}\n--- daemon log ---\n${await readFile(log, 'utf8').catch(() => '')}`;
    assert.equal(r.code, 0, await daemonLog());
    assert.equal(daemons.length, 1, `daemons: ${daemons.join(',')}`);
    const itf = vppInterface();
    assert.ok(await exists(memifSocket()), 'no memif socket when the parent exited');
    assert.ok(await exists(uapiSocketPath(IFACE)), 'no UAPI socket when the parent exited');

    // testpmd is the data plane VPP would be; the server is told the link is up, as VPP
    // would see it, and the service adds its MAC to the bridge domain's l2fib.
    await startLan();
    vpp.setLinkUp(itf.swIfIndex, true);
    const l2fibKey = `${SEED.bridge}/${SEED.ourMac.replace(/:/g, '')}`;
    await waitFor('our l2fib entry', () => vpp.state.l2fib.get(l2fibKey)?.swIfIndex === itf.swIfIndex, { timeoutMs: 5_000 });
    await configureOurs();
    await pingAllWays();

    await unlink(uapiSocketPath(IFACE));
    await waitFor('the daemon to exit', () => !alive(daemons[0]), { timeoutMs: 8_000 }).catch(async (err: Error) =>
      assert.fail(`${err.message}\n${await daemonLog()}`),
    );
    await assertVppEmpty();
    assert.equal(await exists(memifSocket()), false, 'memif socket left behind');
    await stopLan();
  }),
);

test('a SIGKILLed run is cleaned up by the next; a VPP restart is waited out; deleting the interface in VPP stops it with status 0', { timeout: 90_000 }, () =>
  h.withLogs(async () => {
    const crashed = await startWireguard(h, nsWg, 'wireguard-ts-vpp', IFACE, vppEnv());
    const stale = vppInterface().swIfIndex;
    assert.equal((await crashed.stop('SIGKILL')).signal, 'SIGKILL');
    await waitFor('the server to see the client go', () => vpp.connectionCount === 0, { timeoutMs: 5_000 });
    assert.ok(vpp.memif(SEED.uid, SEED.uid), 'a SIGKILLed run cannot clean up');
    assert.ok(await exists(uapiSocketPath(IFACE)), 'the killed run left no UAPI socket to test with');

    const received = vpp.received.length;
    const next = await startWireguard(h, nsWg, 'wireguard-ts-vpp', IFACE, vppEnv());
    const deleted = vpp.received.slice(received).filter((m) => m.name === 'memif_delete').map((m) => m.msg['sw_if_index']);
    assert.deepEqual(deleted, [stale], 'the stale interface was not removed');
    const memifs = [...vpp.state.interfaces.values()].filter((i) => i.memif !== null);
    assert.equal(memifs.length, 1);
    vppInterface();

    // VPP restarts: all its state is gone; the service reconnects and sets it up again.
    const mark = next.output.length;
    await vpp.restart({ downMs: 1000 });
    await waitFor('the interface to be recreated', () => vpp.memif(SEED.uid, SEED.uid)?.bdId === SEED.bridge, { timeoutMs: 15_000 });
    assert.ok(next.running, 'the service exited when VPP went away');
    assert.match(next.output.slice(mark), /VPP is back/);

    vpp.operatorDeleteInterface(vppInterface().swIfIndex);
    assert.deepEqual(await next.waitExit(8_000), { code: 0, signal: null });
    await assertVppEmpty();
    assert.equal(await exists(uapiSocketPath(IFACE)), false, 'UAPI socket left behind');
    assert.equal(await exists(memifSocket()), false, 'memif socket left behind');
  }),
);

test('a daemon that cannot reach VPP makes the parent fail with the reason, leaving nothing behind', { timeout: 30_000 }, () =>
  h.withLogs(async () => {
    const env = quietEnv(serviceEnv({ VPP_API_SOCKET_PATH: join(dir, 'no-vpp.sock') }));
    const r = await nsWg.run(process.execPath, [WIREGUARD_TS_VPP_CLI, IFACE], { env, timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Failed to start ${IFACE}: VPP API socket .*no-vpp\\.sock does not exist`));
    await waitFor('no daemon', async () => (await pidsWith(WIREGUARD_TS_VPP_CLI, IFACE)).length === 0, { timeoutMs: 5_000 });
    assert.equal(await exists(uapiSocketPath(IFACE)), false, 'UAPI socket left behind');
    assert.equal(await exists(memifSocket()), false, 'memif socket left behind');
  }),
);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
