// The memif interface's life in VPP: what an operator would do with vppctl, and undo.
//
// Bring-up, in order:
//   1. memif socket filename add     socket id = uid, file = our memif socket path
//   2. memif create                  VPP's role = the opposite of ours, ethernet mode, id = uid,
//                                    queues, ring size, buffer size, VPP's MAC, secret -> sw_if_index
//   3. interface admin up
//   4. bridge domain VppBridgeID     created when missing (VPP would also create it implicitly in
//                                    sw_interface_set_l2_bridge; creating it ourselves fixes its flags
//                                    and tells teardown that we own it)
//   5. set l2 bridge                 the memif joins the bridge domain as a normal port
//   6. l2fib entry for our MAC       once the memif link is up (seen in sw_interface_event or dump)
// Teardown runs the same steps in reverse; each step accepts "already gone".
//
// Before bring-up, what a crashed earlier run left behind (a memif socket with our id or our
// file, and memif interfaces on it) is removed. want_interface_events tells us when an operator
// deletes the interface ('interface-deleted') and when the memif link comes up
// ('memif-connected'). When the API connection drops (VPP restarted), we reconnect with
// backoff, redo all of the above and say so ('vpp-disconnected', then 'vpp-reconnected').
//
// The secret goes into memif_create and nowhere else: no log line or error carries it.

import { EventEmitter } from 'node:events';
import { loadRegistry } from './api-loader.js';
import { VppClient } from './client.js';
import type { ApiInput, ApiRecord, ApiValue } from './codec.js';
import type { ApiRegistry } from './definitions.js';
import { resolveVppApiDir } from './env.js';
import {
  VppApiError,
  VppDisconnectedError,
  VppError,
  VppMessageUnavailableError,
  VppRetval,
  type MessageCandidateReport,
} from './errors.js';
import { silentLogger, type Logger } from '../wireguard/log.js';
import { formatMac, parseMac, type MacInput } from './mac.js';

export type MemifRole = 'master' | 'slave';

export interface ReconnectOptions {
  /** First wait after the connection drops (default 500 ms). */
  readonly initialDelayMs?: number;
  /** Longest wait between attempts (default 10 s). */
  readonly maxDelayMs?: number;
  /** Growth of the wait per failed attempt (default 2). */
  readonly factor?: number;
}

export interface VppLifecycleOptions {
  /** VPP's binary API socket (see resolveVppApiSocketPath). */
  readonly socketPath: string;
  /** The config's uid: memif socket id and memif interface id (memif<uid>/<uid> in VPP). */
  readonly uid: number;
  /** Shared memif secret, at most 23 bytes; null or '' for none. */
  readonly secret: string | null;
  /** The config's VppBridgeID. */
  readonly bridgeId: number;
  /** The MAC our side of the memif uses; VPP gets an l2fib entry for it. */
  readonly ourMac: MacInput;
  /** The MAC of VPP's memif interface; VPP picks one when absent. */
  readonly vppMac?: MacInput;
  /** Our memif socket file. */
  readonly memifSocketPath: string;
  /** Our memif role; VPP takes the other one. */
  readonly ourRole: MemifRole;
  /** Queue pairs (VPP uses the number when it is the slave). */
  readonly queues: number;
  readonly ringSizeLog2: number;
  readonly bufferSize: number;
  readonly logger?: Logger;
  /** Let VPP use zero-copy when it is the slave (VPP's default; default true). */
  readonly zeroCopy?: boolean;
  /** VPP's installed JSON API files; null for built-in definitions only. Default: VPP_API_DIR or /usr/share/vpp/api. */
  readonly apiDir?: string | null;
  /** Use these definitions instead of loading them (tests). */
  readonly registry?: ApiRegistry;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly reconnect?: ReconnectOptions;
  readonly clientName?: string;
}

export interface InterfaceEventInfo {
  readonly swIfIndex: number;
}

