// `acp explain [TYPE]`: the fields of an object type, as `kubectl explain`
// shows a resource's. Derived from the zod schemas in actors/cdb/schema.ts
// (through their JSON Schema), so it cannot drift from what the CDB accepts;
// with an example object built from the same schema.
import type { Command } from 'commander';
import { NotFoundError } from '../errors.ts';
import { emit, formatOf, outputOptions, table, type OutputOptions } from '../output.ts';

/** The JSON Schema subset zod produces for the object schemas. */
export interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
}

type Schemas = typeof import('../../actors/cdb/schema.ts');

/** Readable names for the patterns the schemas use. */
function patternName(p: string, s: Schemas): string | undefined {
  if (p === s.ID_PATTERN.source) return 'an id: 1-63 of a-z 0-9 . _ -, starting with a letter or digit';
  if (p.startsWith('^(([a-zA-Z0-9]')) return 'a host name or an IP address';
  if (p === '^\\/[^\\0]*$') return 'an absolute path';
  if (p.startsWith('^[A-Za-z0-9][A-Za-z0-9._@-]')) return 'an interface name (1-15 chars)';
  return undefined;
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

function typeName(j: JsonSchema): string {
  if (j.const !== undefined) return JSON.stringify(j.const);
  if (j.enum) return j.enum.map((x) => JSON.stringify(x)).join(' | ');
  if (j.type === 'array') return `array of ${j.items ? typeName(j.items) : 'any'}`;
  return j.type ?? 'any';
}

function constraints(j: JsonSchema, s: Schemas): string {
  const c: string[] = [];
  if (j.pattern) c.push(patternName(j.pattern, s) ?? `matching ${j.pattern}`);
  if (j.minLength !== undefined || j.maxLength !== undefined) c.push(`${j.minLength ?? 0}-${j.maxLength ?? '∞'} chars`);
  if (j.minimum !== undefined || j.maximum !== undefined) {
    if (j.maximum === undefined || j.maximum >= SAFE_MAX) c.push(`>= ${j.minimum}`);
    else c.push(`${j.minimum ?? '-∞'}..${j.maximum}`);
  }
  if (j.minItems !== undefined || j.maxItems !== undefined) c.push(j.maxItems === undefined ? `at least ${j.minItems} items` : `${j.minItems ?? 0}-${j.maxItems} items`);
  if (j.type === 'array' && j.items) {
    const inner = constraints(j.items, s);
    if (inner) c.push(`each ${inner}`);
  }
  return c.join(', ');
}

interface FieldRow {
  field: string;
  type: string;
  required: boolean;
  constraints: string;
}

/** The fields of an object schema, nested ones indented under their parent. */
export function fieldRows(j: JsonSchema, s: Schemas, depth = 0): FieldRow[] {
  const rows: FieldRow[] = [];
  for (const [name, f] of Object.entries(j.properties ?? {})) {
    // `subtype` of a type without sub-types: zod's "must be absent" has no JSON Schema.
    if (Object.keys(f).length === 0) continue;
    const store = depth === 0 && (name === 'revision' || name === 'createdRevision');
    rows.push({
      field: '  '.repeat(depth) + name + (f.type === 'array' ? '[]' : ''),
      type: typeName(f),
      required: j.required?.includes(name) ?? false,
      constraints: store ? 'set by the store (ignored by put)' : constraints(f, s),
    });
    if (f.type === 'object') rows.push(...fieldRows(f, s, depth + 1));
    if (f.type === 'array' && f.items?.type === 'object') rows.push(...fieldRows(f.items, s, depth + 1));
  }
  return rows;
}

/** A value that satisfies `j` (required fields only); `i` makes items of a unique array differ. */
export function exampleOf(j: JsonSchema, s: Schemas, name: string, i = 0): unknown {
  if (j.const !== undefined) return j.const;
  if (j.enum) return j.enum[Math.min(i, j.enum.length - 1)];
  switch (j.type) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const k of j.required ?? []) o[k] = exampleOf(j.properties![k]!, s, k);
      return o;
    }
    case 'array': {
      // Enough items for the strictest rule the schemas have (raid5 pools need 3 devices).
      const n = Math.min(j.maxItems ?? 3, Math.max(j.minItems ?? 0, 3));
      return Array.from({ length: n }, (_, k) => exampleOf(j.items ?? {}, s, name, k));
    }
    case 'integer':
    case 'number':
      return (j.minimum ?? 0) + i;
    case 'boolean':
      return true;
    case 'string': {
      const p = j.pattern ? patternName(j.pattern, s) : undefined;
      if (p?.startsWith('an id')) return i === 0 ? 'example' : `example-${i}`;
      if (p?.startsWith('a host')) return `10.0.0.${i + 1}`;
      if (p?.startsWith('an absolute')) return `/srv/example${i ? `-${i}` : ''}`;
      if (p?.startsWith('an interface')) return `eth${i}`;
      return i === 0 ? 'example' : `example-${i}`;
    }
    default:
      return null;
  }
}

