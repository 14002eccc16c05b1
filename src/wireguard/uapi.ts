// The text protocol of WireGuard's cross-platform userspace API (wireguard.com/xplatform),
// the one wg(8) speaks over /var/run/wireguard/<name>.sock. Pure functions, no sockets:
// the socket server frames the stream with UapiFramer and answers each request with
// handleUapiRequest.
//
// Behaviour follows wireguard-go, so that wg(8) sees the same thing:
//   - "get=1\n\n" is answered with key=value lines, then "errno=0\n\n";
//   - "set=1\n" + key=value lines + "\n" is answered with "errno=N\n\n", N being 0 or a
//     NEGATIVE errno (wireguard-go writes -EINVAL etc.; wg(8) reads the number with
//     fscanf("errno=%d") and sets errno = -N, so a positive value would print as garbage);
//   - the same keys, values and error classes (EINVAL for a bad key or value, EPROTO for a
//     line that is not key=value, EADDRINUSE when the port cannot be bound).
// One deliberate difference: a set is parsed and validated completely before anything is
// applied, so a bad line in the middle changes nothing (wireguard-go applies the lines
// before the bad one).
import type { DeviceConfigChange, DeviceState, PeerConfigChange, PeerState } from './config.js';
import { formatEndpoint } from './endpoint.js';
import { formatPrefix, parseEndpoint, parsePrefix, parseUnsigned, prefixKey } from './ip.js';
import type { Logger } from './log.js';

// Linux errno values (the daemon runs on Linux; wg(8) only prints them back).
export const EIO = 5;
export const EINVAL = 22;
export const EPROTO = 71;
export const EADDRINUSE = 98;

/** Longest key=value line accepted (the longest legitimate one is under 100 characters). */
export const MAX_LINE_LENGTH = 4096;
/**
 * Largest request accepted, in characters. `wg setconf` with 1000 peers, each with a
 * preshared key, an endpoint, a keepalive and four allowed IPs, sends about 370 KB; 8 MiB
 * leaves room for some 20 000 such peers while still bounding memory per connection.
 */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** Most lines accepted in one request (bounded by MAX_REQUEST_BYTES in practice too). */
export const MAX_REQUEST_LINES = 1 << 19;

/** A request the protocol refuses; `errno` is positive (EINVAL, EPROTO, ...). */
export class UapiError extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.name = 'UapiError';
    this.errno = errno;
  }
}

// ---------------------------------------------------------------------------------------
// set: text -> DeviceConfigChange

/**
 * Parses the lines of a set operation (after "set=1", without the terminating empty line;
 * trailing empty lines are tolerated) into a change, validating every line. Throws
 * UapiError on the first bad line; parsing never applies anything.
 *
 * Semantics of a peer block (the lines after a `public_key=` line): as with the kernel's
 * peer flags, `remove=true` makes the block a removal (its other lines are still
 * validated, then ignored) and `update_only=true` holds for the whole block; as in
 * wireguard-go's line-by-line handling, `replace_allowed_ips=true` drops the allowed IPs
 * listed before it in the block. (wg(8) never sends these in any other order.)
 *
 * Several blocks for one public key are merged in order into one entry. Where merging
 * would change the outcome (a removal followed by a new block for the key, which recreates
 * the peer; an update-only block followed by a creating one; a replace after added
 * prefixes; or a prefix that another peer's block in between also claims), the later
 * block becomes a separate entry after it instead. So `peers` has one entry per key for
 * anything wg(8) sends, and in any case must be applied in order.
 */
export function parseSet(lines: readonly string[]): DeviceConfigChange {
  if (lines.length > MAX_REQUEST_LINES) {
    throw new UapiError(EPROTO, `too many lines in one request (more than ${MAX_REQUEST_LINES})`);
  }
  const change: DeviceConfigChange = { replacePeers: false, peers: [] };
  // One entry per `public_key=` block, in order; merged at the end.
  const blocks: PeerConfigChange[] = [];
  let block: PeerConfigChange | null = null;
  let ended = false;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.length === 0) {
      ended = true;
      continue;
    }
    if (ended) throw new UapiError(EPROTO, `line ${n + 1}: text after the end of the operation`);
    if (line.length > MAX_LINE_LENGTH) throw new UapiError(EPROTO, `line ${n + 1}: line too long`);
    const eq = line.indexOf('=');
    if (eq < 0) throw new UapiError(EPROTO, `line ${n + 1}: not a key=value line: ${quote(line)}`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      block = newPeerChange(parseKey(value, 'public_key', n));
      blocks.push(block);
    } else if (block === null) {
      parseDeviceLine(change, key, value, n);
    } else {
      parsePeerLine(block, key, value, n);
    }
  }
  change.peers = mergeBlocks(blocks);
  return change;
}

