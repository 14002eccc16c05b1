// Loads the N-API addon (build/Release/wireguard_ts_native.node, built by cmake-js) and
// describes what it exports. Loading is lazy: code that only needs the pure-TypeScript
// parts (the handshake, tests of the protocol) works without a built addon.
import { createRequire } from 'node:module';

/** native/aead.cc: ChaCha20-Poly1305 over whole batches, in place. */
export interface NativeAead {
  /**
   * Seals packet i = slab[offsets[i], +lengths[i]) with keys[keyIndex[i]*32, +32] and
   * nonce 0^32 || LE64(counters[i]); writes the 16-byte tag right behind it. Throws
   * (TypeError/RangeError) before touching memory if anything is out of bounds.
   */
  sealBatch(
    slab: Uint8Array,
    count: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    keys: Uint8Array,
    keyIndex: Uint16Array,
    counters: BigUint64Array,
  ): void;
  /** Opens packet i (lengths[i] includes the tag) in place; ok[i] = 1 if authentic else 0. */
  openBatch(
    slab: Uint8Array,
    count: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    keys: Uint8Array,
    keyIndex: Uint16Array,
    counters: BigUint64Array,
    ok: Uint8Array,
  ): void;
}

/** One open TUN interface (native/tun.cc). */
export interface NativeTunDevice {
  /** The interface name the kernel gave (the requested one unless it was a pattern). */
  readonly name: string;
  readonly fd: number;
  /**
   * Starts reading: whenever the fd is readable, up to `maxPackets` packets are read into
   * slot i at slab[i*slotSize + headroom, +maxLen), offsets[i]/lengths[i] are set and
   * `onRead(count)` runs. A negative count is -errno: the interface is gone, reading stopped.
   */
  start(
    slab: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    slotSize: number,
    headroom: number,
    maxLen: number,
    maxPackets: number,
    onRead: (count: number) => void,
  ): void;
  /**
   * Writes packets 0..count-1, one write(2) each. result[0] = packets written, result[1] =
   * bytes written; failures are left for the caller to count as drops.
   */
  writeBatch(slab: Uint8Array, count: number, offsets: Uint32Array, lengths: Uint32Array, result: Float64Array): void;
  /** Stops reading and closes the fd; idempotent. */
  close(): void;
}

export interface NativeTun {
  /** Opens /dev/net/tun as `name` (IFF_TUN | IFF_NO_PI, non-blocking) and sets the MTU. */
  TunDevice: new (name: string, mtu: number) => NativeTunDevice;
}

/**
 * Everything the addon exports. Other facilities' (memif, UDP) typed views live with their
 * own TypeScript wrappers and narrow `loadNativeModule()` the same way.
 */
export type NativeAddon = NativeAead & NativeTun;

// From dist/src/native.js, the addon is at ../../build/Release/.
const ADDON_PATH = '../../build/Release/wireguard_ts_native.node';

let loaded: Record<string, unknown> | undefined;

/** The raw module object (loaded once). Throws with a hint if the addon is not built. */
export function loadNativeModule(): Record<string, unknown> {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    try {
      loaded = require(ADDON_PATH) as Record<string, unknown>;
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new Error(`cannot load the native addon (run \`npx cmake-js compile\`): ${detail}`);
    }
  }
  return loaded;
}

/**
 * A facility's typed view of the addon, loaded on first use and checked once: every name in
 * `members` must be exported (a stale build lacks newer facilities).
 */
export function nativeFacility<T>(members: readonly string[]): () => T {
  let view: T | undefined;
  return () => {
    if (view === undefined) {
      const m = loadNativeModule();
      const missing = members.filter((name) => m[name] === undefined || m[name] === null);
      if (missing.length > 0) throw new Error(`native addon lacks ${missing.join(', ')} (rebuild with \`npx cmake-js compile\`)`);
      view = m as unknown as T;
    }
    return view;
  };
}

/** The batch AEAD functions. */
export const nativeAead = nativeFacility<NativeAead>(['sealBatch', 'openBatch']);

/** The TUN device class. */
export const nativeTun = nativeFacility<NativeTun>(['TunDevice']);
