// The send path: IP packets from the packet device become transport messages, sealed a
// whole batch at a time; plus the handshake initiation and keepalives a peer's timers ask for.
import { sealBatch } from '../crypto/aead.js';
import { PacketBatch } from './batch.js';
import type { Endpoint } from './endpoint.js';
import type { Device } from './device.js';
import type { Keypair } from './keypair.js';
import {
  MESSAGE_TRANSPORT,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
  TAG_LEN,
  TRANSPORT_HEADER_SIZE,
  writeCounter,
  writeHeader,
  writeU32LE,
} from './messages.js';
import { createInitiation } from './noise.js';
import type { Peer } from './peer.js';
import { AeadScratch } from './aeadscratch.js';
import { SEND_MARK, TouchedPeers } from './touched.js';

export class Sender {
  private readonly scratch = new AeadScratch();
  /** Per-packet peer of the batch being sealed (reused). */
  private peerOf: Peer[] = [];
  private destinations: Endpoint[] = [];
  private readonly touched = new TouchedPeers(SEND_MARK);
  /** For staged packets and keepalives. */
  private readonly controlBatch: PacketBatch;
  /** For handshake messages (sent as they are, not sealed). */
  private readonly handshakeBatch = new PacketBatch(1, 256);

  constructor(private readonly dev: Device) {
    this.controlBatch = new PacketBatch(129, dev.mtu);
  }

