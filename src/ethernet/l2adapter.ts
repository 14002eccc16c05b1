// The Ethernet side of the memif service: a PacketDevice for the WireGuard core on top of a
// FramePort that carries Ethernet frames (memif in production, MemoryFramePort in tests).
//
// Inbound, ARP and NDP are consumed here (answered through the port, neighbours learned);
// IP frames addressed to us become IP packets for the core by moving each offset past the
// 14-byte header, without copying; everything else is dropped and counted.
//
// Outbound, each IP packet gets its Ethernet header written into the headroom in front of
// it. The destination MAC is that of a learned neighbour; else, for a destination inside a
// learning range, the packet waits in a small queue while an ARP request / NS goes out (at
// most one per destination per 3 s); else GatewayMacAddr. Multicast destinations get
// their group MAC (RFC 1112 / RFC 2464) and an IPv4 learning range's broadcast address
// the broadcast MAC, since no neighbour can answer for those.
//
// We answer for addresses in the response ranges but never defend them: ARP probes
// (sender 0.0.0.0), gratuitous ARP and DAD solicitations (source ::) are not answered, and
// neither are requests for an address we have learned as a neighbour: it is evidently
// someone else's. That keeps wide response ranges (a whole /64) from breaking the hosts
// that live inside them.
import { HEADROOM, PacketBatch } from '../wireguard/batch.js';
import { systemClock, type Clock } from '../wireguard/clock.js';
import type { Prefix } from '../wireguard/config.js';
import { formatAddress } from '../wireguard/ip.js';
import { silentLogger, type Logger } from '../wireguard/log.js';
import type { PacketDevice } from '../wireguard/packetdevice.js';
import { ARP_REPLY, ARP_REQUEST, ArpFields, parseArp, writeArpFrame } from './arp.js';
import {
  BROADCAST_HI,
  BROADCAST_LO,
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  formatMac,
  isUsableUnicastMac,
  isVlanEthertype,
  macFromWords,
  macWords,
  writeEthHeader,
} from './frames.js';
import type { FramePort } from './frameport.js';
import {
  ALL_NODES,
  ALL_NODES_MAC_HI,
  ALL_NODES_MAC_LO,
  isUnspecified,
  NA_FLAG_OVERRIDE,
  NA_FLAG_SOLICITED,
  ND_NEIGHBOR_SOLICIT,
  NDP_HOP_LIMIT,
  NDP_OK,
  NdpFields,
  ndpType,
  parseNdp,
  writeNeighbourAdvertisement,
  writeNeighbourSolicitation,
} from './ndp.js';
import { NeighbourTable, REACHABLE } from './neighbours.js';
import { PrefixSet, readWord, usableAddresses } from './ranges.js';

export const DEFAULT_NEIGHBOUR_LIFETIME_MS = 300_000;
export const DEFAULT_ANNOUNCE_LIMIT = 16;

export interface L2AdapterOptions {
  /** Our MAC (a usable unicast address). */
  mac: Uint8Array;
  /** Where packets go whose destination is neither learned nor in a learning range. */
  gatewayMac: Uint8Array;
  /** Largest IP packet carried; frames are 14 bytes more and must fit the port. */
  mtu: number;
  ipv4ResponseRanges?: readonly Prefix[];
  ipv4LearningRanges?: readonly Prefix[];
  ipv6ResponseRanges?: readonly Prefix[];
  ipv6LearningRanges?: readonly Prefix[];
  /** How long a learned MAC is trusted before it is probed again. Default 300 s. */
  neighbourLifetimeMs?: number;
  /** announce() sends gratuitous ARP for the IPv4 response ranges. Default false. */
  gratuitousArp?: boolean;
  /** announce() sends unsolicited NAs for the IPv6 response ranges. Default false. */
  unsolicitedNa?: boolean;
  /** Most addresses announced per family. Default 16. */
  announceLimit?: number;
  clock?: Clock;
  logger?: Logger;
  /** Neighbour table size. Default 4096. */
  maxNeighbours?: number;
  /** Packets waiting per unresolved destination. Default 8. */
  queuePerDestination?: number;
  /** Packets waiting in all. Default 128. */
  queueTotal?: number;
  /** How long a packet waits for resolution. Default 3000 ms. */
  queueTimeoutMs?: number;
}