export interface VppLifecycleEvents {
  /** The memif link came up; our l2fib entry is in place (or could not be added, see log). */
  'memif-connected': [InterfaceEventInfo];
  /** The memif link went down. */
  'memif-disconnected': [InterfaceEventInfo];
  /** Someone deleted our interface in VPP; the service should shut down (stop() still cleans up). */
  'interface-deleted': [InterfaceEventInfo];
  /** The API connection dropped; the data plane should wait. */
  'vpp-disconnected': [Error];
  /** Reconnected, and everything is recreated. */
  'vpp-reconnected': [InterfaceEventInfo];
}

type State = 'idle' | 'starting' | 'running' | 'reconnecting' | 'stopping' | 'stopped';

const IF_STATUS_ADMIN_UP = 1;
const IF_STATUS_LINK_UP = 2;
const MEMIF_ROLE_MASTER = 0;
const MEMIF_ROLE_SLAVE = 1;
const MEMIF_MODE_ETHERNET = 0;
const L2_PORT_TYPE_NORMAL = 0;
const ALL = 0xffffffff;
const MAX_BD_ID = 0xffffff;
const MAX_LOG2_RING = 14; // the largest ring VPP's memif announces in its hello (MEMIF_MAX_LOG2_RING_SIZE)

/** The messages of one connection, chosen by what that VPP offers (v2 first). */
interface Chosen {
  readonly socketAddDel: string;
  readonly memifCreate: string;
  readonly bdAddDel: string;
}

function num(rec: ApiRecord, field: string): number {
  const v: ApiValue | undefined = rec[field];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return 0;
}

function str(rec: ApiRecord, field: string): string {
  const v = rec[field];
  return typeof v === 'string' ? v : '';
}

function isRetval(err: unknown, ...retvals: number[]): boolean {
  return err instanceof VppApiError && retvals.includes(err.retval);
}

function validate(o: VppLifecycleOptions): void {
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  // Socket id 0 is VPP's default socket and ~0 asks VPP to pick one: neither is ours to use.
  if (!intIn(o.uid, 1, 0xfffffffe)) throw new VppError('uid must be an integer from 1 to 4294967294');
  if (!intIn(o.bridgeId, 1, MAX_BD_ID)) throw new VppError(`VppBridgeID must be an integer from 1 to ${MAX_BD_ID}`);
  const secret = new TextEncoder().encode(o.secret ?? '');
  if (secret.length > 23 || secret.includes(0)) {
    throw new VppError('the memif secret must be at most 23 bytes (VPP keeps 24 with the terminating NUL) and contain no NUL');
  }
  const sockLen = new TextEncoder().encode(o.memifSocketPath).length;
  if (!o.memifSocketPath.startsWith('/') || sockLen > 107) {
    throw new VppError('the memif socket path must be absolute and at most 107 bytes (a unix socket address)');
  }
  if (!intIn(o.queues, 1, 255)) throw new VppError('memif queues must be an integer from 1 to 255');
  if (!intIn(o.ringSizeLog2, 1, MAX_LOG2_RING)) throw new VppError(`memif ring size log2 must be from 1 to ${MAX_LOG2_RING}`);
  if (!intIn(o.bufferSize, 1, 0xffff)) throw new VppError('memif buffer size must be an integer from 1 to 65535');
  if (o.ourRole !== 'master' && o.ourRole !== 'slave') throw new VppError("memif role must be 'master' or 'slave'");
}

export class VppLifecycle extends EventEmitter<VppLifecycleEvents> {
  private readonly logger: Logger;
  private readonly registry: ApiRegistry;
  private readonly ourMac: Uint8Array;
  private readonly vppMac: Uint8Array | null;
  private state: State = 'idle';
  private client: VppClient | null = null;
  private chosen: Chosen | null = null;
  private inflight: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopPromise: Promise<void> | null = null;
  // What exists in VPP right now, as far as this connection knows.
  private swIfIndex: number | null = null;
  private socketAdded = false;
  private bridged = false;
  /**
   * This instance created the bridge domain. Kept across reconnects: after a dropped API
   * connection VPP still has the domain we made, and it is still ours to remove.
   */
  private bdOwned = false;
  /** The sw_if_index our l2fib entry points at; kept after the interface is deleted so teardown can remove the entry. */
  private l2fibIndex: number | null = null;
  private linkUp = false;
  private connectedNotified = false;
  private ready = false;

