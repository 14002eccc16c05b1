// The bind: how encrypted datagrams leave and arrive. The core sees only this interface;
// UDP sockets (and later VSOCK) implement it outside src/wireguard/.
import type { PacketBatch } from './batch.js';
import type { Endpoint } from './endpoint.js';

export interface Bind {
  /**
   * Opens (or re-opens) the transport on `port` (0 = any). Resolves with the port actually
   * bound. On failure the previous sockets stay open and the promise rejects.
   */
  open(port: number): Promise<number>;
  /** Called with each batch of received datagrams; `sources[i]` is datagram i's sender. */
  onReceive(handler: (batch: PacketBatch, sources: readonly Endpoint[]) => void): void;
  /** Sends datagram i of the batch to `destinations[i]`. Errors are counted, never thrown. */
  send(batch: PacketBatch, destinations: readonly Endpoint[]): void;
  /** Applies SO_MARK where the transport supports it (0 = none). */
  setMark(mark: number): void;
  close(): Promise<void>;
}