/** What happened to frames and packets; every drop has its counter. */
export class EthernetCounters {
  rxFrames = 0;
  rxIpv4 = 0;
  rxIpv6 = 0;
  rxArp = 0;
  rxNdp = 0;
  rxDropRunt = 0;
  rxDropVlan = 0;
  rxDropEthertype = 0;
  rxDropNotForUs = 0;
  /** Multicast source MAC, or our own MAC coming back. */
  rxDropBadSource = 0;
  /** IP header inconsistent with the frame (version, lengths). */
  rxDropMalformed = 0;
  rxDropArpInvalid = 0;
  rxDropNdpInvalid = 0;
  rxDropNdpHopLimit = 0;
  /** Valid ARP that needs no answer from us (other targets, probes, gratuitous). */
  rxArpIgnored = 0;
  /** Valid NS that needs no answer from us (other targets, DAD). */
  rxNdpIgnored = 0;
  txFrames = 0;
  txToNeighbour = 0;
  txToGateway = 0;
  txMulticast = 0;
  /** Waiting (or dropped, see the neighbour counters) for an unresolved destination. */
  txUnresolved = 0;
  txDropMalformed = 0;
  txDropTooBig = 0;
  txDropClosed = 0;
  arpRepliesSent = 0;
  neighbourAdvertsSent = 0;
  arpRequestsSent = 0;
  neighbourSolicitsSent = 0;
  announcementsSent = 0;
}

// Where a frame's destination MAC points.
const DST_OTHER = 0;
const DST_OURS = 1;
const DST_BROADCAST = 2;
const DST_SOLICITED = 3;
const DST_ALL_NODES = 4;

/** Control frames (ARP, NDP) are small; one batch collects them and goes out at once. */
const CONTROL_BATCH = 64;
const CONTROL_FRAME_MAX = 128;

export class L2Adapter implements PacketDevice {
  readonly mtu: number;
  readonly counters = new EthernetCounters();
  readonly neighbours: NeighbourTable;
  readonly mac: Uint8Array;

  private readonly port: FramePort;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ourHi: number;
  private readonly ourLo: number;
  private readonly gwHi: number;
  private readonly gwLo: number;
  private readonly respond4: PrefixSet;
  private readonly respond6: PrefixSet;
  private readonly learn4: PrefixSet;
  private readonly learn6: PrefixSet;
  /** Broadcast address of each IPv4 learning range of /30 or wider. */
  private readonly broadcast4: Uint32Array;
  /** Probe source per learning range (IPv4 as numbers, IPv6 as 16 bytes each), and fallbacks. */
  private readonly probeSource4: Uint32Array;
  private readonly probeSource6: Uint8Array;
  private readonly fallbackSource4: number;
  private readonly fallbackSource6: Uint8Array;
  private readonly announce4: Uint8Array[];
  private readonly announce6: Uint8Array[];

  private readonly control = new PacketBatch(CONTROL_BATCH, CONTROL_FRAME_MAX);
  private readonly arp = new ArpFields();
  private readonly nd = new NdpFields();
  /** Scratch for one address (IPv4 in its first 4 bytes). */
  private readonly addr = Buffer.alloc(16);
  private handler: (batch: PacketBatch) => void = () => {};
  private closeHandler: () => void = () => {};
  private closed = false;

