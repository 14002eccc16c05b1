// The peers one batch touched, each listed once, and whether any of its packets carried
// data: timer events run once per peer per batch instead of once per packet (re-arming a
// timer per packet would cost more than sealing it).
import type { Peer } from './peer.js';

/** Which of a peer's two marks a list uses: a send batch can run inside a receive batch. */
export const SEND_MARK = 0;
export const RECEIVE_MARK = 1;

let lastBatchId = 0;

export class TouchedPeers {
  readonly peers: Peer[] = [];
  readonly data: boolean[] = [];
  private batchId = 0;

  constructor(private readonly mark: typeof SEND_MARK | typeof RECEIVE_MARK) {}

  begin(): void {
    this.peers.length = 0;
    this.data.length = 0;
    this.batchId = ++lastBatchId;
  }

  add(peer: Peer, data: boolean): void {
    const m = this.mark;
    if (peer.batchMark[m] !== this.batchId) {
      peer.batchMark[m] = this.batchId;
      peer.batchSlot[m] = this.peers.length;
      this.peers.push(peer);
      this.data.push(data);
    } else if (data) {
      this.data[peer.batchSlot[m]] = true;
    }
  }
}