  /** Packets read from the packet device: route by destination, seal, send. */
  sendPackets(batch: PacketBatch): void {
    const dev = this.dev;
    this.ensureCapacity(batch.capacity);
    const now = dev.clock.now();
    let out = 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      const peer = dev.routeOutbound(batch.slab, off, len);
      if (peer === undefined) {
        dev.counters.txNoRoute++;
        continue;
      }
      if (!this.canSendNow(peer, now)) {
        if (peer.stage(batch.slab.subarray(off, off + len))) dev.counters.txStagedDropped++;
        this.sendInitiation(peer, false);
        continue;
      }
      batch.offsets[out] = off;
      batch.lengths[out] = len;
      this.peerOf[out] = peer;
      out++;
    }
    batch.count = out;
    if (out > 0) this.sealAndSend(batch, now);
  }

  /** Sends whatever is staged for `peer`, or a keepalive when nothing is (confirms a new session). */
  sendStagedOrKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) {
      this.sendKeepalive(peer);
      return;
    }
    this.sendStaged(peer);
  }

  sendStaged(peer: Peer): void {
    const now = this.dev.clock.now();
    if (peer.staged.length === 0) return;
    if (!this.canSendNow(peer, now)) {
      this.sendInitiation(peer, false);
      return;
    }
    const batch = this.controlBatch;
    batch.reset();
    this.ensureCapacity(batch.capacity);
    for (const packet of peer.staged.splice(0)) {
      this.peerOf[batch.count] = peer;
      batch.push(packet);
    }
    this.sealAndSend(batch, now);
  }

  sendKeepalive(peer: Peer): void {
    const now = this.dev.clock.now();
    if (!this.canSendNow(peer, now)) return;
    const batch = this.controlBatch;
    batch.reset();
    this.ensureCapacity(batch.capacity);
    batch.push(new Uint8Array(0));
    this.peerOf[0] = peer;
    this.sealAndSend(batch, now);
  }

  /**
   * Starts (or, with retry, continues) a handshake with `peer`. At most one initiation per
   * REKEY_TIMEOUT leaves, whoever asks.
   */
  sendInitiation(peer: Peer, retry: boolean): void {
    const dev = this.dev;
    if (!retry) peer.timers.handshakeAttempts = 0;
    const identity = dev.identity;
    if (identity === null || peer.removed) return;
    const now = dev.clock.now();
    if (now - peer.lastSentHandshake < REKEY_TIMEOUT) return;
    peer.lastSentHandshake = now;

    dev.forgetHandshakeIndex(peer);
    const index = dev.indices.allocate(peer);
    const msg = createInitiation(identity, peer.handshake, index, dev.clock.wallNow());
    if (msg === null) {
      dev.indices.delete(index);
      dev.logger.error(`peer ${dev.peerName(peer)}: cannot create initiation (invalid static key)`);
      return;
    }
    peer.cookieGenerator.addMacs(msg, now);
    dev.logger.debug(`peer ${dev.peerName(peer)}: sending handshake initiation`);
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    this.sendHandshakeMessage(peer, msg);
    peer.timers.handshakeInitiated();
  }

  /** A handshake message (initiation, response) or cookie reply goes out as it is. */
  sendHandshakeMessage(peer: Peer | null, msg: Uint8Array, to: Endpoint | null = peer?.endpoint ?? null): void {
    if (to === null) {
      this.dev.counters.txNoEndpoint++;
      return;
    }
    const batch = this.handshakeBatch;
    batch.reset();
    batch.push(msg);
    this.dev.bind.send(batch, [to]);
    if (peer !== null) peer.txBytes += msg.length;
  }

  private canSendNow(peer: Peer, now: number): boolean {
    const kp = peer.keypairs.current;
    return kp !== null && kp.canSend(now) && peer.endpoint !== null && this.dev.identity !== null;
  }

  private ensureCapacity(n: number): void {
    if (this.peerOf.length >= n) return;
    this.peerOf = new Array<Peer>(n);
    this.destinations = new Array<Endpoint>(n);
  }

  /**
   * Packets 0..count-1 of `batch` are plaintext for this.peerOf[i], each with a current
   * session and an endpoint: pad, write the transport header into the headroom, seal all in
   * one native call, send.
   */
  private sealAndSend(batch: PacketBatch, now: number): void {
    const dev = this.dev;
    const mtu = dev.mtu;
    const scratch = this.scratch;
    scratch.begin(batch.count);
    this.touched.begin();
    for (let i = 0; i < batch.count; i++) {
      const peer = this.peerOf[i];
      const kp = peer.keypairs.current as Keypair;
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      const padded = paddedLength(len, mtu);
      batch.slab.fill(0, off + len, off + padded);
      const counter = kp.sendCounter++;
      const hdr = off - TRANSPORT_HEADER_SIZE;
      writeHeader(batch.slab, hdr, MESSAGE_TRANSPORT);
      writeU32LE(batch.slab, hdr + 4, kp.remoteIndex);
      writeCounter(batch.slab, hdr + 8, counter);
      batch.lengths[i] = padded;
      scratch.add(i, kp, counter);
      this.touched.add(peer, len > 0);
    }
    sealBatch(batch.slab, batch.count, batch.offsets, batch.lengths, scratch.keys, scratch.keyIndex, scratch.counters);
    for (let i = 0; i < batch.count; i++) {
      const peer = this.peerOf[i];
      batch.offsets[i] -= TRANSPORT_HEADER_SIZE;
      batch.lengths[i] += TRANSPORT_HEADER_SIZE + TAG_LEN;
      peer.txBytes += batch.lengths[i];
      this.destinations[i] = peer.endpoint as Endpoint;
    }
    dev.bind.send(batch, this.destinations);
    dev.counters.txPackets += batch.count;
    const touched = this.touched;
    for (let t = 0; t < touched.peers.length; t++) this.afterSend(touched.peers[t], touched.data[t], now);
  }

  /** Timer events and session freshness, once per peer per batch. */
  private afterSend(peer: Peer, data: boolean, now: number): void {
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
    if (data) peer.timers.dataSent();
    const kp = peer.keypairs.current;
    if (kp !== null && (kp.sendCounter > REKEY_AFTER_MESSAGES || (kp.initiator && now - kp.createdAt > REKEY_AFTER_TIME))) {
      this.sendInitiation(peer, false);
    }
  }
}

/** Plaintext is padded to a multiple of 16, but never beyond the MTU (paper, 5.4.6). */
export function paddedLength(len: number, mtu: number): number {
  const padded = (len + 15) & ~15;
  return padded > mtu ? Math.max(len, mtu) : padded;
}