export interface Explained {
  type: string;
  key: string;
  schema: JsonSchema;
  example: unknown;
}

/** The type named (`system`, `storage/pool`, `service/cdb`), or a NotFoundError listing the known ones. */
export async function explain(name: string): Promise<Explained> {
  const s = await import('../../actors/cdb/schema.ts');
  const { z } = await import('zod');
  const label = name.trim().toLowerCase().replace(/\/$/, '');
  const all = Object.keys(s.OBJECT_SCHEMAS);
  const schema = s.OBJECT_SCHEMAS[label as keyof typeof s.OBJECT_SCHEMAS];
  if (!schema) {
    const subs = (s.SUBTYPES as Record<string, readonly string[]>)[label];
    if (subs && subs.length > 0) throw new NotFoundError(`${label} has sub-types: explain one of ${subs.map((x) => `${label}/${x}`).join(', ')}`);
    throw new NotFoundError(`no object type "${name}"; the types are: ${all.join(', ')}`);
  }
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema & { $schema?: string };
  delete json.$schema;
  const example = exampleOf(json, s, label);
  return { type: label, key: `${label.split('/')[0]}/ID`, schema: json, example };
}

export function renderExplained(e: Explained, s: Schemas): string {
  const rows = fieldRows(e.schema, s).map((r) => [r.field, r.type, r.required ? 'required' : '', r.constraints]);
  return [
    `TYPE:     ${e.type}`,
    `NAMED:    ${e.key} (e.g. acp cdb get ${e.key.replace('ID', 'example')})`,
    '',
    table(['FIELD', 'TYPE', 'REQUIRED', 'CONSTRAINTS'], rows),
    '',
    'EXAMPLE:',
    `  acp cdb put '${JSON.stringify(e.example)}'`,
  ].join('\n');
}

export function register(cmd: Command): void {
  cmd.argument('[type]', 'an object type: system, node, storage/pool, service/cdb, …');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
Without TYPE: the list of types. With -o json or -o yaml: the type's JSON Schema
and the example object.

Examples:
  $ acp explain
  $ acp explain system
  $ acp explain storage/pool
  $ acp explain service/cdb -o json`,
    )
    .action(async (type: string | undefined, o: OutputOptions) => {
      const format = formatOf(o);
      const s = await import('../../actors/cdb/schema.ts');
      if (type === undefined) {
        const types = Object.keys(s.OBJECT_SCHEMAS);
        await emit(format, { types }, () => `${table(['TYPE', 'NAMED'], types.map((t) => [t, `${t.split('/')[0]}/ID`]))}\n\nacp explain TYPE shows a type's fields.`);
        return;
      }
      const e = await explain(type);
      await emit(format, e, () => renderExplained(e, s));
    });
}