  constructor(private readonly opts: VppLifecycleOptions) {
    super();
    validate(opts);
    this.logger = opts.logger ?? silentLogger;
    this.ourMac = parseMac(opts.ourMac, 'our MAC');
    this.vppMac = opts.vppMac === undefined ? null : parseMac(opts.vppMac, "VPP's MAC");
    this.registry =
      opts.registry ??
      loadRegistry({ apiDir: opts.apiDir === undefined ? resolveVppApiDir() : opts.apiDir, logger: this.logger });
  }

  /** The memif's sw_if_index in VPP while it exists. */
  get interfaceIndex(): number | null {
    return this.swIfIndex;
  }

  /** VPP's name of the interface, as vppctl shows it. */
  get interfaceName(): string {
    return `memif${this.opts.uid}/${this.opts.uid}`;
  }

  /** Connects, cleans up after a crashed run, and creates everything. Rejects with an actionable VppError. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new VppError(`start() called while ${this.state}`);
    this.state = 'starting';
    const attempt = this.bringUp();
    this.inflight = attempt.catch(() => {});
    try {
      await attempt;
    } catch (err) {
      if (this.state === 'starting') this.state = 'idle';
      throw err;
    } finally {
      this.inflight = null;
    }
    if (this.state !== 'starting') return; // stop() came first; it tears down
    this.state = 'running';
    this.becomeReady();
  }

  /** Removes everything this instance created in VPP and disconnects. Idempotent; never rejects. */
  stop(): Promise<void> {
    if (!this.stopPromise) this.stopPromise = this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.state = 'stopping';
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    if (this.inflight) await this.inflight;
    const client = this.client;
    if (client && !client.isClosed) {
      try {
        await this.teardown(client);
      } catch (err) {
        this.logger.error(`vpp: teardown incomplete: ${(err as Error).message}`);
      }
      await client.close();
    } else {
      this.logger.verbose('vpp: not connected to VPP; nothing to remove now (a later start cleans up)');
    }
    this.client = null;
    this.resetVppState();
    this.state = 'stopped';
  }

  // -------------------------------------------------------------------------------------
  // Bring-up
  // -------------------------------------------------------------------------------------

  private resetVppState(): void {
    this.swIfIndex = null;
    this.chosen = null;
    this.socketAdded = false;
    this.bridged = false;
    this.l2fibIndex = null;
    this.linkUp = false;
    this.connectedNotified = false;
    this.ready = false;
  }

  private async bringUp(): Promise<void> {
    this.resetVppState();
    const client = await VppClient.connect({
      socketPath: this.opts.socketPath,
      registry: this.registry,
      clientName: this.opts.clientName ?? `wireguard-ts-vpp-${this.opts.uid}`,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      logger: this.logger,
    });
    this.client = client;
    client.on('disconnected', (err: Error) => this.onDisconnected(client, err));
    try {
      this.chosen = this.choose(client);
      await this.subscribe(client);
      await this.removeStale(client);
      await this.create(client, this.chosen);
    } catch (err) {
      if (!client.isClosed) {
        try {
          await this.teardown(client);
        } catch (e) {
          this.logger.debug(`vpp: rollback incomplete: ${(e as Error).message}`);
        }
        await client.close();
      }
      if (this.client === client) this.client = null;
      throw err;
    }
  }

