// A client for VPP's binary API over its unix stream socket.
//
// Session: connect, send sockclnt_create (message id 15, fixed because VPP registers its
// memclnt messages first) and read sockclnt_create_reply, which carries our client index
// and VPP's message table (name_crc -> id). Every later message id comes from that table,
// and a message is only ever sent or decoded with a definition whose CRC matches the one
// VPP announces. Requests and replies are matched by `context`; a dump is closed by a
// control_ping sent with the same context (VPP answers in order, so its control_ping_reply
// comes after the last details message). Messages without a context (events) go to the
// listeners registered with onMessage. close() sends sockclnt_delete.
//
// Anything VPP sends that we cannot use (an id missing from the table, a layout we have no
// definition for, a truncated message, a reply nobody waits for) is counted in `stats`
// and dropped; it never throws out of the socket handler.

import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { knownVersions } from './api-loader.js';
import { codecFor, type ApiInput, type ApiRecord, type ApiValue, type MessageCodec } from './codec.js';
import type { ApiRegistry, MessageDef } from './definitions.js';
import {
  VppApiError,
  VppDisconnectedError,
  VppError,
  VppMessageUnavailableError,
  VppProtocolError,
  VppTimeoutError,
  type MessageCandidateReport,
} from './errors.js';
import { silentLogger, type Logger } from '../wireguard/log.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, connectUnix, encodeFrame } from './transport.js';

/** sockclnt_create's id: VPP's memclnt messages are registered first, in .api order. */
export const SOCKCLNT_CREATE_MSG_ID = 15;

export interface VppClientOptions {
  readonly socketPath: string;
  readonly registry: ApiRegistry;
  /** Shown by `vppctl show api clients`. */
  readonly clientName?: string;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly logger?: Logger;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

export interface ClientStats {
  /** Messages whose id is not in the table or whose layout we have no definition for. */
  unknownMessages: number;
  /** Messages too short or truncated for their definition. */
  malformedMessages: number;
  /** Replies (with a context) that no request was waiting for, e.g. after a time-out. */
  unsolicitedMessages: number;
}

interface TableEntry {
  readonly name: string;
  readonly crc: string;
  readonly id: number;
}

interface Bound {
  readonly id: number;
  readonly codec: MessageCodec;
}

interface Pending {
  readonly requestName: string;
  readonly replyName: string;
  readonly stream: boolean;
  readonly details: ApiRecord[];
  readonly resolve: (v: ApiRecord | ApiRecord[]) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type MessageListener = (msg: ApiRecord) => void;

const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
const CLOSE_TIMEOUT_MS = 1000;

/** Splits a table entry such as "memif_create_v2_8c7de5f7" into name and CRC. */
export function splitNameCrc(entry: string): { name: string; crc: string } | null {
  // VPP copies at most 63 characters; trim anything that is not part of an identifier.
  const clean = entry.replace(/[^A-Za-z0-9_].*$/s, '');
  const m = /^(.+)_([0-9a-fA-F]{8})$/.exec(clean);
  return m ? { name: m[1], crc: m[2].toLowerCase() } : null;
}

/** The entries of a sockclnt_create_reply message table that parse as name_crc. */
function readTable(raw: ApiValue | undefined): TableEntry[] {
  if (!Array.isArray(raw)) return [];
  const out: TableEntry[] = [];
  for (const e of raw) {
    if (typeof e !== 'object' || e === null || Array.isArray(e) || e instanceof Uint8Array) continue;
    const index = e['index'];
    const name = e['name'];
    if (typeof index !== 'number' || typeof name !== 'string') continue;
    const nc = splitNameCrc(name);
    if (nc) out.push({ name: nc.name, crc: nc.crc, id: index });
  }
  return out;
}

export class VppClient extends EventEmitter {
  readonly stats: ClientStats = { unknownMessages: 0, malformedMessages: 0, unsolicitedMessages: 0 };
  private readonly byName = new Map<string, TableEntry>();
  private readonly byId = new Map<number, TableEntry>();
  private readonly boundById = new Map<number, Bound | null>();
  private readonly pending = new Map<number, Pending>();
  private readonly messageListeners = new Map<string, Set<MessageListener>>();
  private readonly decoder: FrameDecoder;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private nextContext = 1;
  private clientIndexValue = 0;
  private closed = false;
  private closing = false;
  private closedPromise: Promise<void>;