function newPeerChange(publicKey: Uint8Array): PeerConfigChange {
  return { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, allowedIps: [] };
}

function parseDeviceLine(change: DeviceConfigChange, key: string, value: string, n: number): void {
  switch (key) {
    case 'private_key':
      change.privateKey = parseKey(value, key, n);
      return;
    case 'listen_port':
      change.listenPort = parseNumber(value, 0xffff, key, n);
      return;
    case 'fwmark':
      change.fwmark = parseNumber(value, 0xffffffff, key, n);
      return;
    case 'replace_peers':
      parseTrue(value, key, n);
      change.replacePeers = true;
      return;
    default:
      throw new UapiError(EINVAL, `line ${n + 1}: invalid device key ${quote(key)}`);
  }
}

function parsePeerLine(peer: PeerConfigChange, key: string, value: string, n: number): void {
  switch (key) {
    case 'update_only':
      parseTrue(value, key, n);
      peer.updateOnly = true;
      return;
    case 'remove':
      parseTrue(value, key, n);
      peer.remove = true;
      return;
    case 'preshared_key':
      peer.presharedKey = parseKey(value, key, n);
      return;
    case 'endpoint': {
      const endpoint = parseEndpoint(value);
      if (endpoint === null) throw new UapiError(EINVAL, `line ${n + 1}: invalid endpoint ${quote(value)}`);
      peer.endpoint = endpoint;
      return;
    }
    case 'persistent_keepalive_interval':
      peer.persistentKeepaliveInterval = parseNumber(value, 0xffff, key, n);
      return;
    case 'replace_allowed_ips':
      parseTrue(value, key, n);
      peer.replaceAllowedIps = true;
      peer.allowedIps = [];
      return;
    case 'allowed_ip': {
      const prefix = parsePrefix(value);
      if (prefix === null) throw new UapiError(EINVAL, `line ${n + 1}: invalid allowed IP ${quote(value)}`);
      peer.allowedIps.push(prefix);
      return;
    }
    case 'protocol_version':
      if (value !== '1') throw new UapiError(EINVAL, `line ${n + 1}: unsupported protocol version ${quote(value)}`);
      return;
    default:
      throw new UapiError(EINVAL, `line ${n + 1}: invalid peer key ${quote(key)}`);
  }
}

