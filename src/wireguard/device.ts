// The device: our identity, the peers, the allowed-IPs table and receiver indices, and the
// glue between the packet device, the bind and the protocol. Configuration changes arrive
// as whole DeviceConfigChange values (from uapi.ts) and are applied all or nothing.
import { isZero, zero } from '../crypto/util.js';
import { AllowedIps } from './allowedips.js';
import type { Bind } from './bind.js';
import { systemClock, type Clock } from './clock.js';
import { CookieChecker } from './cookie.js';
import type { DeviceConfigChange, DeviceState, PeerConfigChange, PeerState } from './config.js';
import type { Endpoint } from './endpoint.js';
import { DEFAULT_UNDER_LOAD_DEPTH } from './handshakequeue.js';
import { IndexTable } from './indextable.js';
import { Keypair } from './keypair.js';
import { silentLogger, type Logger } from './log.js';
import { HANDSHAKE_INITIATION_RATE, REJECT_AFTER_TIME } from './messages.js';
import {
  commitInitiation,
  consumeInitiation,
  consumeResponse,
  createResponse,
  deriveTransportKeys,
  initiationReplayReason,
  makeIdentity,
  type StaticIdentity,
} from './noise.js';
import type { PacketDevice } from './packetdevice.js';
import { Peer } from './peer.js';
import { RateLimiter } from './ratelimiter.js';
import { Receiver } from './receive.js';
import { Sender } from './send.js';
import type { TimerActions } from './timers.js';
import { sharedSecret } from '../crypto/x25519.js';

export interface DeviceOptions {
  tun: PacketDevice;
  bind: Bind;
  clock?: Clock;
  logger?: Logger;
  /** Handshake queue depth from which the device is under load (default 128). */
  underLoadDepth?: number;
}

/** Counters of everything the device drops or does, for logs, tests and operators. */
export function newCounters() {
  return {
    txPackets: 0,
    txNoRoute: 0,
    txNoEndpoint: 0,
    txStagedDropped: 0,
    txCookieReplies: 0,
    rxPackets: 0,
    rxKeepalives: 0,
    rxInvalid: 0,
    rxUnknownIndex: 0,
    rxExpired: 0,
    rxReplay: 0,
    rxDecryptFailed: 0,
    rxNotAllowed: 0,
    rxBadMac1: 0,
    rxBadCookie: 0,
    rxRateLimited: 0,
    rxHandshakeQueueFull: 0,
    rxHandshakeFailed: 0,
    /** Exceptions caught at the data-path boundary (a bug, never expected). */
    internalErrors: 0,
  };
}
export type DeviceCounters = ReturnType<typeof newCounters>;
export type DropCounter = keyof DeviceCounters;

export class Device {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly tun: PacketDevice;
  readonly bind: Bind;
  readonly counters: DeviceCounters = newCounters();
  readonly indices = new IndexTable();
  readonly cookieChecker = new CookieChecker();
  readonly rateLimiter = new RateLimiter();
  readonly allowedIps = new AllowedIps<Peer>();
  readonly underLoadDepth: number;
  readonly sender: Sender;
  readonly receiver: Receiver;
  identity: StaticIdentity | null = null;
  private readonly peers = new Map<string, Peer>();
  private listenPort = 0;
  private fwmark = 0;
  private closed = false;

  constructor(opts: DeviceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.tun = opts.tun;
    this.bind = opts.bind;
    this.underLoadDepth = opts.underLoadDepth ?? DEFAULT_UNDER_LOAD_DEPTH;
    this.sender = new Sender(this);
    this.receiver = new Receiver(this);
    this.tun.onPackets((batch) => this.guard('send', () => this.sender.sendPackets(batch)));
    this.bind.onReceive((batch, sources) => this.guard('receive', () => this.receiver.receive(batch, sources)));
  }

  get mtu(): number {
    return this.tun.mtu;
  }