  private constructor(
    private readonly sock: net.Socket,
    private readonly opts: VppClientOptions,
  ) {
    super();
    this.logger = opts.logger ?? silentLogger;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.decoder = new FrameDecoder(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    this.closedPromise = new Promise((resolve) => sock.once('close', () => resolve()));
  }

  /** Connects and registers with VPP. Rejects with a VppError that says what to check. */
  static async connect(opts: VppClientOptions): Promise<VppClient> {
    const sock = await connectUnix(opts.socketPath, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const client = new VppClient(sock, opts);
    try {
      await client.handshake(opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    } catch (err) {
      sock.destroy();
      throw err;
    }
    return client;
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** The index VPP gave this client; it goes into client_index of every request. */
  get clientIndex(): number {
    return this.clientIndexValue;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // -------------------------------------------------------------------------------------
  // Handshake
  // -------------------------------------------------------------------------------------

  private definitionsOf(name: string): MessageDef[] {
    return this.opts.registry.knownCrcs(name).flatMap((crc) => {
      const d = this.opts.registry.get(name, crc);
      return d ? [d] : [];
    });
  }

  private handshake(timeoutMs: number): Promise<void> {
    const createDefs = this.definitionsOf('sockclnt_create');
    const replyDefs = this.definitionsOf('sockclnt_create_reply');
    if (createDefs.length === 0 || replyDefs.length === 0) {
      return Promise.reject(new VppProtocolError('no definition of sockclnt_create / sockclnt_create_reply loaded'));
    }
    const context = 0x5eed;
    const payload = codecFor(createDefs[0]).encode({
      _vl_msg_id: SOCKCLNT_CREATE_MSG_ID,
      context,
      name: this.opts.clientName ?? 'wireguard-ts-vpp',
    });

    return new Promise<void>((resolve, reject) => {
      const path = this.opts.socketPath;
      const cleanup = () => {
        clearTimeout(timer);
        this.sock.off('data', onData);
        this.sock.off('close', onClose);
        this.sock.off('error', onError);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new VppTimeoutError('sockclnt_create', timeoutMs, path));
      }, timeoutMs);
      const onError = () => {};
      const onClose = () => {
        cleanup();
        reject(new VppDisconnectedError(path, 'VPP closed the connection during registration (sockclnt_create)'));
      };
      const onData = (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = this.decoder.push(chunk);
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (frames.length === 0) return;
        cleanup();
        try {
          this.acceptCreateReply(frames[0], replyDefs);
        } catch (err) {
          reject(err);
          return;
        }
        this.attach();
        // Anything that arrived behind the reply is handled like any later message.
        for (const f of frames.slice(1)) this.handleFrame(f);
        resolve();
      };
      this.sock.on('data', onData);
      this.sock.on('close', onClose);
      this.sock.on('error', onError);
      this.sock.write(encodeFrame(payload));
    });
  }

  /**
   * The reply carries the table that says which layout the reply itself has, so each known
   * layout is tried and kept only if the table it yields announces that very layout (name,
   * CRC and the id the reply came with).
   */
  private acceptCreateReply(frame: Buffer, replyDefs: MessageDef[]): void {
    if (frame.length < 2) throw new VppProtocolError('VPP answered sockclnt_create with an empty message');
    const id = frame.readUInt16BE(0);
    let lastError: Error | null = null;
    for (const def of replyDefs) {
      let reply: ApiRecord;
      try {
        reply = codecFor(def).decode(frame);
      } catch (err) {
        lastError = err as Error;
        continue;
      }
      const table = readTable(reply['message_table']);
      const self = table.find((e) => e.name === 'sockclnt_create_reply');
      this.byName.clear();
      this.byId.clear();
      for (const e of table) {
        this.byName.set(e.name, e);
        this.byId.set(e.id, e);
      }
      if (!self || self.id !== id || self.crc !== def.crc) {
        lastError = new VppMessageUnavailableError([this.report('sockclnt_create_reply')]);
        continue;
      }
      const response = reply['response'];
      if (typeof response === 'number' && response !== 0) {
        throw new VppProtocolError(`VPP refused the API client registration (sockclnt_create response ${response})`);
      }
      const index = reply['index'];
      this.clientIndexValue = typeof index === 'number' ? index : 0;
      this.logger.debug(
        `vpp: registered with ${this.opts.socketPath} as client ${this.clientIndexValue}, ${this.byName.size} messages in VPP's table`,
      );
      return;
    }
    if (lastError instanceof VppError) throw lastError;
    throw new VppProtocolError(`cannot decode VPP's sockclnt_create_reply: ${lastError?.message ?? 'no definition'}`);
  }

  private attach(): void {
    this.sock.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        // A corrupt stream cannot be resynchronised: drop the connection.
        this.logger.error(`vpp: ${(err as Error).message}`);
        this.sock.destroy(err as Error);
        return;
      }
      for (const f of frames) this.handleFrame(f);
    });
    this.sock.on('error', (err) => this.logger.debug(`vpp: API socket error: ${err.message}`));
    this.sock.on('close', () => this.onClosed());
  }

