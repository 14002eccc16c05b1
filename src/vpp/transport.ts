// Framing of VPP's binary API over its unix stream socket (api.sock).
//
// Verified against VPP's source: every message on the socket is preceded by a msgbuf_t
// header (src/vlibapi/api_common.h):
//
//     struct msgbuf_ { svm_queue_t *q; u32 data_len; u32 gc_mark_timestamp; u8 data[0]; }
//
// 16 bytes on 64-bit hosts: bytes 0-7 the queue pointer, bytes 8-11 the payload length in
// network byte order (VPP reads it with ntohl in vl_socket_read_ready), bytes 12-15 a
// garbage-collector timestamp. A client writes q = 0 and gc_mark_timestamp = 0
// (vl_socket_client_write in src/vlibmemory/socket_client.c; govpp's socketclient writes
// the same 16-byte header with only bytes 8-11 set). VPP, when it sends, writes the msgbuf_t
// of its own message allocation (vl_socket_api_send), so bytes 0-7 and 12-15 coming from
// VPP are not guaranteed to be zero: the reader uses bytes 8-11 only. The payload starts
// with the u16 message id. The stream does not keep message boundaries, so frames are
// reassembled from arbitrary chunks.

import * as net from 'node:net';
import { VppConnectError, VppProtocolError } from './errors.js';

export const FRAME_HEADER_BYTES = 16;
const LENGTH_OFFSET = 8;

/**
 * Largest payload accepted from VPP. VPP's biggest routine message is the
 * sockclnt_create_reply with its message table (about 66 bytes per message, a few thousand
 * messages); anything near this limit means a broken stream, which cannot be resynchronised.
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Header + payload, ready to write in one call (one write keeps the pair together). */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.fill(0, 0, FRAME_HEADER_BYTES);
  frame.writeUInt32BE(payload.length, LENGTH_OFFSET);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Reassembles frames from stream chunks. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /**
   * Feed a chunk; returns the complete payloads it finished, in order. Throws
   * VppProtocolError when a header announces more than maxFrameBytes: the caller must drop
   * the connection, as the stream cannot be trusted after that.
   */
  push(chunk: Uint8Array): Buffer[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let off = 0;
    while (this.pending.length - off >= FRAME_HEADER_BYTES) {
      const len = this.pending.readUInt32BE(off + LENGTH_OFFSET);
      if (len > this.maxFrameBytes) {
        this.pending = Buffer.alloc(0);
        throw new VppProtocolError(
          `VPP API frame announces ${len} bytes, more than the ${this.maxFrameBytes} accepted; the stream is corrupt`,
        );
      }
      if (this.pending.length - off - FRAME_HEADER_BYTES < len) break;
      const start = off + FRAME_HEADER_BYTES;
      out.push(Buffer.from(this.pending.subarray(start, start + len)));
      off = start + len;
    }
    this.pending = off === this.pending.length ? Buffer.alloc(0) : Buffer.from(this.pending.subarray(off));
    return out;
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.pending.length;
  }
}

/** Turns a failed connect into a message that says which socket and what to check. */
export function describeConnectError(err: NodeJS.ErrnoException, socketPath: string): VppConnectError {
  const code = err.code ?? 'UNKNOWN';
  const envHint = 'Set VPP_API_SOCKET_PATH (or VPP_SOCKET_DIR) if VPP uses another socket.';
  switch (code) {
    case 'ENOENT':
      return new VppConnectError(
        socketPath,
        code,
        `VPP API socket ${socketPath} does not exist: is VPP running, and does its startup.conf ` +
          `enable the socket API (socksvr { socket-name ${socketPath} })? ${envHint}`,
      );
    case 'ECONNREFUSED':
      return new VppConnectError(
        socketPath,
        code,
        `nothing accepts connections on VPP API socket ${socketPath} (ECONNREFUSED): VPP is not running, ` +
          `is restarting, or left a stale socket file behind. ${envHint}`,
      );
    case 'EACCES':
    case 'EPERM':
      return new VppConnectError(
        socketPath,
        code,
        `permission denied on VPP API socket ${socketPath} (${code}): run as root, or as a member of the ` +
          'group VPP gives the socket (startup.conf: unix { gid <group> }), and check the directory permissions',
      );
    case 'ENOTSOCK':
      return new VppConnectError(socketPath, code, `${socketPath} is not a socket (ENOTSOCK). ${envHint}`);
    case 'ETIMEDOUT':
      return new VppConnectError(
        socketPath,
        code,
        `connecting to VPP API socket ${socketPath} timed out: VPP may be overloaded or stuck`,
      );
    default:
      return new VppConnectError(
        socketPath,
        code,
        `cannot connect to VPP API socket ${socketPath}: ${err.message}. ${envHint}`,
      );
  }
}

/** Opens the unix stream socket, or rejects with a VppConnectError. */
export function connectUnix(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      sock.destroy();
      const e: NodeJS.ErrnoException = new Error('timed out');
      e.code = 'ETIMEDOUT';
      reject(describeConnectError(e, socketPath));
    }, timeoutMs);
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(describeConnectError(err, socketPath));
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.off('error', onError);
      resolve(sock);
    });
  });
}