  /** Opens the bind on the configured port (0: any). */
  async up(): Promise<void> {
    this.listenPort = await this.bind.open(this.listenPort);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of [...this.peers.values()]) this.removePeer(peer);
    this.receiver.handshakes.clear();
    if (this.identity !== null) zero(this.identity.privateKey);
    await this.bind.close();
    await this.tun.close();
  }

  // ---- configuration -----------------------------------------------------------------

  state(): DeviceState {
    return {
      privateKey: this.identity === null ? null : Uint8Array.from(this.identity.privateKey),
      listenPort: this.listenPort,
      fwmark: this.fwmark,
      peers: [...this.peers.values()].map((p) => this.peerState(p)),
    };
  }

  private peerState(p: Peer): PeerState {
    const ms = p.lastHandshakeWallMs;
    return {
      publicKey: Uint8Array.from(p.publicKey),
      presharedKey: Uint8Array.from(p.handshake.presharedKey),
      endpoint: p.endpoint,
      lastHandshakeTimeSec: Math.floor(ms / 1000),
      lastHandshakeTimeNsec: Math.round((ms % 1000) * 1e6),
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      persistentKeepaliveInterval: p.persistentKeepaliveInterval,
      allowedIps: this.allowedIps.entriesFor(p),
      protocolVersion: 1,
    };
  }

  /**
   * Applies a parsed `set` operation. The only step that can fail (binding a new port)
   * runs first; everything after it is synchronous, so a change lands whole or not at all.
   */
  async applyConfig(change: DeviceConfigChange): Promise<void> {
    if (this.closed) throw Object.assign(new Error('device is closed'), { errno: 5 });
    if (change.listenPort !== undefined && change.listenPort !== this.listenPort) {
      this.listenPort = await this.bind.open(change.listenPort);
    }
    if (change.fwmark !== undefined && change.fwmark !== this.fwmark) {
      this.fwmark = change.fwmark;
      this.bind.setMark(change.fwmark);
    }
    if (change.privateKey !== undefined) this.setPrivateKey(change.privateKey);
    if (change.replacePeers) for (const peer of [...this.peers.values()]) this.removePeer(peer);
    for (const pc of change.peers) this.applyPeerChange(pc);
  }

  private setPrivateKey(key: Uint8Array): void {
    const remove = isZero(key);
    if (!remove && this.identity !== null && Buffer.compare(this.identity.privateKey, key) === 0) return;
    if (this.identity !== null) zero(this.identity.privateKey);
    this.identity = remove ? null : makeIdentity(key);
    this.cookieChecker.setPublicKey(this.identity?.publicKey ?? null);
    for (const peer of [...this.peers.values()]) {
      // A peer with our own public key would be ourselves: drop it, as the kernel does.
      if (this.identity !== null && Buffer.compare(peer.publicKey, this.identity.publicKey) === 0) {
        this.removePeer(peer);
        continue;
      }
      this.precompute(peer);
      this.expireSessions(peer);
    }
  }

  private precompute(peer: Peer): void {
    const hs = peer.handshake;
    hs.precomputedStaticStatic = this.identity === null ? new Uint8Array(32) : sharedSecret(this.identity.privateKey, peer.publicKey);
  }

  private applyPeerChange(pc: PeerConfigChange): void {
    const hex = Buffer.from(pc.publicKey).toString('hex');
    let peer = this.peers.get(hex);
    if (pc.remove) {
      if (peer !== undefined) this.removePeer(peer);
      return;
    }
    if (peer === undefined) {
      if (pc.updateOnly) return;
      if (this.identity !== null && Buffer.compare(this.identity.publicKey, pc.publicKey) === 0) return;
      peer = this.addPeer(pc.publicKey, hex);
    }
    if (pc.presharedKey !== undefined) peer.handshake.presharedKey = Uint8Array.from(pc.presharedKey);
    if (pc.endpoint !== undefined) peer.endpoint = pc.endpoint;
    if (pc.replaceAllowedIps) this.allowedIps.removeValue(peer);
    for (const prefix of pc.allowedIps) this.allowedIps.insert(prefix, peer);
    if (pc.persistentKeepaliveInterval !== undefined) {
      const wasOff = peer.persistentKeepaliveInterval === 0;
      peer.persistentKeepaliveInterval = pc.persistentKeepaliveInterval;
      // Turning it on sends one at once, so a peer behind NAT is reachable right away.
      if (wasOff && pc.persistentKeepaliveInterval > 0) this.keepaliveOrHandshake(peer);
    }
  }

  private keepaliveOrHandshake(peer: Peer): void {
    const kp = peer.keypairs.current;
    if (kp !== null && kp.canSend(this.clock.now())) this.sender.sendKeepalive(peer);
    else this.sender.sendInitiation(peer, false);
  }

  private addPeer(publicKey: Uint8Array, hex: string): Peer {
    const peer = new Peer(Uint8Array.from(publicKey), hex, this.clock, (p) => this.timerActions(p));
    this.precompute(peer);
    this.peers.set(hex, peer);
    this.logger.verbose(`peer ${this.peerName(peer)}: created`);
    return peer;
  }

  private removePeer(peer: Peer): void {
    peer.removed = true;
    peer.timers.stop();
    this.expireSessions(peer);
    this.allowedIps.removeValue(peer);
    peer.staged.length = 0;
    this.peers.delete(peer.publicKeyHex);
    this.logger.verbose(`peer ${this.peerName(peer)}: removed`);
  }

  /** Forgets handshake and sessions; a new handshake is needed before data flows again. */
  private expireSessions(peer: Peer): void {
    this.forgetHandshakeIndex(peer);
    peer.handshake.clear();
    for (const kp of peer.keypairs.clear()) this.retireKeypair(kp);
  }

  private timerActions(peer: Peer): TimerActions {
    return {
      sendInitiation: (retry) => this.sender.sendInitiation(peer, retry),
      sendKeepalive: () => this.sender.sendKeepalive(peer),
      giveUpHandshake: () => {
        this.logger.verbose(`peer ${this.peerName(peer)}: handshake did not complete after ${peer.timers.handshakeAttempts + 1} attempts, giving up`);
        this.counters.txStagedDropped += peer.staged.length;
        peer.staged.length = 0;
      },
      zeroKeyMaterial: () => {
        this.logger.verbose(`peer ${this.peerName(peer)}: zeroing keys after ${(3 * REJECT_AFTER_TIME) / 1000} s without a new handshake`);
        this.expireSessions(peer);
      },
      persistentKeepaliveInterval: () => peer.persistentKeepaliveInterval,
    };
  }

  // ---- used by send.ts and receive.ts ------------------------------------------------

  /** Short printable peer name for logs: a prefix of the public key in base64. */
  peerName(peer: Peer): string {
    const b64 = Buffer.from(peer.publicKey).toString('base64');
    return `(${b64.slice(0, 4)}…${b64.slice(-5, -1)})`;
  }

  drop(counter: DropCounter, why: string): void {
    this.counters[counter]++;
    this.logger.debug(`dropped: ${why}`);
  }

  /** The peer an outbound IP packet is for, by longest-prefix match on its destination. */
  routeOutbound(slab: Buffer, off: number, len: number): Peer | undefined {
    const version = len > 0 ? slab[off] >> 4 : 0;
    if (version === 4 && len >= 20) return this.allowedIps.lookup(slab, off, 4, 'dst');
    if (version === 6 && len >= 40) return this.allowedIps.lookup(slab, off, 6, 'dst');
    return undefined;
  }

  /**
   * Validates a decrypted packet: a whole IPv4/IPv6 header whose source lies in the peer's
   * allowed IPs. Returns the IP length (padding stripped), or 0 when dropped.
   */
  inboundPacketLength(slab: Buffer, off: number, plainLen: number, peer: Peer): number {
    const version = slab[off] >> 4;
    let ipLen = 0;
    if (version === 4 && plainLen >= 20) ipLen = slab.readUInt16BE(off + 2);
    else if (version === 6 && plainLen >= 40) ipLen = 40 + slab.readUInt16BE(off + 4);
    if (ipLen < (version === 4 ? 20 : 40) || ipLen > plainLen) {
      this.drop('rxInvalid', `decrypted packet from ${this.peerName(peer)} is not a whole IP packet`);
      return 0;
    }
    if (this.allowedIps.lookup(slab, off, version as 4 | 6, 'src') !== peer) {
      this.drop('rxNotAllowed', `packet from ${this.peerName(peer)} with a source outside its allowed IPs`);
      return 0;
    }
    return ipLen;
  }

  forgetHandshakeIndex(peer: Peer): void {
    const hs = peer.handshake;
    if (hs.localIndex !== 0) {
      const e = this.indices.get(hs.localIndex);
      if (e !== undefined && e.keypair === null) this.indices.delete(hs.localIndex);
      hs.localIndex = 0;
    }
  }

  retireKeypair(kp: Keypair | null): void {
    if (kp === null) return;
    this.indices.delete(kp.localIndex);
    kp.destroy();
  }

  /** A handshake initiation that passed the mac checks. */
  handleInitiation(msg: Buffer, source: Endpoint, now: number): void {
    const identity = this.identity;
    if (identity === null) return;
    const found = consumeInitiation(identity, msg, (pub) => this.peers.get(Buffer.from(pub).toString('hex'))?.handshake);
    if (found === null) {
      this.drop('rxHandshakeFailed', `invalid handshake initiation from ${source.address}:${source.port}`);
      return;
    }
    const peer = this.peers.get(Buffer.from(found.consumed.remoteStatic).toString('hex'));
    if (peer === undefined) return;
    const reason = initiationReplayReason(peer.handshake, found.consumed, now, HANDSHAKE_INITIATION_RATE);
    if (reason !== null) {
      this.drop('rxHandshakeFailed', `initiation from ${this.peerName(peer)} refused: ${reason}`);
      return;
    }
    this.forgetHandshakeIndex(peer);
    commitInitiation(peer.handshake, found.consumed, now);
    peer.rxBytes += msg.length;
    peer.endpoint = source;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal();
    this.logger.debug(`peer ${this.peerName(peer)}: received handshake initiation`);

    const index = this.indices.allocate(peer);
    const response = createResponse(peer.handshake, index);
    if (response === null) {
      this.indices.delete(index);
      peer.handshake.clear();
      this.drop('rxHandshakeFailed', `cannot answer ${this.peerName(peer)}: invalid ephemeral key`);
      return;
    }
    peer.cookieGenerator.addMacs(response, now);
    this.beginSession(peer, now);
    peer.timers.anyAuthenticatedPacketSent();
    this.sender.sendHandshakeMessage(peer, response);
    this.logger.debug(`peer ${this.peerName(peer)}: sent handshake response`);
  }

  /** A handshake response that passed the mac checks. */
  handleResponse(msg: Buffer, source: Endpoint, now: number): void {
    const identity = this.identity;
    if (identity === null) return;
    const entry = this.indices.get(msg.readUInt32LE(8));
    if (entry === undefined || entry.keypair !== null) {
      this.drop('rxUnknownIndex', 'handshake response for unknown index');
      return;
    }
    const peer = entry.peer;
    if (!consumeResponse(identity, peer.handshake, msg)) {
      this.drop('rxHandshakeFailed', `invalid handshake response from ${this.peerName(peer)}`);
      return;
    }
    peer.rxBytes += msg.length;
    peer.endpoint = source;
    this.logger.debug(`peer ${this.peerName(peer)}: received handshake response`);
    this.beginSession(peer, now);
    peer.timers.handshakeComplete();
    peer.lastHandshakeWallMs = this.clock.wallNow();
    peer.sentLastMinuteHandshake = false;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal();
    this.sender.sendStagedOrKeepalive(peer);
  }

  /** Derives the session of a finished handshake and installs it. */
  private beginSession(peer: Peer, now: number): void {
    const hs = peer.handshake;
    const localIndex = hs.localIndex;
    const remoteIndex = hs.remoteIndex;
    const keys = deriveTransportKeys(hs);
    if (keys === null) return;
    const kp = new Keypair(keys.send, keys.receive, keys.initiator, now, localIndex, remoteIndex);
    zero(keys.send);
    zero(keys.receive);
    this.indices.bindKeypair(localIndex, kp);
    for (const old of peer.keypairs.install(kp)) this.retireKeypair(old);
    peer.timers.sessionDerived();
  }

  /** Network input must never take the process down: log and count instead. */
  private guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.internalErrors++;
      this.logger.error(`${where} path: ${(err as Error).message}`);
    }
  }
}
