// `acp apply -f FILE`: create or replace the objects a file describes (one
// object or a list, JSON or YAML), as `kubectl apply` does, saying of each
// whether it was created, configured (changed) or unchanged. Every object of
// every file is checked first — against the CDB's schemas, for duplicates, and
// against what exists (a sub-type cannot change) — and nothing is written
// unless all are valid. Each write is a compare-and-set on the revision read,
// so a concurrent change is never overwritten unseen: it is read again and
// compared again.
import type { Command } from 'commander';
import { CliError, exitForReplyCode, UsageError } from '../errors.ts';
import { kindOf } from '../kinds.ts';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, table, type OutputOptions } from '../output.ts';

type Options = KeyOptions & OutputOptions & { node?: string; file: string[]; dryRun?: boolean };

export type Outcome = 'created' | 'configured' | 'unchanged';

export interface Applied {
  /** TYPE/ID, as acp cdb and acp describe name it */
  object: string;
  /** kind/ID (pool/p1): what acp get and describe take too */
  name: string;
  result: Outcome;
  /** the object's revision after the write (or as it was, unchanged) */
  revision?: number;
}

/** The name of an object in apply's output: its kind's singular and id (pool/p1), else TYPE/ID. */
export function nameOf(type: string, subtype: string | undefined, id: string): string {
  const k = kindOf(type, subtype);
  return `${k ? k.aliases[0] : type}/${id}`;
}

export function renderApplied(results: readonly Applied[], dryRun: boolean, wide: boolean): string {
  const tag = dryRun ? ' (dry run)' : '';
  if (!wide) return results.map((r) => `${r.name} ${r.result}${tag}`).join('\n');
  return table(['OBJECT', 'NAME', 'RESULT', 'REVISION'], results.map((r) => [r.object, r.name, r.result + tag, r.revision === undefined ? '-' : String(r.revision)]));
}

export function register(cmd: Command): void {
  dirOption(cmd);
  apiKeyOption(cmd);
  cmd
    .requiredOption('-f, --file <file>', 'a JSON or YAML file of objects ("-" for stdin); may be repeated', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--dry-run', 'check everything and say what would happen, writing nothing')
    .option('--node <name>', 'send the writes through this node (default: any, following the leader)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
A file holds one object, a list of them (a JSON array, YAML documents
separated by ---, or { items: [...] }). Objects are written as given (a
complete replacement, like acp cdb put), one at a time; the whole input is
validated before anything is written, and an error names the object and the
field, e.g.:
  acp: pools.yaml, object 2: storage/pool "p1": spec.redundancy must be one of mirror, raidz1, none (nothing was applied)
"acp explain TYPE" shows a type's fields.

Exit codes: 2 when the input is invalid (nothing written), 4 when no node
answers; 1 when a write is refused (the objects before it stay applied).

Examples:
  $ acp apply -f lan.yaml
  $ acp apply -f pools.json -f shares.yaml
  $ cat objects.yaml | acp apply -f -
  $ acp apply -f lan.yaml --dry-run
  $ acp apply -f lan.yaml -o json`,
    )
    .action(async (o: Options) => {
      const format = formatOf(o);
      const { readDocs } = await import('../manifest.ts');
      const docs = await readDocs(o.file);
      const { validateObject } = await import('../../actors/cdb/schema.ts');
      type Def = { type: string; subtype?: string; id: string; spec: Record<string, unknown> };
      const defs: { source: string; def: Def }[] = [];
      const errors: string[] = [];
      const seen = new Map<string, string>();
      for (const d of docs) {
        const v = validateObject(d.value);
        if (!v.ok) {
          errors.push(`${d.source}: ${v.error}`);
          continue;
        }
        const { revision: _r, createdRevision: _c, ...def } = v.value as Def & { revision?: number; createdRevision?: number };
        const key = `${def.type}/${def.id}`;
        const before = seen.get(key);
        if (before !== undefined) errors.push(`${d.source}: ${key} is given twice (also ${before})`);
        seen.set(key, d.source);
        defs.push({ source: d.source, def });
      }
      const invalid = (): never => {
        const more = errors.length > 1 ? `; ${errors.length - 1} more invalid object${errors.length > 2 ? 's' : ''}` : '';
        throw new UsageError(`${errors[0]} (nothing was applied${more})`);
      };
      if (errors.length > 0) invalid();

      const { target, checkRequestSize } = await import('../client.ts');
      const t = target(o);
      for (const { source, def } of defs) checkRequestSize(t.apiKey, 'cdb', { op: 'put', object: def, expectRevision: Number.MAX_SAFE_INTEGER }, `${source}: ${def.type}/${def.id}`);
      const { Session, getObject } = await import('../objects.ts');
      const { sameValue } = await import('../object-view.ts');
      const s = await Session.open(t, o.node);
      const results: Applied[] = [];
      try {
        // What exists, read before anything is written: a sub-type that would change is an error in the input.
        const current = await Promise.all(defs.map(({ def }) => getObject(s, def.type, def.id)));
        defs.forEach(({ source, def }, i) => {
          const cur = current[i]!.object;
          if (cur && cur.subtype !== def.subtype) errors.push(`${source}: ${def.subtype ? `${def.type}/${def.subtype}` : def.type} "${def.id}": ${def.type}/${def.id} exists as a ${cur.type}/${cur.subtype}, and a sub-type cannot change (delete it first)`);
        });
        if (errors.length > 0) invalid();

        for (let i = 0; i < defs.length; i++) {
          const { source, def: given } = defs[i]!;
          let cur = current[i]!.object;
          const name = nameOf(given.type, given.subtype, given.id);
          const object = `${given.type}/${given.id}`;
          for (let attempt = 1; ; attempt++) {
            const def = keepPlacement(given, cur);
            if (cur && sameValue(cur.spec, def.spec)) {
              results.push({ object, name, result: 'unchanged', revision: cur.revision });
              break;
            }
            const result: Outcome = cur ? 'configured' : 'created';
            if (o.dryRun) {
              results.push({ object, name, result });
              break;
            }
            const r = await s.cdb({ op: 'put', object: def, expectRevision: cur?.revision ?? 0 }, `${source}: ${object}`);
            if (r.ok) {
              results.push({ object, name, result, revision: r.revision as number });
              break;
            }
            if (r.code === 'conflict' && attempt < 5) {
              // Changed (or created, or deleted) since it was read: read it again and decide again.
              cur = (await getObject(s, def.type, def.id)).object;
              continue;
            }
            throw new CliError(`${source}: ${name}: ${r.code}: ${r.message}${results.length ? ` (applied before it: ${results.map((x) => `${x.name} ${x.result}`).join(', ')})` : ' (nothing was applied)'}`, exitForReplyCode(r.code));
          }
        }
      } finally {
        s.close();
      }
      await emit(format, { results, ...(o.dryRun ? { dryRun: true } : {}) }, (wide) => renderApplied(results, o.dryRun === true, wide));
    });
}

/**
 * A system applied without a placement keeps the one the Monitor wrote (users leave it out):
 * re-applying a manifest must not unplace — and so stop — what runs. Not when the applied spec
 * pins it elsewhere.
 */
export function keepPlacement<D extends { type: string; spec: unknown }>(def: D, cur: { spec: unknown } | undefined): D {
  if (def.type !== 'system' || cur === undefined) return def;
  const spec = def.spec as { node?: string; placement?: { node: string } };
  const was = (cur.spec as { placement?: { node: string } }).placement;
  if (spec.placement !== undefined || was === undefined || (spec.node !== undefined && spec.node !== was.node)) return def;
  return { ...def, spec: { ...spec, placement: was } };
}
