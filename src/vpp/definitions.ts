// Message definitions in VPP's own JSON API format (the *.api.json files VPP installs in
// /usr/share/vpp/api/{core,plugins}). One ApiFile is one such file; the registry holds the
// messages of many files, possibly several CRCs (layouts) of one message name from several
// VPP versions, and the client picks the one whose name_crc VPP announces.
//
// Types are resolved per file: VPP writes every type a file uses into that file, and two
// VPP versions may define a type differently, so a message is compiled in its own file's
// scope only.

import { VppDefinitionError } from './errors.js';

/** A field as the JSON writes it: [type, name] or [type, name, length] or [type, name, 0, lengthField], optionally with a trailing options object. */
export interface RawField {
  readonly type: string;
  readonly name: string;
  /** Fixed element count; 0 means variable length. Absent for scalars. */
  readonly length?: number;
  /** For variable arrays: the earlier field that holds the element count. */
  readonly lengthField?: string;
  /** The "default" option, as written in the JSON (number, boolean or "true"/"false"). */
  readonly defaultValue?: number | boolean | string;
}

export interface RawStruct {
  readonly name: string;
  readonly fields: readonly RawField[];
}

export interface RawEnum {
  readonly name: string;
  /** The integer type the enum is carried as on the wire (u8, u16, u32...). */
  readonly baseType: string;
  readonly values: ReadonlyMap<string, number>;
}

export interface RawAlias {
  readonly type: string;
  readonly length?: number;
}

/** The type namespace of one JSON file. */
export interface TypeScope {
  readonly source: string;
  readonly types: ReadonlyMap<string, RawStruct>;
  readonly unions: ReadonlyMap<string, RawStruct>;
  readonly enums: ReadonlyMap<string, RawEnum>;
  readonly aliases: ReadonlyMap<string, RawAlias>;
}

export interface ServiceInfo {
  readonly reply: string;
  readonly stream: boolean;
  readonly events: readonly string[];
}

/** One message layout: a name, its CRC and its fields, in the scope of the file that defines it. */
export interface MessageDef {
  readonly name: string;
  /** Lowercase hex, no 0x: the suffix VPP uses in its name_crc table. */
  readonly crc: string;
  readonly fields: readonly RawField[];
  readonly scope: TypeScope;
  readonly deprecated: boolean;
}

