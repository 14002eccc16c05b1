// Receiver indices: random 32-bit identifiers we hand to peers so that their messages
// name the handshake or session they belong to without revealing who we are.
import { randomInt } from 'node:crypto';
import type { Keypair } from './keypair.js';
import type { Peer } from './peer.js';

export interface IndexEntry {
  peer: Peer;
  /** null while the index names an in-progress handshake. */
  keypair: Keypair | null;
}

export class IndexTable {
  private readonly entries = new Map<number, IndexEntry>();

  /** A fresh unused index for `peer`'s handshake. */
  allocate(peer: Peer): number {
    for (;;) {
      const index = randomInt(0, 0x1_0000_0000);
      if (!this.entries.has(index)) {
        this.entries.set(index, { peer, keypair: null });
        return index;
      }
    }
  }

  /** The handshake's index now names the session derived from it. */
  bindKeypair(index: number, keypair: Keypair): void {
    const e = this.entries.get(index);
    if (e !== undefined) e.keypair = keypair;
  }

  get(index: number): IndexEntry | undefined {
    return this.entries.get(index);
  }

  delete(index: number): void {
    this.entries.delete(index);
  }

  get size(): number {
    return this.entries.size;
  }
}
