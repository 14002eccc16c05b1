// Builders for the IP packets tests push through the tunnel.

/** An IPv4 UDP packet from `src` to `dst` (dotted quads) carrying `payload`. */
export function ipv4Udp(src: string, dst: string, payload: Uint8Array = new Uint8Array(8)): Buffer {
  const p = Buffer.alloc(28 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  p.writeUInt16BE(1234, 20);
  p.writeUInt16BE(5678, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  Buffer.from(payload).copy(p, 28);
  return p;
}

/** An IPv6 UDP packet; addresses given as 16-byte arrays. */
export function ipv6Udp(src: Uint8Array, dst: Uint8Array, payload: Uint8Array = new Uint8Array(8)): Buffer {
  const p = Buffer.alloc(48 + payload.length);
  p[0] = 0x60;
  p.writeUInt16BE(8 + payload.length, 4);
  p[6] = 17;
  p[7] = 64;
  Buffer.from(src).copy(p, 8);
  Buffer.from(dst).copy(p, 24);
  p.writeUInt16BE(8 + payload.length, 44);
  Buffer.from(payload).copy(p, 48);
  return p;
}

/** Lets queued immediates and microtasks run (in-memory network delivery, handshake queue). */
export async function settle(turns = 30): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}
