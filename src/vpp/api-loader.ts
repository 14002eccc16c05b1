// Builds the registry of message definitions: VPP's own installed JSON files first (so a
// VPP version we have never seen works untouched), then the built-in subset.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILTIN_API_FILES, KNOWN_CRCS } from './builtin-api.js';
import { ApiRegistry, parseApiFile } from './definitions.js';
import type { Logger } from '../wireguard/log.js';
import { silentLogger } from '../wireguard/log.js';

/** The API modules whose messages this product sends or receives. */
export const USED_MODULES = ['memclnt', 'vpe', 'interface', 'l2', 'memif'] as const;

/** A registry holding only the built-in definitions. */
export function builtinRegistry(): ApiRegistry {
  const reg = new ApiRegistry();
  for (const json of BUILTIN_API_FILES) reg.addFile(parseApiFile(json, 'built-in'));
  return reg;
}

function findModuleFile(dir: string, module: string): string | null {
  for (const sub of ['core', 'plugins', '.']) {
    const p = path.join(dir, sub, `${module}.api.json`);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

export interface LoadOptions {
  /** Directory of VPP's installed JSON files; null to use only the built-in definitions. */
  readonly apiDir: string | null;
  readonly logger?: Logger;
}

/**
 * Installed definitions (when present and readable) followed by the built-in ones. A broken
 * installed file is logged and skipped, never fatal: the built-in definitions still apply.
 */
export function loadRegistry(opts: LoadOptions): ApiRegistry {
  const logger = opts.logger ?? silentLogger;
  const reg = new ApiRegistry();
  if (opts.apiDir !== null && fs.existsSync(opts.apiDir)) {
    for (const module of USED_MODULES) {
      const file = findModuleFile(opts.apiDir, module);
      if (!file) continue;
      try {
        reg.addFile(parseApiFile(JSON.parse(fs.readFileSync(file, 'utf8')), file));
        logger.debug(`vpp: using API definitions from ${file}`);
      } catch (err) {
        logger.error(`vpp: ignoring ${file}: ${(err as Error).message}`);
      }
    }
  }
  for (const json of BUILTIN_API_FILES) reg.addFile(parseApiFile(json, 'built-in'));
  return reg;
}

/** VPP versions in which we saw this exact name and CRC (empty when not recorded). */
export function knownVersions(name: string, crc: string): readonly string[] {
  const k = KNOWN_CRCS[name];
  return k && k.crc === crc ? k.vpp : [];
}
