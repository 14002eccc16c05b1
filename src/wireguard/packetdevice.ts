// The packet device: where plaintext IP packets come from and go to (kernel TUN, memif via
// the Ethernet adapter, an in-memory device in tests). The core sees only this interface.
import type { PacketBatch } from './batch.js';

export interface PacketDevice {
  /** Largest IP packet the device carries. */
  readonly mtu: number;
  /** Called with each batch of IP packets read from the device (to be encrypted). */
  onPackets(handler: (batch: PacketBatch) => void): void;
  /** Writes the batch's packets (decrypted IP packets) to the device. */
  write(batch: PacketBatch): void;
  /** Called once when the device goes away underneath us (e.g. `ip link del`). */
  onClose(handler: () => void): void;
  close(): Promise<void>;
}