  /**
   * Picks v2 messages where VPP has them and checks every other message we need, before
   * anything is sent: one error lists all that is missing or of an unknown layout.
   */
  private choose(client: VppClient): Chosen {
    const reports: MessageCandidateReport[] = [];
    const pick = (names: string[]): string => {
      try {
        return client.choose(names);
      } catch (err) {
        if (!(err instanceof VppMessageUnavailableError)) throw err;
        reports.push(...err.candidates);
        return names[0];
      }
    };
    const chosen: Chosen = {
      socketAddDel: pick(['memif_socket_filename_add_del_v2', 'memif_socket_filename_add_del']),
      memifCreate: pick(['memif_create_v2', 'memif_create']),
      bdAddDel: pick(['bridge_domain_add_del_v2', 'bridge_domain_add_del']),
    };
    for (const name of [
      'memif_delete',
      'memif_dump',
      'memif_socket_filename_dump',
      'sw_interface_set_flags',
      'sw_interface_dump',
      'want_interface_events',
      'bridge_domain_dump',
      'sw_interface_set_l2_bridge',
      'l2fib_add_del',
    ]) {
      pick([name]);
    }
    try {
      client.require(['sw_interface_event']);
    } catch (err) {
      if (!(err instanceof VppMessageUnavailableError)) throw err;
      reports.push(...err.candidates);
    }
    if (reports.length > 0) throw new VppMessageUnavailableError(reports);
    this.logger.debug(`vpp: using ${chosen.socketAddDel}, ${chosen.memifCreate}, ${chosen.bdAddDel}`);
    return chosen;
  }

  private async subscribe(client: VppClient): Promise<void> {
    client.onMessage('sw_interface_event', (ev) => this.onInterfaceEvent(client, ev));
    try {
      await client.request('want_interface_events', { enable_disable: 1, pid: process.pid });
    } catch (err) {
      // Already registered on this connection is fine.
      if (!isRetval(err, VppRetval.INVALID_REGISTRATION)) throw err;
    }
  }

  /** Removes a memif socket with our id or our file, and its interfaces, left by an earlier run. */
  private async removeStale(client: VppClient): Promise<void> {
    const chosen = this.chosen as Chosen;
    const { uid, memifSocketPath } = this.opts;
    const staleIds = new Set<number>();
    for (const s of await client.dump('memif_socket_filename_dump')) {
      const id = num(s, 'socket_id');
      const file = str(s, 'socket_filename');
      if (id !== uid && file !== memifSocketPath) continue;
      if (id === 0) {
        this.logger.error(`vpp: VPP's default memif socket (id 0) uses ${memifSocketPath}; choose another memif socket path`);
        continue;
      }
      staleIds.add(id);
    }
    for (const m of await client.dump('memif_dump')) {
      if (!staleIds.has(num(m, 'socket_id'))) continue;
      const sw = num(m, 'sw_if_index');
      this.logger.verbose(`vpp: removing ${str(m, 'if_name') || 'memif'} (sw_if_index ${sw}) left by an earlier run`);
      await this.quietly(client, 'l2fib_add_del', this.l2fibFields(sw, false), [VppRetval.NO_SUCH_ENTRY, VppRetval.INVALID_SW_IF_INDEX]);
      await this.quietly(client, 'memif_delete', { sw_if_index: sw }, [VppRetval.INVALID_SW_IF_INDEX]);
    }
    for (const id of staleIds) {
      this.logger.verbose(`vpp: removing memif socket id ${id} left by an earlier run`);
      await this.quietly(client, chosen.socketAddDel, { is_add: false, socket_id: id }, [VppRetval.INVALID_ARGUMENT]);
    }
  }

  private async create(client: VppClient, chosen: Chosen): Promise<void> {
    await this.addSocket(client, chosen);
    await this.createMemif(client, chosen);
    const sw = this.swIfIndex as number;
    await client.request('sw_interface_set_flags', { sw_if_index: sw, flags: IF_STATUS_ADMIN_UP });
    await this.ensureBridgeDomain(client, chosen);
    await this.joinBridge(client, sw);
    this.linkUp = await this.isLinkUp(client, sw);
  }

  private async addSocket(client: VppClient, chosen: Chosen): Promise<void> {
    const { uid, memifSocketPath } = this.opts;
    try {
      await client.request(chosen.socketAddDel, { is_add: true, socket_id: uid, socket_filename: memifSocketPath });
    } catch (err) {
      throw this.withHint(err, `adding memif socket id ${uid} with file ${memifSocketPath}: make sure its directory exists and VPP may use it`);
    }
    this.socketAdded = true;
  }

