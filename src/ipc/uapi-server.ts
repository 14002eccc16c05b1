// The UAPI socket server: /var/run/wireguard/<name>.sock, the unix stream socket wg(8)
// talks to. Each connection's byte stream is cut into requests by UapiFramer and each
// request answered by handleUapiRequest; requests of all connections run one at a time,
// as wireguard-go holds one IPC lock, so a `set` never interleaves with another.
import { chmod, link, lstat, mkdir, rename, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../wireguard/log.js';
import {
  EADDRINUSE,
  EPROTO,
  MAX_REQUEST_BYTES,
  UapiFramer,
  formatErrno,
  handleUapiRequest,
  type UapiTarget,
} from '../wireguard/uapi.js';

export const DEFAULT_UAPI_DIR = '/var/run/wireguard';

export interface UapiServerOptions {
  /** Socket directory (default /var/run/wireguard; created 0755 if missing). */
  dir?: string;
  logger?: Logger;
  /** How often the socket file is checked for removal (default 1000 ms). */
  watchIntervalMs?: number;
  /** Largest request a connection may send (default MAX_REQUEST_BYTES). */
  maxRequestBytes?: number;
  /** Connections served at once at most; more are closed at once (default 64). */
  maxConnections?: number;
}

/** How long the liveness probe of an existing socket may take. */
const PROBE_TIMEOUT_MS = 1000;

export class UapiServer {
  readonly path: string;
  private readonly removedHandlers: Array<() => void> = [];
  private readonly connections = new Set<Socket>();
  /** Serializes requests across connections. */
  private queue: Promise<unknown> = Promise.resolve();
  private watchTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private removedFired = false;

  private constructor(
    private readonly server: Server,
    private readonly target: UapiTarget,
    path: string,
    private readonly ino: number,
    private readonly opts: Required<Pick<UapiServerOptions, 'maxRequestBytes' | 'maxConnections'>> & {
      logger: Logger;
    },
  ) {
    this.path = path;
  }

  /**
   * Listens on `<dir>/<name>.sock`. Refuses (Error with errno EADDRINUSE) when another
   * live process answers on that socket; removes a stale one first.
   */
  static async listen(name: string, target: UapiTarget, options: UapiServerOptions = {}): Promise<UapiServer> {
    const dir = options.dir ?? DEFAULT_UAPI_DIR;
    const logger = options.logger ?? silentLogger;
    const path = join(dir, `${name}.sock`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await removeStaleSocket(path);

    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
    await listenPrivately(server, path);
    await chmod(path, 0o600);
    const ino = (await lstat(path)).ino;
    const uapi = new UapiServer(server, target, path, ino, {
      logger,
      maxRequestBytes: options.maxRequestBytes ?? MAX_REQUEST_BYTES,
      maxConnections: options.maxConnections ?? 64,
    });
    server.on('connection', (sock) => uapi.serve(sock));
    server.on('error', (err) => logger.error(`UAPI server: ${err.message}`));
    uapi.watch(options.watchIntervalMs ?? 1000);
    logger.verbose(`UAPI listening on ${path}`);
    return uapi;
  }

  /** Called once when the socket file is removed or replaced by someone else. */
  onRemoved(handler: () => void): void {
    this.removedHandlers.push(handler);
  }

  /** Stops serving and removes the socket file if it is still ours. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    for (const sock of this.connections) sock.destroy();
    // libuv unlinks a listening socket's path when it closes, whoever's file it is by
    // then. If ours was replaced by another daemon's, keep theirs aside under a second
    // name meanwhile and put it back.
    const parked = (await this.isOurs()) ? null : await park(this.path);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (parked !== null) await rename(parked, this.path).catch(() => unlink(parked).catch(() => {}));
  }

  private async isOurs(): Promise<boolean> {
    try {
      return (await lstat(this.path)).ino === this.ino;
    } catch {
      return false;
    }
  }

  // ---- connections -------------------------------------------------------------------

  private serve(sock: Socket): void {
    if (this.closed || this.connections.size >= this.opts.maxConnections) {
      sock.destroy();
      return;
    }
    this.connections.add(sock);
    sock.on('close', () => this.connections.delete(sock));
    // A client that goes away mid-reply is not our error.
    sock.on('error', () => {});
    // latin1 maps bytes to characters one to one: sizes stay byte sizes, and any byte
    // that is not plain ASCII simply fails to parse.
    sock.setEncoding('latin1');
    const framer = new UapiFramer(this.opts.maxRequestBytes);
    const pending: string[] = [];
    let working = false;
    let peerEnded = false;

    const work = async (): Promise<void> => {
      working = true;
      // Hold further input in the kernel while we answer: the queue stays one chunk long.
      sock.pause();
      while (pending.length > 0 && !sock.destroyed) {
        const request = pending.shift() as string;
        const reply = await this.answer(request);
        if (sock.destroyed) break;
        if (!sock.write(reply)) await drained(sock);
      }
      working = false;
      if (sock.destroyed) return;
      if (framer.overflowed) {
        this.opts.logger.error(`UAPI: request larger than ${this.opts.maxRequestBytes} bytes, closing connection`);
        sock.end(formatErrno(EPROTO), () => sock.destroy());
      } else if (peerEnded) {
        sock.end();
      } else {
        sock.resume();
      }
    };

    sock.on('data', (chunk: string) => {
      if (sock.writableEnded) return;
      for (const request of framer.push(chunk)) pending.push(request);
      if (!working) void work();
    });
    sock.on('end', () => {
      peerEnded = true;
      if (!working && !sock.writableEnded) void work();
    });
  }

  private answer(request: string): Promise<string> {
    const next = this.queue.then(() => handleUapiRequest(this.target, request, this.opts.logger));
    this.queue = next.catch(() => {});
    return next;
  }

  // ---- removal detection --------------------------------------------------------------

  /** `rm` of the socket file is how wireguard-go users stop a daemon: notice it. */
  private watch(intervalMs: number): void {
    this.watchTimer = setInterval(() => void this.checkPresence(), intervalMs);
    this.watchTimer.unref();
  }

  private async checkPresence(): Promise<void> {
    if (this.closed || this.removedFired) return;
    const present = await this.isOurs();
    if (present || this.closed || this.removedFired) return;
    this.removedFired = true;
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.opts.logger.verbose(`UAPI socket ${this.path} was removed`);
    for (const handler of this.removedHandlers) handler();
  }
}

/** Hard-links the file at `path` to a side name; null when there is nothing to keep. */
async function park(path: string): Promise<string | null> {
  const side = `${path}.${process.pid}.keep`;
  try {
    await link(path, side);
    return side;
  } catch {
    return null;
  }
}

/** Resolves when the socket can take more writes (or is gone). */
function drained(sock: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

/**
 * An existing socket file that nobody answers on is a leftover: remove it. One that
 * answers belongs to a running daemon: refuse. Anything else in the way: refuse too.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw inUse(path, `${path} exists and is not a socket`);
  if (await answers(path)) throw inUse(path, `UAPI socket ${path} is in use by another process`);
  await unlink(path).catch(() => {});
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    const finish = (live: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    // A daemon too busy to accept within the timeout still holds the socket.
    const timer = setTimeout(() => finish(true), PROBE_TIMEOUT_MS);
    probe.once('connect', () => finish(true));
    probe.once('error', (err: NodeJS.ErrnoException) => finish(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

function inUse(path: string, message: string): Error {
  return Object.assign(new Error(message), { errno: EADDRINUSE, code: 'EADDRINUSE', path });
}

/**
 * listen() with umask 077, so the socket never exists with wider permissions. The bind
 * happens synchronously inside listen(), so restoring the umask right after is enough.
 */
function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(err.code === 'EADDRINUSE' ? inUse(path, `UAPI socket ${path} is in use`) : err);
    };
    server.once('error', onError);
    const oldMask = process.umask(0o077);
    try {
      server.listen(path, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(oldMask);
    }
  });
}
