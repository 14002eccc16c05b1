// Allowed IPs: the cryptokey routing table. Each prefix belongs to exactly one value (a
// peer); a lookup returns the value of the longest prefix containing an address.
//
// One path-compressed binary trie per address family, the shape the Linux kernel and
// wireguard-go use: every node holds a prefix (key + length); a node's children hold longer
// prefixes inside it, chosen by the bit just after the node's prefix. Nodes without a value
// exist only where two subtrees branch, so they always have two children; removing a
// value splices away nodes that are no longer needed.
//
// Keys are kept as four 32-bit words (IPv4 uses the first word only, the others stay 0)
// with a precomputed mask per word, so the per-packet lookup reads the address straight
// out of the packet slab into four locals and walks the trie with integer operations only:
// no allocation, no byte arrays.
import type { Prefix } from './config.js';
import { maskAddress } from './ip.js';

class TrieNode<T> {
  // Prefix key (already masked) and per-word masks of its first `bits` bits, all int32.
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  readonly bits: number;
  readonly family: 4 | 6;
  hasValue = false;
  value: T | undefined = undefined;
  child0: TrieNode<T> | null = null;
  child1: TrieNode<T> | null = null;
  parent: TrieNode<T> | null = null;

  constructor(family: 4 | 6, k0: number, k1: number, k2: number, k3: number, bits: number) {
    this.family = family;
    this.bits = bits;
    this.m0 = wordMask(bits, 0);
    this.m1 = wordMask(bits, 1);
    this.m2 = wordMask(bits, 2);
    this.m3 = wordMask(bits, 3);
    this.w0 = k0 & this.m0;
    this.w1 = k1 & this.m1;
    this.w2 = k2 & this.m2;
    this.w3 = k3 & this.m3;
  }
}

/** Mask (int32) of the prefix bits that fall into word `word` for a prefix of `bits`. */
function wordMask(bits: number, word: number): number {
  const inWord = bits - word * 32;
  if (inWord <= 0) return 0;
  if (inWord >= 32) return -1;
  return -1 << (32 - inWord);
}

/** Bit `index` (0 = most significant bit of word 0) of a key. */
function bitAt(index: number, k0: number, k1: number, k2: number, k3: number): number {
  const word = index < 32 ? k0 : index < 64 ? k1 : index < 96 ? k2 : k3;
  return (word >>> (31 - (index & 31))) & 1;
}

/** Number of leading bits two keys share (0..128). */
function commonBits(a: TrieNode<unknown>, k0: number, k1: number, k2: number, k3: number): number {
  let x = a.w0 ^ k0;
  if (x !== 0) return Math.clz32(x);
  x = a.w1 ^ k1;
  if (x !== 0) return 32 + Math.clz32(x);
  x = a.w2 ^ k2;
  if (x !== 0) return 64 + Math.clz32(x);
  x = a.w3 ^ k3;
  return 96 + Math.clz32(x); // clz32(0) = 32, so equal keys give 128
}

/** Whether the key lies inside the node's prefix. */
function contains(n: TrieNode<unknown>, k0: number, k1: number, k2: number, k3: number): boolean {
  return (
    ((k0 ^ n.w0) & n.m0) === 0 &&
    ((k1 ^ n.w1) & n.m1) === 0 &&
    ((k2 ^ n.w2) & n.m2) === 0 &&
    ((k3 ^ n.w3) & n.m3) === 0
  );
}