  private async createMemif(client: VppClient, chosen: Chosen): Promise<void> {
    const o = this.opts;
    const fields: ApiInput = {
      role: o.ourRole === 'master' ? MEMIF_ROLE_SLAVE : MEMIF_ROLE_MASTER,
      mode: MEMIF_MODE_ETHERNET,
      rx_queues: o.queues,
      tx_queues: o.queues,
      id: o.uid,
      socket_id: o.uid,
      ring_size: 1 << o.ringSizeLog2,
      buffer_size: o.bufferSize,
      no_zero_copy: o.zeroCopy === false,
      hw_addr: this.vppMac ?? new Uint8Array(6), // all zero: VPP picks a MAC
      secret: o.secret ?? '',
    };
    if (chosen.memifCreate === 'memif_create_v2') fields['use_dma'] = false;
    let reply: ApiRecord;
    try {
      reply = await client.request(chosen.memifCreate, fields);
    } catch (err) {
      throw this.withHint(err, `creating ${this.interfaceName} on socket id ${o.uid}`);
    }
    this.swIfIndex = num(reply, 'sw_if_index');
    this.logger.verbose(
      `vpp: created ${this.interfaceName} (sw_if_index ${this.swIfIndex}); VPP is the memif ${o.ourRole === 'master' ? 'slave' : 'master'} on ${o.memifSocketPath}`,
    );
  }

  private async ensureBridgeDomain(client: VppClient, chosen: Chosen): Promise<void> {
    const bdId = this.opts.bridgeId;
    const bds = await client.dump('bridge_domain_dump', { bd_id: bdId, sw_if_index: ALL });
    if (bds.some((b) => num(b, 'bd_id') === bdId)) return;
    try {
      // The flags VPP gives a domain it creates implicitly: learn, forward, flood, unknown-unicast flood.
      await client.request(chosen.bdAddDel, {
        bd_id: bdId,
        flood: true,
        uu_flood: true,
        forward: true,
        learn: true,
        arp_term: false,
        arp_ufwd: false,
        mac_age: 0,
        bd_tag: '',
        is_add: true,
      });
      this.bdOwned = true;
      this.logger.verbose(`vpp: created bridge domain ${bdId}`);
    } catch (err) {
      // Someone else created it meanwhile: it is theirs, and it exists, which is all we need.
      if (!isRetval(err, VppRetval.BD_ALREADY_EXISTS)) throw this.withHint(err, `creating bridge domain ${bdId}`);
    }
  }

  private async joinBridge(client: VppClient, sw: number): Promise<void> {
    const bdId = this.opts.bridgeId;
    try {
      await client.request('sw_interface_set_l2_bridge', {
        rx_sw_if_index: sw,
        bd_id: bdId,
        port_type: L2_PORT_TYPE_NORMAL,
        shg: 0,
        enable: true,
      });
    } catch (err) {
      throw this.withHint(err, `adding ${this.interfaceName} to bridge domain ${bdId}`);
    }
    this.bridged = true;
  }

  private async isLinkUp(client: VppClient, sw: number): Promise<boolean> {
    const details = await client.dump('sw_interface_dump', { sw_if_index: sw, name_filter_valid: false });
    const mine = details.find((d) => num(d, 'sw_if_index') === sw);
    // An event may already have said so while we were busy.
    return this.linkUp || (mine !== undefined && (num(mine, 'flags') & IF_STATUS_LINK_UP) !== 0);
  }

  /** After bring-up: from here on, link-up events add the l2fib entry. */
  private becomeReady(): void {
    this.ready = true;
    if (this.linkUp) void this.onLinkUp();
  }

  private l2fibFields(swIfIndex: number, isAdd: boolean): ApiInput {
    return {
      mac: this.ourMac,
      bd_id: this.opts.bridgeId,
      sw_if_index: swIfIndex,
      is_add: isAdd,
      static_mac: isAdd,
      filter_mac: false,
      bvi_mac: false,
    };
  }