  constructor(port: FramePort, options: L2AdapterOptions) {
    if (!isUsableUnicastMac(options.mac)) throw new Error(`our MAC ${formatMac(options.mac)} is not a unicast address`);
    if (options.mtu + ETH_HEADER_LEN > port.maxFrameSize) {
      throw new Error(`MTU ${options.mtu} does not fit the port's ${port.maxFrameSize}-byte frames`);
    }
    this.port = port;
    this.mtu = options.mtu;
    this.mac = Uint8Array.from(options.mac);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    ({ hi: this.ourHi, lo: this.ourLo } = macWords(options.mac));
    ({ hi: this.gwHi, lo: this.gwLo } = macWords(options.gatewayMac));
    this.respond4 = new PrefixSet(4, options.ipv4ResponseRanges ?? []);
    this.respond6 = new PrefixSet(6, options.ipv6ResponseRanges ?? []);
    this.learn4 = new PrefixSet(4, options.ipv4LearningRanges ?? []);
    this.learn6 = new PrefixSet(6, options.ipv6LearningRanges ?? []);

    this.broadcast4 = Uint32Array.from(
      this.learn4.prefixes.filter((p) => p.bits <= 30).map((p) => (readWord(p.address, 0) | (0xffffffff >>> p.bits)) >>> 0),
    );
    this.fallbackSource4 = firstUsable4(this.respond4.prefixes[0]);
    this.fallbackSource6 = this.respond6.size > 0 ? usableAddresses(this.respond6.prefixes[0], 1)[0] : new Uint8Array(16);
    this.probeSource4 = Uint32Array.from(this.learn4.prefixes.map((l) => probeSourceFor(l, this.respond4.prefixes, this.fallbackSource4)));
    this.probeSource6 = new Uint8Array(16 * this.learn6.size);
    this.learn6.prefixes.forEach((l, i) => this.probeSource6.set(probeSourceFor6(l, this.respond6.prefixes, this.fallbackSource6), 16 * i));

    const limit = options.announceLimit ?? DEFAULT_ANNOUNCE_LIMIT;
    this.announce4 = options.gratuitousArp ? announceable(this.respond4.prefixes, limit) : [];
    this.announce6 = options.unsolicitedNa ? announceable(this.respond6.prefixes, limit) : [];

    this.neighbours = new NeighbourTable({
      clock: this.clock,
      lifetimeMs: options.neighbourLifetimeMs ?? DEFAULT_NEIGHBOUR_LIFETIME_MS,
      ipv4LearningRanges: this.learn4,
      ipv6LearningRanges: this.learn6,
      capacity: options.maxNeighbours,
      maxPacketSize: options.mtu,
      queuePerDestination: options.queuePerDestination,
      queueTotal: options.queueTotal,
      queueTimeoutMs: options.queueTimeoutMs,
    });
    port.onFrames((batch) => this.receive(batch));
  }

  onPackets(handler: (batch: PacketBatch) => void): void {
    this.handler = handler;
  }

  onClose(handler: () => void): void {
    this.closeHandler = handler;
  }

  /** Tells the core the device is gone for good (the owner of the port calls this). */
  portGone(): void {
    if (this.closed) return;
    this.closed = true;
    this.neighbours.queue.stop();
    this.closeHandler();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.neighbours.queue.stop();
  }

  /**
   * Gratuitous ARP / unsolicited NAs for the response ranges, as configured (the owner of
   * the port calls this each time the link comes up). Returns the number of frames sent.
   */
  announce(): number {
    if (this.closed) return 0;
    const slab = this.control.slab;
    for (const a of this.announce4) {
      const v = readWord(a, 0);
      const off = this.reserveControl();
      this.commitControl(off, writeArpFrame(slab, off, BROADCAST_HI, BROADCAST_LO, this.ourHi, this.ourLo, ARP_REQUEST, v, 0, 0, v));
    }
    for (const a of this.announce6) {
      const off = this.reserveControl();
      this.commitControl(
        off,
        writeNeighbourAdvertisement(slab, off, ALL_NODES_MAC_HI, ALL_NODES_MAC_LO, this.ourHi, this.ourLo, a, 0, ALL_NODES, 0, NA_FLAG_OVERRIDE),
      );
    }
    const n = this.announce4.length + this.announce6.length;
    this.counters.announcementsSent += n;
    this.flushControl();
    return n;
  }

  // ---- outbound: IP packets from the core -> Ethernet frames ----