function readWord(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

export class AllowedIps<T> {
  private root4: TrieNode<T> | null = null;
  private root6: TrieNode<T> | null = null;
  /** Per value, its nodes in the order their prefixes were (last) assigned to it. */
  private readonly byValue = new Map<T, Set<TrieNode<T>>>();

  /**
   * Assigns `prefix` to `value` (host bits are cleared first: 10.0.0.1/8 is 10.0.0.0/8).
   * A prefix already held by another value moves to this one.
   * Throws RangeError for a malformed prefix (wrong address length, bits out of range):
   * that is a programming error, outside input is validated before it gets here.
   */
  insert(prefix: Prefix, value: T): void {
    const maxBits = checkPrefix(prefix);
    const a = prefix.address;
    const bits = prefix.bits;
    const k0 = readWord(a, 0);
    const k1 = maxBits === 128 ? readWord(a, 4) : 0;
    const k2 = maxBits === 128 ? readWord(a, 8) : 0;
    const k3 = maxBits === 128 ? readWord(a, 12) : 0;
    const family = prefix.family;

    let node = family === 4 ? this.root4 : this.root6;
    let parent: TrieNode<T> | null = null;
    // Walk down while the current node's prefix contains the new one.
    while (node !== null && node.bits <= bits && contains(node, k0, k1, k2, k3)) {
      if (node.bits === bits) {
        this.assign(node, value);
        return;
      }
      parent = node;
      node = bitAt(node.bits, k0, k1, k2, k3) === 0 ? node.child0 : node.child1;
    }
    const fresh = new TrieNode<T>(family, k0, k1, k2, k3, bits);
    this.assign(fresh, value);
    if (node === null) {
      this.attach(family, parent, fresh);
      return;
    }
    // `node` is not inside the new prefix's ancestors: either the new prefix contains it,
    // or they diverge and need a value-less branch node at their common prefix.
    const common = Math.min(commonBits(node, k0, k1, k2, k3), bits);
    if (common === bits) {
      this.replaceChild(family, parent, node, fresh);
      this.setChild(fresh, node);
      return;
    }
    const branch = new TrieNode<T>(family, k0, k1, k2, k3, common);
    this.replaceChild(family, parent, node, branch);
    this.setChild(branch, node);
    this.setChild(branch, fresh);
  }

  /** Removes the exact prefix (after masking); false when no value held it. */
  remove(prefix: Prefix): boolean {
    const maxBits = checkPrefix(prefix);
    const a = prefix.address;
    const k0 = readWord(a, 0);
    const k1 = maxBits === 128 ? readWord(a, 4) : 0;
    const k2 = maxBits === 128 ? readWord(a, 8) : 0;
    const k3 = maxBits === 128 ? readWord(a, 12) : 0;
    let node = prefix.family === 4 ? this.root4 : this.root6;
    while (node !== null && node.bits <= prefix.bits && contains(node, k0, k1, k2, k3)) {
      if (node.bits === prefix.bits) {
        if (!node.hasValue) return false;
        this.removeNode(node);
        return true;
      }
      node = bitAt(node.bits, k0, k1, k2, k3) === 0 ? node.child0 : node.child1;
    }
    return false;
  }

  /** Removes every prefix held by `value`. */
  removeValue(value: T): void {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return;
    for (const node of [...nodes]) this.removeNode(node);
  }

  /** The prefixes held by `value`, in the order they were assigned to it. */
  entriesFor(value: T): Prefix[] {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return [];
    const out: Prefix[] = [];
    for (const n of nodes) out.push(nodePrefix(n));
    return out;
  }

  /** Number of prefixes held by all values. */
  get size(): number {
    let n = 0;
    for (const nodes of this.byValue.values()) n += nodes.size;
    return n;
  }

  clear(): void {
    this.root4 = null;
    this.root6 = null;
    this.byValue.clear();
  }

  /**
   * Longest-prefix match for the source or destination address of the IP header that
   * starts at `offset` in `packet` (IPv4: src at +12, dst at +16; IPv6: src at +8, dst at
   * +24). The caller has checked that the header is long enough. Allocation-free.
   */
  lookup(packet: Uint8Array, offset: number, family: 4 | 6, which: 'src' | 'dst'): T | undefined {
    if (family === 4) {
      const o = offset + (which === 'src' ? 12 : 16);
      return this.walk(this.root4, readWord(packet, o), 0, 0, 0);
    }
    const o = offset + (which === 'src' ? 8 : 24);
    return this.walk(
      this.root6,
      readWord(packet, o),
      readWord(packet, o + 4),
      readWord(packet, o + 8),
      readWord(packet, o + 12),
    );
  }

  /** Longest-prefix match for a bare address: 4 bytes (IPv4) or 16 bytes (IPv6). */
  lookupAddress(addr: Uint8Array): T | undefined {
    if (addr.length === 4) return this.walk(this.root4, readWord(addr, 0), 0, 0, 0);
    if (addr.length === 16) {
      return this.walk(this.root6, readWord(addr, 0), readWord(addr, 4), readWord(addr, 8), readWord(addr, 12));
    }
    return undefined;
  }

  private walk(root: TrieNode<T> | null, k0: number, k1: number, k2: number, k3: number): T | undefined {
    let found: T | undefined = undefined;
    let node = root;
    while (node !== null && contains(node, k0, k1, k2, k3)) {
      if (node.hasValue) found = node.value;
      // A full-length node has no children, so the walk ends there by itself.
      node = bitAt(node.bits, k0, k1, k2, k3) === 0 ? node.child0 : node.child1;
    }
    return found;
  }

  private assign(node: TrieNode<T>, value: T): void {
    if (node.hasValue) this.forget(node);
    node.hasValue = true;
    node.value = value;
    let nodes = this.byValue.get(value);
    if (nodes === undefined) {
      nodes = new Set();
      this.byValue.set(value, nodes);
    }
    nodes.add(node);
  }

  /** Drops a node from its current value's list (and the value's entry once empty). */
  private forget(node: TrieNode<T>): void {
    const owner = node.value as T;
    const nodes = this.byValue.get(owner);
    if (nodes === undefined) return;
    nodes.delete(node);
    if (nodes.size === 0) this.byValue.delete(owner);
  }

  /** Clears a node's value and prunes nodes the trie no longer needs. */
  private removeNode(node: TrieNode<T>): void {
    this.forget(node);
    node.hasValue = false;
    node.value = undefined;
    if (node.child0 !== null && node.child1 !== null) return; // still a branch point
    const child = node.child0 ?? node.child1;
    const parent = node.parent;
    this.replaceChild(node.family, parent, node, child);
    node.parent = null;
    // A value-less parent that lost a child is no longer a branch point: splice it out.
    if (child === null && parent !== null && !parent.hasValue) {
      const only = parent.child0 ?? parent.child1;
      this.replaceChild(parent.family, parent.parent, parent, only);
      parent.parent = null;
    }
  }

  /** Puts `child` under `parent` on the side its next bit selects (or at the root). */
  private attach(family: 4 | 6, parent: TrieNode<T> | null, child: TrieNode<T>): void {
    if (parent === null) {
      child.parent = null;
      if (family === 4) this.root4 = child;
      else this.root6 = child;
    } else {
      this.setChild(parent, child);
    }
  }

  private setChild(parent: TrieNode<T>, child: TrieNode<T>): void {
    child.parent = parent;
    if (bitAt(parent.bits, child.w0, child.w1, child.w2, child.w3) === 0) parent.child0 = child;
    else parent.child1 = child;
  }

  /** Puts `replacement` (or nothing) where `old` hangs under `parent` (or at the root). */
  private replaceChild(
    family: 4 | 6,
    parent: TrieNode<T> | null,
    old: TrieNode<T>,
    replacement: TrieNode<T> | null,
  ): void {
    if (replacement !== null) replacement.parent = parent;
    if (parent === null) {
      if (family === 4) this.root4 = replacement;
      else this.root6 = replacement;
    } else if (parent.child0 === old) {
      parent.child0 = replacement;
    } else {
      parent.child1 = replacement;
    }
  }
}

/** Validates a prefix's shape; returns its family's bit width. */
function checkPrefix(prefix: Prefix): number {
  const maxBits = prefix.family === 4 ? 32 : prefix.family === 6 ? 128 : -1;
  if (maxBits < 0 || prefix.address.length !== maxBits / 8) {
    throw new RangeError('allowed IP prefix: address length does not match its family');
  }
  if (!Number.isInteger(prefix.bits) || prefix.bits < 0 || prefix.bits > maxBits) {
    throw new RangeError(`allowed IP prefix: length ${prefix.bits} out of range`);
  }
  return maxBits;
}

function nodePrefix(n: TrieNode<unknown>): Prefix {
  const bytes = new Uint8Array(n.family === 4 ? 4 : 16);
  const words = [n.w0, n.w1, n.w2, n.w3];
  for (let i = 0; i < bytes.length; i++) bytes[i] = (words[i >> 2] >>> (24 - 8 * (i & 3))) & 0xff;
  return { family: n.family, address: maskAddress(bytes, n.bits), bits: n.bits };
}