  private async onLinkUp(): Promise<void> {
    const client = this.client;
    const sw = this.swIfIndex;
    if (!client || sw === null || this.connectedNotified) return;
    this.connectedNotified = true;
    if (this.l2fibIndex !== sw) {
      try {
        await client.request('l2fib_add_del', this.l2fibFields(sw, true));
        this.l2fibIndex = sw;
        this.logger.verbose(`vpp: l2fib entry ${formatMac(this.ourMac)} -> ${this.interfaceName} in bridge domain ${this.opts.bridgeId}`);
      } catch (err) {
        this.logger.error(`vpp: cannot add the l2fib entry for ${formatMac(this.ourMac)}: ${(err as Error).message}`);
      }
    }
    if (this.client === client && this.swIfIndex === sw && this.state === 'running') {
      this.emit('memif-connected', { swIfIndex: sw });
    }
  }

  private onInterfaceEvent(client: VppClient, ev: ApiRecord): void {
    if (client !== this.client || this.swIfIndex === null) return;
    const sw = num(ev, 'sw_if_index');
    if (sw !== this.swIfIndex) return;
    if (this.state === 'stopping' || this.state === 'stopped') return;
    if (ev['deleted'] === true) {
      void this.confirmDeleted(client, sw);
      return;
    }
    const up = (num(ev, 'flags') & IF_STATUS_LINK_UP) !== 0;
    if (up && !this.linkUp) {
      this.linkUp = true;
      if (this.ready) void this.onLinkUp();
    } else if (!up && this.linkUp) {
      this.linkUp = false;
      this.connectedNotified = false;
      if (this.ready) this.emit('memif-disconnected', { swIfIndex: sw });
    }
  }

  /**
   * VPP sends interface events from a process node, after the fact: the deletion of a stale
   * memif removed during bring-up can arrive once its sw_if_index already belongs to our new
   * one. So a deletion only counts when VPP no longer lists the interface.
   */
  private async confirmDeleted(client: VppClient, sw: number): Promise<void> {
    try {
      const still = await client.dump('sw_interface_dump', { sw_if_index: sw, name_filter_valid: false });
      if (still.some((d) => num(d, 'sw_if_index') === sw)) {
        this.logger.debug(`vpp: ignoring a late deletion event for sw_if_index ${sw}, which exists`);
        return;
      }
    } catch (err) {
      this.logger.debug(`vpp: cannot confirm the deletion of sw_if_index ${sw}: ${(err as Error).message}`);
      return;
    }
    if (client !== this.client || this.swIfIndex !== sw || this.state === 'stopping' || this.state === 'stopped') return;
    this.logger.verbose(`vpp: ${this.interfaceName} (sw_if_index ${sw}) was deleted in VPP`);
    this.swIfIndex = null;
    this.bridged = false;
    this.linkUp = false;
    this.connectedNotified = false;
    this.emit('interface-deleted', { swIfIndex: sw });
  }

  // -------------------------------------------------------------------------------------
  // Teardown
  // -------------------------------------------------------------------------------------

  /**
   * Runs a request whose failure must not stop the teardown: the given retvals mean "already
   * gone" and are quiet; other VPP refusals are logged. Losing the connection aborts the caller.
   */
  private async quietly(client: VppClient, name: string, fields: ApiInput, gone: number[]): Promise<void> {
    try {
      await client.request(name, fields);
    } catch (err) {
      if (err instanceof VppDisconnectedError) throw err;
      if (isRetval(err, ...gone)) {
        this.logger.debug(`vpp: ${name}: already gone`);
        return;
      }
      this.logger.error(`vpp: ${(err as Error).message}`);
    }
  }

