// MAC addresses as the VPP API carries them (vl_api_mac_address_t: 6 bytes).

import { VppError } from './errors.js';

export type MacInput = string | Uint8Array;

/** "aa:bb:cc:dd:ee:ff" (or with '-') or 6 bytes -> 6 bytes. */
export function parseMac(input: MacInput, what: string): Uint8Array {
  if (input instanceof Uint8Array) {
    if (input.length !== 6) throw new VppError(`${what} must be 6 bytes, got ${input.length}`);
    return Uint8Array.from(input);
  }
  const m = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/.exec(
    input.trim(),
  );
  if (!m) throw new VppError(`${what} is not a MAC address (expected aa:bb:cc:dd:ee:ff)`);
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
