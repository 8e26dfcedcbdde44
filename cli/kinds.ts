// The kinds of object `acp get`, `acp describe` and `acp delete` name, as
// people type them (`pools`, `pool`, `storage/pool`), mapped to the CDB's
// type and sub-type. Kept here, without the schemas, so that naming an object
// costs no start-up time; test/cli/get.test.ts keeps it equal to
// actors/cdb/schema.ts.

export interface Kind {
  /** The plural `acp get` takes (and prints in "no pools"). */
  plural: string;
  /** Other names for it: the singular, the CDB's "type/subtype". */
  aliases: readonly string[];
  /** The CDB object type. */
  type: 'system' | 'node' | 'storage' | 'network' | 'service';
  /** The sub-type, when the kind is one sub-type of its type. */
  subtype?: string;
  /** The sub-types the kind has (shown in a SUBTYPE column), when it has several. */
  subtypes?: readonly string[];
}

export const KINDS: readonly Kind[] = [
  { plural: 'nodes', aliases: ['node', 'no'], type: 'node' },
  { plural: 'networks', aliases: ['network', 'net'], type: 'network', subtypes: ['vlan-bridge', 'trunk', 'vpp-vlan', 'lease'] },
  { plural: 'devices', aliases: ['device', 'dev', 'storage/device'], type: 'storage', subtype: 'device' },
  { plural: 'pools', aliases: ['pool', 'storage/pool'], type: 'storage', subtype: 'pool' },
  { plural: 'shares', aliases: ['share', 'storage/share'], type: 'storage', subtype: 'share' },
  { plural: 'systems', aliases: ['system', 'sys'], type: 'system' },
  { plural: 'services', aliases: ['service', 'svc'], type: 'service', subtypes: ['hypervisor', 'storage', 'network', 'monitor', 'cdb', 'appswitch'] },
];

/** The CDB object types (as in actors/cdb/schema.ts OBJECT_TYPES). */
export const CDB_TYPES = ['system', 'node', 'storage', 'network', 'service'] as const;

/** The kind named `name` (plural, singular or an alias; case-insensitive), if any. */
export function kindNamed(name: string): Kind | undefined {
  const n = name.trim().toLowerCase();
  return KINDS.find((k) => k.plural === n || k.aliases.includes(n));
}

/** The kinds as `acp get --help` and errors list them. */
export const KIND_LIST = KINDS.map((k) => k.plural).join('|');

/** The kind an object belongs to (by its type and sub-type). */
export function kindOf(type: string, subtype: string | undefined): Kind | undefined {
  return KINDS.find((k) => k.type === type && (k.subtype === undefined || k.subtype === subtype));
}

/** What an object is called in messages: `storage/pool "p1"`, `node "n1"` (as validateObject names it). */
export function objectLabel(type: string, subtype: string | undefined, id: string): string {
  return `${subtype ? `${type}/${subtype}` : type} "${id}"`;
}

/** What TYPE/ID names: the CDB type and id, and the sub-type it must have when the name says one. */
export interface ObjectRef {
  type: Kind['type'];
  /** set when the name says which sub-type (pool/p1), not when it names the type (storage/p1) */
  subtype?: string;
  id: string;
  /** the kind named (absent for storage/ID) */
  kind?: Kind;
}

/**
 * `pool/p1`, `storage/p1`, `node/n1`, `networks/lan` → the object it names; undefined when TYPE
 * is no kind or type (the caller says how objects are named). `id` may be given apart (`pool p1`).
 */
export function parseRef(ref: string, id?: string): ObjectRef | undefined {
  let name = ref;
  let oid = id;
  if (oid === undefined) {
    const i = ref.lastIndexOf('/');
    if (i <= 0 || i === ref.length - 1) return undefined;
    name = ref.slice(0, i);
    oid = ref.slice(i + 1);
  }
  const kind = kindNamed(name);
  if (kind) return { type: kind.type, ...(kind.subtype ? { subtype: kind.subtype } : {}), id: oid, kind };
  if (name.toLowerCase() === 'storage') return { type: 'storage', id: oid };
  return undefined;
}

export const REF_HINT = `objects are named TYPE/ID (e.g. node/n1, pool/p1, storage/p1, network/lan; types: ${KINDS.map((k) => k.aliases[0]).join(', ')}, storage)`;