  private async teardown(client: VppClient): Promise<void> {
    const chosen = this.chosen;
    const sw = this.swIfIndex;
    const { uid, bridgeId } = this.opts;
    this.ready = false;
    const l2fibSw = this.l2fibIndex ?? sw;
    if (l2fibSw !== null) {
      await this.quietly(client, 'l2fib_add_del', this.l2fibFields(l2fibSw, false), [VppRetval.NO_SUCH_ENTRY, VppRetval.INVALID_SW_IF_INDEX]);
      this.l2fibIndex = null;
    }
    if (sw !== null) {
      if (this.bridged) {
        await this.quietly(
          client,
          'sw_interface_set_l2_bridge',
          { rx_sw_if_index: sw, bd_id: bridgeId, port_type: L2_PORT_TYPE_NORMAL, enable: false },
          [VppRetval.INVALID_SW_IF_INDEX],
        );
        this.bridged = false;
      }
      await this.quietly(client, 'sw_interface_set_flags', { sw_if_index: sw, flags: 0 }, [VppRetval.INVALID_SW_IF_INDEX]);
      await this.quietly(client, 'memif_delete', { sw_if_index: sw }, [VppRetval.INVALID_SW_IF_INDEX]);
      this.swIfIndex = null;
      this.logger.verbose(`vpp: deleted ${this.interfaceName}`);
    }
    if (chosen && this.socketAdded) {
      await this.quietly(client, chosen.socketAddDel, { is_add: false, socket_id: uid }, [VppRetval.INVALID_ARGUMENT]);
      this.socketAdded = false;
    }
    if (chosen && this.bdOwned) {
      const bds = await client.dump('bridge_domain_dump', { bd_id: bridgeId, sw_if_index: ALL });
      const bd = bds.find((b) => num(b, 'bd_id') === bridgeId);
      if (bd && num(bd, 'n_sw_ifs') === 0) {
        await this.quietly(client, chosen.bdAddDel, { bd_id: bridgeId, is_add: false }, [VppRetval.NO_SUCH_ENTRY, VppRetval.BD_IN_USE]);
        this.logger.verbose(`vpp: deleted bridge domain ${bridgeId}, which this instance had created`);
        this.bdOwned = false;
      } else if (!bd) {
        this.bdOwned = false;
      }
    }
    if (client.has('want_interface_events')) {
      await this.quietly(client, 'want_interface_events', { enable_disable: 0, pid: process.pid }, [VppRetval.INVALID_REGISTRATION]);
    }
  }

  private withHint(err: unknown, hint: string): unknown {
    if (err instanceof VppApiError) return new VppApiError(err.messageName, err.retval, `While ${hint}`);
    return err;
  }

  // -------------------------------------------------------------------------------------
  // Reconnecting
  // -------------------------------------------------------------------------------------

  private onDisconnected(client: VppClient, err: Error): void {
    // A bring-up or a stop in progress sees its requests fail and deals with it.
    if (client !== this.client || this.state !== 'running') return;
    this.client = null;
    // VPP restarted (its state is gone) or only the API connection dropped (its state is
    // still there; the next bring-up removes it as stale). Either way, start from scratch.
    this.resetVppState();
    this.state = 'reconnecting';
    this.logger.error(`vpp: ${err.message}; reconnecting`);
    this.emit('vpp-disconnected', err);
    this.scheduleReconnect(this.opts.reconnect?.initialDelayMs ?? 500);
  }

  private scheduleReconnect(delayMs: number): void {
    const max = this.opts.reconnect?.maxDelayMs ?? 10_000;
    const factor = this.opts.reconnect?.factor ?? 2;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== 'reconnecting') return;
      const attempt = this.bringUp();
      this.inflight = attempt.then(
        () => {
          this.inflight = null;
          if (this.state !== 'reconnecting') return; // stop() waits for us, then tears down
          this.state = 'running';
          this.logger.verbose(`vpp: reconnected to ${this.opts.socketPath}; ${this.interfaceName} recreated`);
          this.emit('vpp-reconnected', { swIfIndex: this.swIfIndex as number });
          this.becomeReady();
        },
        (e: Error) => {
          this.inflight = null;
          if (this.state !== 'reconnecting') return;
          const next = Math.min(max, Math.max(1, delayMs * factor));
          this.logger.debug(`vpp: reconnect failed (${e.message}); next try in ${next} ms`);
          this.scheduleReconnect(next);
        },
      );
    }, delayMs);
  }
}