export interface ApiFile {
  readonly source: string;
  readonly module: string;
  readonly messages: readonly MessageDef[];
  readonly services: ReadonlyMap<string, ServiceInfo>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(x: unknown): x is { [key: string]: Json } {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function fail(source: string, what: string): never {
  throw new VppDefinitionError(`${source}: ${what}`);
}

function parseField(source: string, owner: string, raw: unknown): RawField | null {
  // The last element of a message/type array is an options object, not a field.
  if (isObject(raw)) return null;
  if (!Array.isArray(raw) || raw.length < 2 || typeof raw[0] !== 'string' || typeof raw[1] !== 'string') {
    fail(source, `${owner}: malformed field ${JSON.stringify(raw)}`);
  }
  const type = raw[0];
  const name = raw[1];
  let length: number | undefined;
  let lengthField: string | undefined;
  let defaultValue: number | boolean | string | undefined;
  for (const extra of raw.slice(2)) {
    if (typeof extra === 'number') {
      if (!Number.isInteger(extra) || extra < 0) fail(source, `${owner}.${name}: bad length ${extra}`);
      length = extra;
    } else if (typeof extra === 'string') {
      lengthField = extra;
    } else if (isObject(extra)) {
      const d = extra['default'];
      if (typeof d === 'number' || typeof d === 'boolean' || typeof d === 'string') defaultValue = d;
    } else {
      fail(source, `${owner}.${name}: unexpected field attribute ${JSON.stringify(extra)}`);
    }
  }
  if (lengthField !== undefined && length !== 0) {
    fail(source, `${owner}.${name}: a length field needs a variable-length (0) array`);
  }
  return { type, name, length, lengthField, defaultValue };
}

function parseStruct(source: string, raw: unknown): RawStruct {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') fail(source, `malformed type ${JSON.stringify(raw)}`);
  const name = raw[0];
  const fields: RawField[] = [];
  for (const f of raw.slice(1)) {
    const field = parseField(source, name, f);
    if (field) fields.push(field);
  }
  return { name, fields };
}

function parseEnum(source: string, raw: unknown): RawEnum {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') fail(source, `malformed enum ${JSON.stringify(raw)}`);
  const name = raw[0];
  let baseType = 'u32';
  const values = new Map<string, number>();
  for (const v of raw.slice(1)) {
    if (isObject(v)) {
      const t = v['enumtype'];
      if (typeof t === 'string') baseType = t;
    } else if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') {
      values.set(v[0], v[1]);
    } else {
      fail(source, `enum ${name}: malformed value ${JSON.stringify(v)}`);
    }
  }
  return { name, baseType, values };
}

function parseCrc(source: string, name: string, meta: Json | undefined): string {
  const crc = isObject(meta) ? meta['crc'] : undefined;
  if (typeof crc !== 'string' || !/^0x[0-9a-fA-F]{1,8}$/.test(crc)) {
    fail(source, `message ${name}: missing or malformed crc`);
  }
  return crc.slice(2).toLowerCase().padStart(8, '0');
}

/** Parse one *.api.json document. Throws VppDefinitionError on anything malformed. */
export function parseApiFile(json: unknown, source: string): ApiFile {
  if (!isObject(json)) fail(source, 'not a JSON object');
  const list = (key: string): Json[] => {
    const v = json[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(source, `"${key}" is not an array`);
    return v;
  };
  const types = new Map<string, RawStruct>();
  for (const t of list('types')) {
    const s = parseStruct(source, t);
    types.set(s.name, s);
  }
  const unions = new Map<string, RawStruct>();
  for (const u of list('unions')) {
    const s = parseStruct(source, u);
    unions.set(s.name, s);
  }
  const enums = new Map<string, RawEnum>();
  for (const e of [...list('enums'), ...list('enumflags')]) {
    const en = parseEnum(source, e);
    enums.set(en.name, en);
  }
  const aliases = new Map<string, RawAlias>();
  const rawAliases = json['aliases'];
  if (rawAliases !== undefined) {
    if (!isObject(rawAliases)) fail(source, '"aliases" is not an object');
    for (const [name, a] of Object.entries(rawAliases)) {
      if (!isObject(a) || typeof a['type'] !== 'string') fail(source, `alias ${name} is malformed`);
      const len = a['length'];
      aliases.set(name, { type: a['type'], length: typeof len === 'number' ? len : undefined });
    }
  }
  const scope: TypeScope = { source, types, unions, enums, aliases };

  const messages: MessageDef[] = [];
  for (const m of list('messages')) {
    if (!Array.isArray(m) || typeof m[0] !== 'string') fail(source, `malformed message ${JSON.stringify(m)}`);
    const name = m[0];
    const meta = m[m.length - 1];
    const crc = parseCrc(source, name, meta);
    const opts = isObject(meta) ? meta['options'] : undefined;
    const deprecated = isObject(opts) && 'deprecated' in opts;
    const fields: RawField[] = [];
    for (const f of m.slice(1, -1)) {
      const field = parseField(source, name, f);
      if (field) fields.push(field);
    }
    messages.push({ name, crc, fields, scope, deprecated });
  }

  const services = new Map<string, ServiceInfo>();
  const rawServices = json['services'];
  if (isObject(rawServices)) {
    for (const [name, s] of Object.entries(rawServices)) {
      if (!isObject(s) || typeof s['reply'] !== 'string') continue;
      const events = Array.isArray(s['events']) ? s['events'].filter((e): e is string => typeof e === 'string') : [];
      services.set(name, { reply: s['reply'], stream: s['stream'] === true, events });
    }
  }
  const module = typeof json['module'] === 'string' ? json['module'] : source;
  return { source, module, messages, services };
}

/**
 * All message definitions we know, keyed by name then CRC. The first definition added for
 * a (name, crc) wins: add installed VPP files before the built-in ones.
 */
export class ApiRegistry {
  private readonly byName = new Map<string, Map<string, MessageDef>>();
  private readonly services = new Map<string, ServiceInfo>();
  private readonly fileList: ApiFile[] = [];

  addFile(file: ApiFile): void {
    this.fileList.push(file);
    for (const m of file.messages) {
      let crcs = this.byName.get(m.name);
      if (!crcs) {
        crcs = new Map();
        this.byName.set(m.name, crcs);
      }
      if (!crcs.has(m.crc)) crcs.set(m.crc, m);
    }
    for (const [name, s] of file.services) {
      if (!this.services.has(name)) this.services.set(name, s);
    }
  }

  get files(): readonly ApiFile[] {
    return this.fileList;
  }

  /** The definition for exactly this name and CRC, if we have one. */
  get(name: string, crc: string): MessageDef | undefined {
    return this.byName.get(name)?.get(crc);
  }

  /** Every CRC we have a definition for under this name. */
  knownCrcs(name: string): string[] {
    return [...(this.byName.get(name)?.keys() ?? [])];
  }

  /** Every distinct definition of every message. */
  allMessages(): MessageDef[] {
    const out: MessageDef[] = [];
    for (const crcs of this.byName.values()) out.push(...crcs.values());
    return out;
  }

  /** The reply (or details, for a dump) of a request, from the JSON "services" table. */
  replyOf(request: string): ServiceInfo {
    const s = this.services.get(request);
    if (s) return s;
    // Files without a services table follow VPP's naming convention.
    if (request.endsWith('_dump')) {
      return { reply: request.slice(0, -'_dump'.length) + '_details', stream: true, events: [] };
    }
    return { reply: request + '_reply', stream: false, events: [] };
  }
}
