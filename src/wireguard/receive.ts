// The receive path: datagrams from the bind. Transport messages are checked against
// their session and replay window, opened a whole batch at a time, checked against the
// peer's allowed IPs and written to the packet device. Handshake messages and cookie
// replies go to a bounded queue that is worked off between batches.
import { openBatch } from '../crypto/aead.js';
import type { PacketBatch } from './batch.js';
import { endpointEquals, formatEndpoint, type Endpoint } from './endpoint.js';
import type { Device } from './device.js';
import type { Keypair } from './keypair.js';
import {
  COOKIE_RECEIVER,
  COOKIE_REPLY_SIZE,
  INIT_SENDER,
  INITIATION_SIZE,
  KEEPALIVE_TIMEOUT,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  REJECT_AFTER_TIME,
  REKEY_TIMEOUT,
  RESP_SENDER,
  RESPONSE_SIZE,
  TRANSPORT_COUNTER,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_MIN_SIZE,
  TRANSPORT_RECEIVER,
  messageType,
  readCounter,
  readU32LE,
} from './messages.js';
import type { Peer } from './peer.js';
import { AeadScratch } from './aeadscratch.js';
import { HandshakeQueue, type QueuedHandshake } from './handshakequeue.js';
import { rateLimitKey } from './ratelimiter.js';
import { RECEIVE_MARK, TouchedPeers } from './touched.js';

export class Receiver {
  private readonly scratch = new AeadScratch();
  private keypairOf: Keypair[] = [];
  private sourceOf: Endpoint[] = [];
  private counterOf = new Float64Array(0);
  private datagramLength = new Uint32Array(0);
  private ok = new Uint8Array(0);
  private readonly touched = new TouchedPeers(RECEIVE_MARK);
  readonly handshakes: HandshakeQueue;

  constructor(private readonly dev: Device) {
    this.handshakes = new HandshakeQueue(dev, (h) => this.processHandshake(h));
  }