  // -------------------------------------------------------------------------------------
  // Message table
  // -------------------------------------------------------------------------------------

  /** Whether VPP has this message with a layout we can encode and decode. */
  has(name: string): boolean {
    return this.bind(name) !== null;
  }

  /** VPP's CRC for a message name, or null when VPP lacks it. */
  vppCrc(name: string): string | null {
    return this.byName.get(name)?.crc ?? null;
  }

  private bind(name: string): Bound | null {
    const entry = this.byName.get(name);
    if (!entry) return null;
    const def = this.opts.registry.get(name, entry.crc);
    if (!def) return null;
    return { id: entry.id, codec: codecFor(def) };
  }

  private boundForId(id: number): Bound | null {
    const cached = this.boundById.get(id);
    if (cached !== undefined) return cached;
    const entry = this.byId.get(id);
    let bound: Bound | null = null;
    if (entry) {
      try {
        bound = this.bind(entry.name);
      } catch (err) {
        this.logger.debug(`vpp: cannot use definition of ${entry.name}: ${(err as Error).message}`);
      }
    }
    this.boundById.set(id, bound);
    return bound;
  }

  private report(name: string): MessageCandidateReport {
    const knownCrcs = this.opts.registry.knownCrcs(name);
    return {
      name,
      vppCrc: this.vppCrc(name),
      knownCrcs,
      knownVersions: knownCrcs.flatMap((c) => knownVersions(name, c)),
    };
  }

  /** The names a request depends on: itself, its reply, and for dumps the control ping. */
  private partsOf(name: string): string[] {
    const s = this.opts.registry.replyOf(name);
    return s.stream ? [name, s.reply, 'control_ping', 'control_ping_reply'] : [name, s.reply];
  }

  /**
   * The first of `names` that VPP has with a layout we know (request and reply alike), in
   * order of preference, e.g. ['memif_create_v2', 'memif_create']. Throws
   * VppMessageUnavailableError naming each candidate, VPP's CRC and the CRCs we know.
   */
  choose(names: readonly string[]): string {
    const reports: MessageCandidateReport[] = [];
    for (const name of names) {
      const missing = this.partsOf(name).filter((p) => !this.has(p));
      if (missing.length === 0) return name;
      reports.push(this.report(missing[0]));
    }
    throw new VppMessageUnavailableError(reports);
  }