/** 32 bytes from 64 hex digits. The value is never echoed: it may be a secret. */
function parseKey(value: string, key: string, n: number): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) {
    throw new UapiError(EINVAL, `line ${n + 1}: ${key} is not 64 hexadecimal digits`);
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(value.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function parseNumber(value: string, max: number, key: string, n: number): number {
  const v = parseUnsigned(value, max);
  if (v < 0) throw new UapiError(EINVAL, `line ${n + 1}: invalid ${key} ${quote(value)} (0..${max})`);
  return v;
}

/** Flags take only "true", as in wireguard-go. */
function parseTrue(value: string, key: string, n: number): void {
  if (value !== 'true') throw new UapiError(EINVAL, `line ${n + 1}: invalid ${key} value ${quote(value)}`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? text.slice(0, 64) + '...' : text);
}

/** Folds blocks for the same key together where that is exact (see parseSet). */
function mergeBlocks(blocks: PeerConfigChange[]): PeerConfigChange[] {
  const out: PeerConfigChange[] = [];
  const lastIndex = new Map<string, number>(); // hex public key -> index in out
  for (const block of blocks) {
    if (block.remove) clearForRemoval(block);
    const id = hex(block.publicKey);
    const at = lastIndex.get(id);
    if (at !== undefined && canMerge(out, at, block)) {
      mergeInto(out[at], block);
    } else {
      lastIndex.set(id, out.length);
      out.push(block);
    }
  }
  return out;
}

function clearForRemoval(peer: PeerConfigChange): void {
  peer.updateOnly = false;
  peer.presharedKey = undefined;
  peer.endpoint = undefined;
  peer.persistentKeepaliveInterval = undefined;
  peer.replaceAllowedIps = false;
  peer.allowedIps = [];
}

function canMerge(out: PeerConfigChange[], at: number, block: PeerConfigChange): boolean {
  const entry = out[at];
  if (entry.remove || block.remove) return entry.remove && block.remove;
  if (entry.updateOnly && !block.updateOnly) return false;
  if (block.replaceAllowedIps && entry.allowedIps.length > 0) return false;
  if (block.allowedIps.length === 0 || at === out.length - 1) return true;
  // Moving the block's prefixes before later entries must not change who ends up with them.
  const claimed = new Set(block.allowedIps.map(prefixKey));
  for (let i = at + 1; i < out.length; i++) {
    for (const p of out[i].allowedIps) if (claimed.has(prefixKey(p))) return false;
  }
  return true;
}

function mergeInto(entry: PeerConfigChange, block: PeerConfigChange): void {
  if (block.remove) return; // both removals: nothing to add
  if (block.presharedKey !== undefined) entry.presharedKey = block.presharedKey;
  if (block.endpoint !== undefined) entry.endpoint = block.endpoint;
  if (block.persistentKeepaliveInterval !== undefined) {
    entry.persistentKeepaliveInterval = block.persistentKeepaliveInterval;
  }
  if (block.replaceAllowedIps) entry.replaceAllowedIps = true;
  entry.allowedIps = entry.allowedIps.concat(block.allowedIps);
}

// ---------------------------------------------------------------------------------------
// get: DeviceState -> text

const HEX = '0123456789abcdef';

function hex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  return s;
}

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Integer text without exponent notation (counters may exceed 2^31). */
function uint(n: number): string {
  return Number.isFinite(n) && n > 0 ? BigInt(Math.trunc(n)).toString() : '0';
}

/**
 * The body of a get reply (without the final "errno=0" line), in wireguard-go's order:
 * private_key (if set), listen_port (if nonzero), fwmark (if nonzero), then per peer
 * public_key, preshared_key (always; all zeros means none, which wg(8) understands),
 * protocol_version, endpoint (if known), last_handshake_time_sec/_nsec, tx_bytes,
 * rx_bytes, persistent_keepalive_interval and one allowed_ip line per prefix.
 */
export function formatGet(state: DeviceState): string {
  const lines: string[] = [];
  if (state.privateKey !== null && !isZero(state.privateKey)) lines.push(`private_key=${hex(state.privateKey)}`);
  if (state.listenPort !== 0) lines.push(`listen_port=${uint(state.listenPort)}`);
  if (state.fwmark !== 0) lines.push(`fwmark=${uint(state.fwmark)}`);
  for (const peer of state.peers) formatPeer(peer, lines);
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

function formatPeer(peer: PeerState, lines: string[]): void {
  lines.push(`public_key=${hex(peer.publicKey)}`);
  lines.push(`preshared_key=${hex(peer.presharedKey)}`);
  lines.push(`protocol_version=${peer.protocolVersion > 0 ? uint(peer.protocolVersion) : '1'}`);
  if (peer.endpoint !== null) lines.push(`endpoint=${formatEndpoint(peer.endpoint)}`);
  lines.push(`last_handshake_time_sec=${uint(peer.lastHandshakeTimeSec)}`);
  lines.push(`last_handshake_time_nsec=${uint(peer.lastHandshakeTimeNsec)}`);
  lines.push(`tx_bytes=${uint(peer.txBytes)}`);
  lines.push(`rx_bytes=${uint(peer.rxBytes)}`);
  lines.push(`persistent_keepalive_interval=${uint(peer.persistentKeepaliveInterval)}`);
  for (const prefix of peer.allowedIps) lines.push(`allowed_ip=${formatPrefix(prefix)}`);
}

// ---------------------------------------------------------------------------------------
// One request -> one response

export interface UapiTarget {
  state(): DeviceState;
  /** Applies a whole change or nothing; may throw an error with an `errno` number. */
  applyConfig(change: DeviceConfigChange): Promise<void>;
}

/** The status line that ends every response: "errno=0" or "errno=-N" as wireguard-go writes it. */
export function formatErrno(errno: number): string {
  return errno === 0 ? 'errno=0\n\n' : `errno=${-Math.abs(errno)}\n\n`;
}

const ERRNO_BY_CODE: Readonly<Record<string, number>> = {
  EIO,
  EINVAL,
  EPROTO,
  EADDRINUSE,
  EACCES: 13,
  EPERM: 1,
  ENOMEM: 12,
  EADDRNOTAVAIL: 99,
  EAFNOSUPPORT: 97,
  ENODEV: 19,
  ENOENT: 2,
  EEXIST: 17,
};

/**
 * The positive errno an exception stands for: UapiError's own, a numeric `errno` property
 * (Node's system errors carry it negative), a known `code` string, else EIO.
 */
export function errnoOf(err: unknown): number {
  if (err instanceof UapiError) return err.errno;
  if (typeof err === 'object' && err !== null) {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.errno === 'number' && Number.isInteger(e.errno) && e.errno !== 0) return Math.abs(e.errno);
    if (typeof e.code === 'string' && Object.hasOwn(ERRNO_BY_CODE, e.code)) return ERRNO_BY_CODE[e.code];
  }
  return EIO;
}

/**
 * Answers one request: its whole text, from the "get=1"/"set=1" line to the terminating
 * empty line. Returns the full response, always ending in "errno=N\n\n"; never throws.
 * Errors are described to `logger` (never with key material).
 */
export async function handleUapiRequest(target: UapiTarget, request: string, logger?: Logger): Promise<string> {
  try {
    const { op, body } = splitRequest(request);
    if (op === 'get=1') {
      if (body.length !== 0) throw new UapiError(EINVAL, 'get takes no arguments');
      return formatGet(target.state()) + formatErrno(0);
    }
    if (op === 'set=1') {
      const change = parseSet(body);
      await target.applyConfig(change);
      return formatErrno(0);
    }
    throw new UapiError(EINVAL, `invalid operation ${quote(op)}`);
  } catch (err) {
    const errno = errnoOf(err);
    logger?.error(`UAPI: ${err instanceof Error ? err.message : String(err)} (errno ${errno})`);
    return formatErrno(errno);
  }
}

/**
 * Splits a request into its operation line and the key=value lines before the first empty
 * line, enforcing the size bounds while scanning (no unbounded split of hostile input).
 * A missing final empty line is tolerated, text after it is not.
 */
function splitRequest(request: string): { op: string; body: string[] } {
  if (request.length > MAX_REQUEST_BYTES) throw new UapiError(EPROTO, 'request too large');
  const lines: string[] = [];
  let start = 0;
  while (start < request.length) {
    let end = request.indexOf('\n', start);
    if (end < 0) end = request.length;
    if (end - start > MAX_LINE_LENGTH) throw new UapiError(EPROTO, `line ${lines.length + 1}: line too long`);
    const line = request.slice(start, end);
    start = end + 1;
    if (line.length === 0) {
      if (lines.length === 0) throw new UapiError(EINVAL, 'empty operation line');
      for (let i = start; i < request.length; i++) {
        if (request.charCodeAt(i) !== 0x0a) throw new UapiError(EPROTO, 'text after the end of the request');
      }
      break;
    }
    if (lines.length >= MAX_REQUEST_LINES) throw new UapiError(EPROTO, 'too many lines in one request');
    lines.push(line);
  }
  if (lines.length === 0) throw new UapiError(EINVAL, 'empty request');
  return { op: lines[0], body: lines.slice(1) };
}

// ---------------------------------------------------------------------------------------
// Stream framing for the socket server

/**
 * Cuts a character stream into complete requests, each ending in "\n\n" (a line, then an
 * empty line) and returned with that ending. Holds at most `maxBytes` characters of an
 * unfinished request; past that it sets `overflowed`, drops what it held and ignores all
 * further input: the server should answer formatErrno(EPROTO) and close the connection.
 * Appends chunk by chunk and scans only new text, so a large request arriving in many
 * small chunks costs linear time.
 */
export class UapiFramer {
  private parts: string[] = [];
  private held = 0;
  /** The held text ends with "\n" (so a "\n" at the start of the next chunk ends a request). */
  private heldEndsWithNewline = false;
  private over = false;

  constructor(private readonly maxBytes: number = MAX_REQUEST_BYTES) {}

  get overflowed(): boolean {
    return this.over;
  }

  /** Characters of an unfinished request currently held. */
  get pending(): number {
    return this.held;
  }

  push(chunk: string): string[] {
    const out: string[] = [];
    if (this.over) return out;
    let start = 0; // first character of `chunk` not yet handed out or held
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', from);
      if (nl < 0) break;
      from = nl + 1;
      const previousIsNewline = nl > start ? chunk.charCodeAt(nl - 1) === 0x0a : this.heldEndsWithNewline;
      if (!previousIsNewline) continue;
      if (this.held + (nl + 1 - start) > this.maxBytes) return this.overflow(out);
      this.parts.push(chunk.slice(start, nl + 1));
      out.push(this.parts.join(''));
      this.parts = [];
      this.held = 0;
      this.heldEndsWithNewline = false;
      start = nl + 1;
    }
    if (start < chunk.length) {
      if (this.held + (chunk.length - start) > this.maxBytes) return this.overflow(out);
      this.parts.push(chunk.slice(start));
      this.held += chunk.length - start;
      this.heldEndsWithNewline = chunk.charCodeAt(chunk.length - 1) === 0x0a;
    }
    return out;
  }

  /** Marks the stream broken; requests completed before the overflow are still returned. */
  private overflow(complete: string[]): string[] {
    this.over = true;
    this.parts = [];
    this.held = 0;
    return complete;
  }
}