  write(batch: PacketBatch): void {
    const c = this.counters;
    if (this.closed) {
      c.txDropClosed += batch.count;
      batch.count = 0;
      return;
    }
    const now = this.clock.now();
    const slab = batch.slab;
    const maxLen = this.port.maxFrameSize - ETH_HEADER_LEN;
    let out = 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      const version = len > 0 ? slab[off] >> 4 : 0;
      if (len > maxLen) {
        c.txDropTooBig++;
        continue;
      }
      let sent: boolean;
      if (version === 4 && len >= 20) sent = this.addHeader4(slab, off, len, now);
      else if (version === 6 && len >= 40) sent = this.addHeader6(slab, off, len, now);
      else {
        c.txDropMalformed++;
        continue;
      }
      if (!sent) continue;
      batch.offsets[out] = off - ETH_HEADER_LEN;
      batch.lengths[out] = len + ETH_HEADER_LEN;
      out++;
    }
    batch.count = out;
    if (out > 0) {
      c.txFrames += out;
      this.port.send(batch);
    }
    this.flushControl();
  }

  /** Header for an IPv4 packet at `off`; false when it waits for (or was dropped by) resolution. */
  private addHeader4(slab: Buffer, off: number, len: number, now: number): boolean {
    const hdr = off - ETH_HEADER_LEN;
    const dst = slab.readUInt32BE(off + 16);
    if (dst >>> 28 === 0xe) {
      // 01:00:5e and the low 23 bits of the group.
      writeEthHeader(slab, hdr, (0x01005e00 | ((dst >>> 16) & 0x7f)) >>> 0, dst & 0xffff, this.ourHi, this.ourLo, ETHERTYPE_IPV4);
      this.counters.txMulticast++;
      return true;
    }
    if (dst === 0xffffffff || this.isBroadcast4(dst)) {
      writeEthHeader(slab, hdr, BROADCAST_HI, BROADCAST_LO, this.ourHi, this.ourLo, ETHERTYPE_IPV4);
      this.counters.txMulticast++;
      return true;
    }
    return this.resolve(4, slab, off, len, off + 16, off + 12, ETHERTYPE_IPV4, now);
  }

  private addHeader6(slab: Buffer, off: number, len: number, now: number): boolean {
    if (slab[off + 24] === 0xff) {
      // 33:33 and the last four bytes of the group.
      writeEthHeader(slab, off - ETH_HEADER_LEN, (0x33330000 | slab.readUInt16BE(off + 36)) >>> 0, slab.readUInt16BE(off + 38), this.ourHi, this.ourLo, ETHERTYPE_IPV6);
      this.counters.txMulticast++;
      return true;
    }
    return this.resolve(6, slab, off, len, off + 24, off + 8, ETHERTYPE_IPV6, now);
  }

  private isBroadcast4(dst: number): boolean {
    const b = this.broadcast4;
    for (let i = 0; i < b.length; i++) if (b[i] === dst) return true;
    return false;
  }

  /**
   * Learned neighbour (probing again once it is stale), else a probe and the wait queue
   * for a learning-range destination, else the gateway. True when the header is written.
   */
  private resolve(family: 4 | 6, slab: Buffer, off: number, len: number, dstOff: number, srcOff: number, type: number, now: number): boolean {
    const table = this.neighbours;
    let id = table.find(family, slab, dstOff);
    if (id >= 0) {
      if (table.usable(id, now)) {
        if (table.stale(id, now) && table.takeProbe(id, now)) this.probe(id, true, slab, srcOff);
        writeEthHeader(slab, off - ETH_HEADER_LEN, table.macHiOf(id), table.macLoOf(id), this.ourHi, this.ourLo, type);
        this.counters.txToNeighbour++;
        return true;
      }
      table.forget(id);
    } else if (table.inLearningRange(family, slab, dstOff)) {
      id = table.insert(family, slab, dstOff);
    } else {
      writeEthHeader(slab, off - ETH_HEADER_LEN, this.gwHi, this.gwLo, this.ourHi, this.ourLo, type);
      this.counters.txToGateway++;
      return true;
    }
    if (table.takeProbe(id, now)) this.probe(id, false, slab, srcOff);
    table.queue.enqueue(id, slab, off, len, now);
    this.counters.txUnresolved++;
    return false;
  }

  /**
   * An ARP request or NS for entry `id`: broadcast / to the solicited-node group while
   * unresolved, unicast to the known MAC when confirming a stale entry. The source address
   * is the packet's own source when it is one we answer for (the normal case: the peer
   * behind us), else one of our response addresses on the target's learning range.
   */
  private probe(id: number, unicast: boolean, pkt: Buffer, pktSrcOff: number): void {
    const table = this.neighbours;
    const target = this.addr;
    table.writeAddress(id, target, 0);
    const dstHi = unicast ? table.macHiOf(id) : BROADCAST_HI;
    const dstLo = unicast ? table.macLoOf(id) : BROADCAST_LO;
    const off = this.reserveControl();
    const slab = this.control.slab;
    if (table.familyOf(id) === 4) {
      const pktSrc = readWord(pkt, pktSrcOff);
      let spa = this.fallbackSource4;
      if (this.respond4.containsV4(pktSrc)) spa = pktSrc;
      else {
        const r = this.learn4.indexOf(target, 0);
        if (r >= 0) spa = this.probeSource4[r];
      }
      this.commitControl(off, writeArpFrame(slab, off, dstHi, dstLo, this.ourHi, this.ourLo, ARP_REQUEST, spa, 0, 0, readWord(target, 0)));
      this.counters.arpRequestsSent++;
    } else {
      let src: Uint8Array = this.fallbackSource6;
      let srcOff = 0;
      if (this.respond6.contains(pkt, pktSrcOff)) {
        src = pkt;
        srcOff = pktSrcOff;
      } else {
        const r = this.learn6.indexOf(target, 0);
        if (r >= 0) {
          src = this.probeSource6;
          srcOff = 16 * r;
        }
      }
      // From the unspecified address only the solicited-node form is valid (RFC 4861 7.1.1).
      const multicast = !unicast || isUnspecified(src, srcOff);
      this.commitControl(off, writeNeighbourSolicitation(slab, off, dstHi, dstLo, this.ourHi, this.ourLo, src, srcOff, target, 0, multicast));
      this.counters.neighbourSolicitsSent++;
    }
  }

  // ---- inbound: Ethernet frames -> IP packets for the core, ARP/NDP handled here ----

  private receive(batch: PacketBatch): void {
    if (this.closed) return;
    const c = this.counters;
    const slab = batch.slab;
    let out = 0;
    for (let i = 0; i < batch.count; i++) {
      const off = batch.offsets[i];
      const len = batch.lengths[i];
      c.rxFrames++;
      if (len < ETH_HEADER_LEN) {
        c.rxDropRunt++;
        continue;
      }
      const srcHi = slab.readUInt32BE(off + 6);
      const srcLo = slab.readUInt16BE(off + 10);
      if ((srcHi & 0x01000000) !== 0 || (srcHi === this.ourHi && srcLo === this.ourLo)) {
        c.rxDropBadSource++;
        continue;
      }
      const kind = this.destinationKind(slab.readUInt32BE(off), slab.readUInt16BE(off + 4));
      if (kind === DST_OTHER) {
        c.rxDropNotForUs++;
        continue;
      }
      const type = slab.readUInt16BE(off + 12);
      if (type === ETHERTYPE_IPV4) {
        const ipLen = kind === DST_OURS || kind === DST_BROADCAST ? ipv4Length(slab, off + ETH_HEADER_LEN, len - ETH_HEADER_LEN) : -2;
        if (ipLen === -2) c.rxDropNotForUs++;
        else if (ipLen < 0) c.rxDropMalformed++;
        else {
          c.rxIpv4++;
          batch.offsets[out] = off + ETH_HEADER_LEN;
          batch.lengths[out] = ipLen;
          out++;
        }
      } else if (type === ETHERTYPE_IPV6) {
        if (ndpType(slab, off, len) !== 0) {
          c.rxNdp++;
          this.receiveNdp(slab, off, len, kind, srcHi, srcLo);
          continue;
        }
        if (kind === DST_ALL_NODES) {
          c.rxDropNotForUs++;
          continue;
        }
        const ipLen = ipv6Length(slab, off + ETH_HEADER_LEN, len - ETH_HEADER_LEN);
        if (ipLen < 0) c.rxDropMalformed++;
        else {
          c.rxIpv6++;
          batch.offsets[out] = off + ETH_HEADER_LEN;
          batch.lengths[out] = ipLen;
          out++;
        }
      } else if (type === ETHERTYPE_ARP) {
        if (kind !== DST_OURS && kind !== DST_BROADCAST) c.rxDropNotForUs++;
        else {
          c.rxArp++;
          this.receiveArp(slab, off, len, kind);
        }
      } else if (isVlanEthertype(type)) {
        c.rxDropVlan++;
      } else {
        c.rxDropEthertype++;
      }
    }
    batch.count = out;
    this.flushControl();
    if (out > 0) this.handler(batch);
  }

  private destinationKind(hi: number, lo: number): number {
    if (hi === this.ourHi && lo === this.ourLo) return DST_OURS;
    if (hi === BROADCAST_HI && lo === BROADCAST_LO) return DST_BROADCAST;
    if (hi >>> 8 === 0x3333ff) return this.respond6.hasLow24(((hi & 0xff) << 16) | lo) ? DST_SOLICITED : DST_OTHER;
    if (hi === ALL_NODES_MAC_HI && lo === ALL_NODES_MAC_LO) return DST_ALL_NODES;
    return DST_OTHER;
  }

  private receiveArp(slab: Buffer, off: number, len: number, kind: number): void {
    const a = this.arp;
    const c = this.counters;
    if (!parseArp(slab, off, len, a) || !this.isNeighbourMac(a.shaHi, a.shaLo)) {
      c.rxDropArpInvalid++;
      return;
    }
    const addr = this.addr;
    if (a.op === ARP_REPLY) {
      addr.writeUInt32BE(a.spa, 0);
      // A reply to us may create an entry; one sent to everyone only updates what we know.
      this.learnNeighbour(4, addr, 0, a.shaHi, a.shaLo, kind === DST_OURS);
      return;
    }
    if (a.spa === 0 || a.spa === a.tpa || !this.answersFor4(a.tpa)) {
      // Probe, announcement or someone else's target: we only listen.
      addr.writeUInt32BE(a.spa, 0);
      if (a.spa !== 0) this.learnNeighbour(4, addr, 0, a.shaHi, a.shaLo, false);
      c.rxArpIgnored++;
      return;
    }
    const out = this.reserveControl();
    this.commitControl(out, writeArpFrame(this.control.slab, out, a.shaHi, a.shaLo, this.ourHi, this.ourLo, ARP_REPLY, a.tpa, a.shaHi, a.shaLo, a.spa));
    c.arpRepliesSent++;
    addr.writeUInt32BE(a.spa, 0);
    this.learnNeighbour(4, addr, 0, a.shaHi, a.shaLo, true);
  }

  private receiveNdp(slab: Buffer, off: number, len: number, kind: number, ethSrcHi: number, ethSrcLo: number): void {
    const c = this.counters;
    const nd = this.nd;
    const result = parseNdp(slab, off, len, nd);
    if (result !== NDP_OK) {
      if (result === NDP_HOP_LIMIT) c.rxDropNdpHopLimit++;
      else c.rxDropNdpInvalid++;
      return;
    }
    let llaHi = 0;
    let llaLo = 0;
    if (nd.llaOff >= 0) {
      llaHi = slab.readUInt32BE(nd.llaOff);
      llaLo = slab.readUInt16BE(nd.llaOff + 4);
      if (!this.isNeighbourMac(llaHi, llaLo)) {
        c.rxDropNdpInvalid++;
        return;
      }
    }
    if (nd.type === ND_NEIGHBOR_SOLICIT) this.receiveSolicitation(slab, nd, llaHi, llaLo, ethSrcHi, ethSrcLo);
    else this.receiveAdvertisement(slab, nd, kind, llaHi, llaLo, ethSrcHi, ethSrcLo);
  }

  private receiveSolicitation(slab: Buffer, nd: NdpFields, llaHi: number, llaLo: number, ethSrcHi: number, ethSrcLo: number): void {
    const c = this.counters;
    const hasLla = nd.llaOff >= 0;
    if (isUnspecified(slab, nd.srcOff) || !this.answersFor6(slab, nd.targetOff)) {
      // DAD, or a target that is not ours: we only listen.
      if (hasLla) this.learnNeighbour(6, slab, nd.srcOff, llaHi, llaLo, false);
      c.rxNdpIgnored++;
      return;
    }
    // Answer to the solicitor's link-layer address (its option, else the frame's source).
    const dstHi = hasLla ? llaHi : ethSrcHi;
    const dstLo = hasLla ? llaLo : ethSrcLo;
    const out = this.reserveControl();
    this.commitControl(
      out,
      writeNeighbourAdvertisement(this.control.slab, out, dstHi, dstLo, this.ourHi, this.ourLo, slab, nd.targetOff, slab, nd.srcOff, NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE),
    );
    c.neighbourAdvertsSent++;
    if (hasLla) this.learnNeighbour(6, slab, nd.srcOff, llaHi, llaLo, true);
  }

  private receiveAdvertisement(slab: Buffer, nd: NdpFields, kind: number, llaHi: number, llaLo: number, ethSrcHi: number, ethSrcLo: number): void {
    const table = this.neighbours;
    const id = table.find(6, slab, nd.targetOff);
    if (nd.llaOff < 0) {
      // No option: it can only confirm what we already hold (RFC 4861 7.2.5).
      if (id >= 0 && table.confirm(id, ethSrcHi, ethSrcLo)) this.sendWaiting(id);
      return;
    }
    const known = id >= 0 && table.state(id) === REACHABLE;
    if (known && (nd.flags & NA_FLAG_OVERRIDE) === 0 && (table.macHiOf(id) !== llaHi || table.macLoOf(id) !== llaLo)) return;
    this.learnNeighbour(6, slab, nd.targetOff, llaHi, llaLo, kind === DST_OURS);
  }

  /** Records a neighbour (see NeighbourTable.learn) and sends what waited for it. */
  private learnNeighbour(family: 4 | 6, buf: Uint8Array, off: number, hi: number, lo: number, create: boolean): void {
    const table = this.neighbours;
    const before = table.find(family, buf, off);
    const wasKnown = before >= 0 && table.state(before) === REACHABLE;
    const changed = wasKnown && (table.macHiOf(before) !== hi || table.macLoOf(before) !== lo);
    const id = table.learn(family, buf, off, hi, lo, create);
    if (id < 0) return;
    if (!wasKnown || changed) {
      this.logger.debug(`neighbour ${formatAddress(family, buf.subarray(off, off + (family === 4 ? 4 : 16)))} is at ${formatMac(macFromWords(hi, lo))}`);
    }
    this.sendWaiting(id);
  }

  /** Sends the packets that waited for entry `id`, now that it has a MAC. */
  private sendWaiting(id: number): void {
    const table = this.neighbours;
    if (table.queue.waiting(id) === 0) return;
    const batch = table.queue.drain(id, this.clock.now());
    if (batch === null) return;
    const hi = table.macHiOf(id);
    const lo = table.macLoOf(id);
    const slab = batch.slab;
    for (let j = 0; j < batch.count; j++) {
      const off = batch.offsets[j];
      writeEthHeader(slab, off - ETH_HEADER_LEN, hi, lo, this.ourHi, this.ourLo, slab[off] >> 4 === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
      batch.offsets[j] = off - ETH_HEADER_LEN;
      batch.lengths[j] += ETH_HEADER_LEN;
    }
    this.counters.txFrames += batch.count;
    this.counters.txToNeighbour += batch.count;
    this.flushControl();
    this.port.send(batch);
  }

  /** We answer for an address in a response range unless it is a neighbour's. */
  private answersFor4(tpa: number): boolean {
    if (!this.respond4.containsV4(tpa)) return false;
    this.addr.writeUInt32BE(tpa, 0);
    const id = this.neighbours.find(4, this.addr, 0);
    return id < 0 || this.neighbours.state(id) !== REACHABLE;
  }

  private answersFor6(buf: Uint8Array, off: number): boolean {
    if (!this.respond6.contains(buf, off)) return false;
    const id = this.neighbours.find(6, buf, off);
    return id < 0 || this.neighbours.state(id) !== REACHABLE;
  }

  /** A MAC a neighbour may have: unicast, not all-zero, not ours. */
  private isNeighbourMac(hi: number, lo: number): boolean {
    if ((hi & 0x01000000) !== 0 || (hi === 0 && lo === 0)) return false;
    return hi !== this.ourHi || lo !== this.ourLo;
  }

  private reserveControl(): number {
    if (this.control.count === this.control.capacity) this.flushControl();
    return this.control.slotStart(this.control.count) + HEADROOM;
  }

  private commitControl(off: number, len: number): void {
    const i = this.control.count++;
    this.control.offsets[i] = off;
    this.control.lengths[i] = len;
  }

  private flushControl(): void {
    if (this.control.count === 0) return;
    this.port.send(this.control);
    this.control.count = 0;
  }
}

