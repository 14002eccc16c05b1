// The configuration model that the UAPI text protocol reads and writes. uapi.ts turns
// text into a DeviceConfigChange (validating every line first) and a DeviceState into
// text; device.ts applies a change as a whole or not at all.
import type { Endpoint } from './endpoint.js';

/** An IP prefix: `bits` leading bits of `address` (4 or 16 bytes). */
export interface Prefix {
  readonly family: 4 | 6;
  readonly address: Uint8Array;
  readonly bits: number;
}

export interface PeerConfigChange {
  publicKey: Uint8Array;
  /** remove=true: delete this peer (other fields ignored). */
  remove: boolean;
  /** update_only=true: change the peer only if it already exists. */
  updateOnly: boolean;
  /** undefined: unchanged; all-zero key: no preshared key. */
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  /** Seconds; 0 disables. */
  persistentKeepaliveInterval?: number;
  replaceAllowedIps: boolean;
  allowedIps: Prefix[];
}

export interface DeviceConfigChange {
  /** undefined: unchanged; all-zero key: remove the private key. */
  privateKey?: Uint8Array;
  listenPort?: number;
  /** 0 removes the mark. */
  fwmark?: number;
  replacePeers: boolean;
  peers: PeerConfigChange[];
}

export interface PeerState {
  publicKey: Uint8Array;
  /** All-zero when none. */
  presharedKey: Uint8Array;
  endpoint: Endpoint | null;
  /** Wall-clock time of the last completed handshake, 0/0 if never. */
  lastHandshakeTimeSec: number;
  lastHandshakeTimeNsec: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepaliveInterval: number;
  allowedIps: Prefix[];
  protocolVersion: number;
}

export interface DeviceState {
  /** null when no private key is set. */
  privateKey: Uint8Array | null;
  listenPort: number;
  fwmark: number;
  peers: PeerState[];
}