  /** A batch of datagrams from the bind. The batch is reused for the packet device write. */
  receive(batch: PacketBatch, sources: readonly Endpoint[]): void {
    const dev = this.dev;
    this.ensureCapacity(batch.capacity);
    const now = dev.clock.now();
    const scratch = this.scratch;
    scratch.begin(batch.count, true);
    let n = 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      const type = len >= 4 ? messageType(batch.slab, off) : 0;
      if (type === MESSAGE_TRANSPORT) {
        const kp = this.transportKeypair(batch.slab, off, len, now);
        if (kp === null) continue;
        const counter = readCounter(batch.slab, off + TRANSPORT_COUNTER);
        if (!kp.replay.check(counter)) {
          dev.drop('rxReplay', `replayed or too old counter ${counter}`);
          continue;
        }
        batch.offsets[n] = off + TRANSPORT_HEADER_SIZE;
        batch.lengths[n] = len - TRANSPORT_HEADER_SIZE;
        scratch.add(n, kp, counter);
        this.keypairOf[n] = kp;
        this.sourceOf[n] = sources[i];
        this.counterOf[n] = counter;
        this.datagramLength[n] = len;
        n++;
      } else if (type === MESSAGE_INITIATION || type === MESSAGE_RESPONSE || type === MESSAGE_COOKIE_REPLY) {
        this.handshakes.enqueue(batch.slab.subarray(off, off + len), sources[i], now);
      } else {
        dev.drop('rxInvalid', `datagram of ${len} bytes with unknown type from ${formatEndpoint(sources[i])}`);
      }
    }
    batch.count = n;
    if (n === 0) return;
    openBatch(batch.slab, n, batch.offsets, batch.lengths, scratch.keys, scratch.keyIndex, scratch.counters, this.ok);
    this.deliver(batch, now);
  }

  private transportKeypair(slab: Buffer, off: number, len: number, now: number): Keypair | null {
    const dev = this.dev;
    if (len < TRANSPORT_MIN_SIZE) {
      dev.drop('rxInvalid', `transport message of ${len} bytes`);
      return null;
    }
    const index = readU32LE(slab, off + TRANSPORT_RECEIVER);
    const kp = dev.indices.get(index)?.keypair ?? null;
    if (kp === null) {
      dev.drop('rxUnknownIndex', `transport message for unknown index ${index}`);
      return null;
    }
    if (!kp.canReceive(now)) {
      dev.drop('rxExpired', 'transport message for an expired session');
      return null;
    }
    return kp;
  }

  /** After the batch is opened: replay window, roaming, allowed IPs, timers, write out. */
  private deliver(batch: PacketBatch, now: number): void {
    const dev = this.dev;
    this.touched.begin();
    let out = 0;
    for (let j = 0; j < batch.count; j++) {
      if (this.ok[j] !== 1) {
        dev.drop('rxDecryptFailed', 'transport message failed authentication');
        continue;
      }
      const kp = this.keypairOf[j];
      if (!kp.valid || !kp.replay.accept(this.counterOf[j])) {
        dev.drop('rxReplay', `replayed counter ${this.counterOf[j]}`);
        continue;
      }
      const peer = dev.indices.get(kp.localIndex)?.peer;
      if (peer === undefined || peer.removed) continue;
      this.authenticated(peer, kp, this.sourceOf[j], this.datagramLength[j]);
      const off = batch.offsets[j];
      const plainLen = batch.lengths[j] - 16;
      if (plainLen === 0) {
        dev.counters.rxKeepalives++;
        this.touched.add(peer, false);
        continue;
      }
      const ipLen = dev.inboundPacketLength(batch.slab, off, plainLen, peer);
      if (ipLen <= 0) continue;
      this.touched.add(peer, true);
      batch.offsets[out] = off;
      batch.lengths[out] = ipLen;
      out++;
    }
    batch.count = out;
    dev.counters.rxPackets += out;
    const touched = this.touched;
    for (let t = 0; t < touched.peers.length; t++) this.afterReceive(touched.peers[t], touched.data[t], now);
    if (out > 0) dev.tun.write(batch);
  }

  /** Bookkeeping for every authenticated transport message. */
  private authenticated(peer: Peer, kp: Keypair, source: Endpoint, datagramLength: number): void {
    const dev = this.dev;
    peer.rxBytes += datagramLength;
    if (!endpointEquals(peer.endpoint, source)) {
      dev.logger.verbose(`peer ${dev.peerName(peer)}: endpoint now ${formatEndpoint(source)}`);
      peer.endpoint = source;
    }
    if (peer.keypairs.next === kp) {
      // The initiator used the session we offered: it is confirmed.
      dev.retireKeypair(peer.keypairs.promoteNext(kp));
      peer.timers.handshakeComplete();
      peer.lastHandshakeWallMs = dev.clock.wallNow();
      dev.sender.sendStaged(peer);
    }
  }

  private afterReceive(peer: Peer, data: boolean, now: number): void {
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal();
    if (data) peer.timers.dataReceived();
    // An initiator whose session nears REJECT_AFTER_TIME renews it before it dies.
    const kp = peer.keypairs.current;
    if (
      kp !== null &&
      kp.initiator &&
      !peer.sentLastMinuteHandshake &&
      now - kp.createdAt > REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    ) {
      peer.sentLastMinuteHandshake = true;
      this.dev.sender.sendInitiation(peer, false);
    }
  }

  private ensureCapacity(n: number): void {
    if (this.keypairOf.length >= n) return;
    this.keypairOf = new Array<Keypair>(n);
    this.sourceOf = new Array<Endpoint>(n);
    this.counterOf = new Float64Array(n);
    this.datagramLength = new Uint32Array(n);
    this.ok = new Uint8Array(n);
  }

  /** One message from the handshake queue (control plane, not batched). */
  private processHandshake(h: QueuedHandshake): void {
    const dev = this.dev;
    const msg = h.message;
    const type = messageType(msg, 0);
    if (type === MESSAGE_COOKIE_REPLY) {
      this.consumeCookieReply(msg, h.now);
      return;
    }
    const expected = type === MESSAGE_INITIATION ? INITIATION_SIZE : RESPONSE_SIZE;
    if (msg.length !== expected) {
      dev.drop('rxInvalid', `handshake message type ${type} of ${msg.length} bytes`);
      return;
    }
    if (!dev.cookieChecker.checkMac1(msg)) {
      dev.drop('rxBadMac1', `handshake message with invalid mac1 from ${formatEndpoint(h.source)}`);
      return;
    }
    if (h.underLoad) {
      const sourceBytes = sourceKey(h.source);
      if (!dev.cookieChecker.checkMac2(msg, sourceBytes, h.now)) {
        const sender = readU32LE(msg, type === MESSAGE_INITIATION ? INIT_SENDER : RESP_SENDER);
        const reply = dev.cookieChecker.createReply(msg, sender, sourceBytes, h.now);
        dev.counters.txCookieReplies++;
        dev.logger.debug(`under load: cookie reply to ${formatEndpoint(h.source)}`);
        dev.sender.sendHandshakeMessage(null, reply, h.source);
        return;
      }
      if (!dev.rateLimiter.allow(rateLimitKey(h.source.family, h.source.address), h.now)) {
        dev.drop('rxRateLimited', `handshake rate limit for ${h.source.address}`);
        return;
      }
    }
    if (type === MESSAGE_INITIATION) dev.handleInitiation(msg, h.source, h.now);
    else dev.handleResponse(msg, h.source, h.now);
  }

  private consumeCookieReply(msg: Uint8Array, now: number): void {
    const dev = this.dev;
    if (msg.length !== COOKIE_REPLY_SIZE) {
      dev.drop('rxInvalid', `cookie reply of ${msg.length} bytes`);
      return;
    }
    const entry = dev.indices.get(readU32LE(msg, COOKIE_RECEIVER));
    if (entry === undefined) {
      dev.drop('rxUnknownIndex', 'cookie reply for unknown index');
      return;
    }
    if (!entry.peer.cookieGenerator.consumeReply(msg, now)) {
      dev.drop('rxBadCookie', 'cookie reply that does not decrypt');
      return;
    }
    dev.logger.debug(`peer ${dev.peerName(entry.peer)}: received cookie reply`);
  }
}

const encoder = new TextEncoder();

/** The bytes a cookie is bound to: the source address and port. */
function sourceKey(e: Endpoint): Uint8Array {
  return encoder.encode(`${e.address}:${e.port}`);
}