/** Length of the IPv4 packet at `ip` within `avail` bytes (padding dropped), or -1. */
function ipv4Length(buf: Buffer, ip: number, avail: number): number {
  if (avail < 20 || buf[ip] >> 4 !== 4) return -1;
  const ihl = (buf[ip] & 0x0f) * 4;
  const total = buf.readUInt16BE(ip + 2);
  if (ihl < 20 || total < ihl || total > avail) return -1;
  return total;
}

/** Length of the IPv6 packet at `ip` within `avail` bytes (padding dropped), or -1. */
function ipv6Length(buf: Buffer, ip: number, avail: number): number {
  if (avail < 40 || buf[ip] >> 4 !== 6) return -1;
  const total = 40 + buf.readUInt16BE(ip + 4);
  return total > avail ? -1 : total;
}

function firstUsable4(prefix: Prefix | undefined): number {
  return prefix === undefined ? 0 : readWord(usableAddresses(prefix, 1)[0], 0);
}

/** Whether two prefixes of one family share an address (then one contains the other). */
function overlaps(a: Prefix, b: Prefix): boolean {
  const bits = Math.min(a.bits, b.bits);
  for (let i = 0; i < a.address.length; i++) {
    const take = Math.max(0, Math.min(8, bits - 8 * i));
    const mask = (0xff << (8 - take)) & 0xff;
    if ((a.address[i] & mask) !== (b.address[i] & mask)) return false;
  }
  return true;
}

/** The address we speak from when probing a learning range: one of ours on it, if any. */
function probeSourceAddress(learning: Prefix, responses: readonly Prefix[]): Uint8Array | null {
  for (const r of responses) {
    if (!overlaps(learning, r)) continue;
    return usableAddresses(r.bits >= learning.bits ? r : learning, 1)[0];
  }
  return null;
}

function probeSourceFor(learning: Prefix, responses: readonly Prefix[], fallback: number): number {
  const a = probeSourceAddress(learning, responses);
  return a === null ? fallback : readWord(a, 0);
}

function probeSourceFor6(learning: Prefix, responses: readonly Prefix[], fallback: Uint8Array): Uint8Array {
  return probeSourceAddress(learning, responses) ?? fallback;
}

/** The addresses announced at start: the first usable ones of each range, `limit` in all. */
function announceable(ranges: readonly Prefix[], limit: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const r of ranges) {
    if (out.length >= limit) break;
    out.push(...usableAddresses(r, limit - out.length));
  }
  return out;
}