  /** Throws VppMessageUnavailableError unless every named message is usable. */
  require(names: readonly string[]): void {
    const missing = names.filter((n) => !this.has(n));
    if (missing.length > 0) throw new VppMessageUnavailableError(missing.map((n) => this.report(n)));
  }

  // -------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------

  private allocContext(): number {
    // u32, never 0, and never one still in use.
    for (;;) {
      const c = this.nextContext;
      this.nextContext = this.nextContext >= 0xffffffff ? 1 : this.nextContext + 1;
      if (!this.pending.has(c)) return c;
    }
  }

  private send(bound: Bound, fields: ApiInput, context: number): void {
    const input: ApiInput = { ...fields, _vl_msg_id: bound.id, context };
    if (bound.codec.hasField('client_index')) input['client_index'] = this.clientIndexValue;
    this.sock.write(encodeFrame(bound.codec.encode(input)));
  }

  private start(name: string, fields: ApiInput, timeoutMs: number): Promise<ApiRecord | ApiRecord[]> {
    if (this.closed || this.sock.destroyed) {
      return Promise.reject(new VppDisconnectedError(this.opts.socketPath, `cannot send ${name}`));
    }
    const service = this.opts.registry.replyOf(name);
    const parts = this.partsOf(name).map((p) => ({ p, b: this.bind(p) }));
    const unusable = parts.filter((x) => x.b === null);
    if (unusable.length > 0) {
      return Promise.reject(new VppMessageUnavailableError(unusable.map((x) => this.report(x.p))));
    }
    const request = parts[0].b as Bound;
    const context = this.allocContext();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(context);
        reject(new VppTimeoutError(name, timeoutMs, this.opts.socketPath));
      }, timeoutMs);
      this.pending.set(context, {
        requestName: name,
        replyName: service.reply,
        stream: service.stream,
        details: [],
        resolve,
        reject,
        timer,
      });
      try {
        this.send(request, fields, context);
        if (service.stream) this.send(parts[2].b as Bound, {}, context);
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(context);
        reject(err);
      }
    });
  }

  /**
   * Sends a request and resolves with its reply. A reply with retval != 0 rejects with
   * VppApiError (VPP's error name and a sentence).
   */
  async request(name: string, fields: ApiInput = {}, opts: RequestOptions = {}): Promise<ApiRecord> {
    const r = await this.start(name, fields, opts.timeoutMs ?? this.requestTimeoutMs);
    return r as ApiRecord;
  }

  /** Sends a dump request and resolves with all its details messages. */
  async dump(name: string, fields: ApiInput = {}, opts: RequestOptions = {}): Promise<ApiRecord[]> {
    if (!this.opts.registry.replyOf(name).stream) {
      throw new VppError(`${name} is not a dump`);
    }
    const r = await this.start(name, fields, opts.timeoutMs ?? this.requestTimeoutMs);
    return r as ApiRecord[];
  }

  /** Listens for a message VPP sends on its own (an event such as sw_interface_event). */
  onMessage(name: string, listener: MessageListener): () => void {
    let set = this.messageListeners.get(name);
    if (!set) {
      set = new Set();
      this.messageListeners.set(name, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  // -------------------------------------------------------------------------------------
  // Incoming messages
  // -------------------------------------------------------------------------------------

  private handleFrame(frame: Buffer): void {
    if (frame.length < 2) {
      this.stats.malformedMessages++;
      return;
    }
    const id = frame.readUInt16BE(0);
    const bound = this.boundForId(id);
    if (!bound) {
      this.stats.unknownMessages++;
      this.logger.debug(`vpp: dropped message id ${id}: not in VPP's table or no matching definition`);
      return;
    }
    let msg: ApiRecord;
    try {
      msg = bound.codec.decode(frame);
    } catch (err) {
      this.stats.malformedMessages++;
      this.failMalformed(bound, frame, err as Error);
      return;
    }
    this.dispatch(bound.codec.name, msg);
  }

  private failMalformed(bound: Bound, frame: Buffer, err: Error): void {
    this.logger.debug(`vpp: malformed ${bound.codec.name}: ${err.message}`);
    // Replies carry their context right after the id; fail the waiting request at once.
    if (bound.codec.fieldNames[1] === 'context' && frame.length >= 6) {
      const p = this.pending.get(frame.readUInt32BE(2));
      if (p) this.settle(frame.readUInt32BE(2), new VppProtocolError(`VPP sent a malformed ${bound.codec.name}: ${err.message}`));
    }
  }

  private settle(context: number, result: Error | ApiRecord | ApiRecord[]): void {
    const p = this.pending.get(context);
    if (!p) return;
    this.pending.delete(context);
    clearTimeout(p.timer);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private dispatch(name: string, msg: ApiRecord): void {
    const context = msg['context'];
    if (name === 'memclnt_keepalive') {
      this.answerKeepalive(msg);
      return;
    }
    if (typeof context === 'number' && this.pending.has(context)) {
      this.route(context, name, msg);
      return;
    }
    const set = this.messageListeners.get(name);
    if (set && set.size > 0) {
      for (const l of [...set]) {
        try {
          l(msg);
        } catch (err) {
          this.logger.error(`vpp: listener for ${name} failed: ${(err as Error).message}`);
        }
      }
      return;
    }
    this.stats.unsolicitedMessages++;
    this.logger.debug(`vpp: dropped unsolicited ${name}`);
  }

  private route(context: number, name: string, msg: ApiRecord): void {
    const p = this.pending.get(context) as Pending;
    if (p.stream) {
      if (name === p.replyName) {
        p.details.push(msg);
      } else if (name === 'control_ping_reply') {
        this.settle(context, p.details);
      } else {
        this.settle(context, new VppProtocolError(`VPP answered ${p.requestName} with ${name}`));
      }
      return;
    }
    if (name !== p.replyName) {
      this.settle(context, new VppProtocolError(`VPP answered ${p.requestName} with ${name}`));
      return;
    }
    const retval = msg['retval'];
    if (typeof retval === 'number' && retval !== 0) {
      this.settle(context, new VppApiError(p.requestName, retval));
      return;
    }
    this.settle(context, msg);
  }

  private answerKeepalive(msg: ApiRecord): void {
    const reply = this.bind('memclnt_keepalive_reply');
    const context = msg['context'];
    if (!reply || typeof context !== 'number' || this.closed) return;
    try {
      this.send(reply, { retval: 0 }, context);
    } catch (err) {
      this.logger.debug(`vpp: cannot answer keepalive: ${(err as Error).message}`);
    }
  }

  // -------------------------------------------------------------------------------------
  // Closing
  // -------------------------------------------------------------------------------------

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const intentional = this.closing;
    const detail = intentional ? 'closed by this client' : 'VPP closed the connection (VPP stopped or restarted?)';
    for (const context of [...this.pending.keys()]) {
      this.settle(context, new VppDisconnectedError(this.opts.socketPath, detail));
    }
    if (!intentional) {
      this.logger.verbose(`vpp: lost the API connection to ${this.opts.socketPath}`);
      this.emit('disconnected', new VppDisconnectedError(this.opts.socketPath, detail));
    }
    this.emit('close');
  }

  /**
   * Unregisters (sockclnt_delete) and closes the socket. Never rejects: a VPP that is
   * already gone is simply closed on our side.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.closing) {
      this.closing = true;
      if (this.has('sockclnt_delete') && this.has('sockclnt_delete_reply')) {
        try {
          // VPP answers with response = 1 and closes its end.
          await this.request('sockclnt_delete', { index: this.clientIndexValue }, { timeoutMs: CLOSE_TIMEOUT_MS });
        } catch (err) {
          this.logger.debug(`vpp: sockclnt_delete: ${(err as Error).message}`);
        }
      }
      this.sock.destroy();
    }
    await this.closedPromise;
  }

  /** Drops the connection without unregistering (what a crash looks like to VPP). */
  destroy(): void {
    this.closing = true;
    this.sock.destroy();
  }
}
