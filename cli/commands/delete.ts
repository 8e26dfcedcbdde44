// `acp delete TYPE/ID…` (or `-f FILE`, the objects a file for acp apply
// describes): delete objects, as `kubectl delete` does. An object that does
// not exist is an error (exit 3) unless --ignore-not-found.
import type { Command } from 'commander';
import { CliError, exitForReplyCode, NotFoundError, UsageError } from '../errors.ts';
import { parseRef, REF_HINT, type ObjectRef } from '../kinds.ts';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';

type Options = KeyOptions & OutputOptions & { node?: string; file?: string[]; ignoreNotFound?: boolean };

const deleted = (results: readonly { name: string; result: string }[]): string => {
  const done = results.filter((r) => r.result === 'deleted').map((r) => r.name);
  return done.length ? ` (deleted before it: ${done.join(', ')})` : '';
};

/** The objects named on the command line: TYPE/ID…, or KIND ID. */
export function refsOf(args: readonly string[]): ObjectRef[] {
  if (args.length === 2 && !args[0]!.includes('/') && !args[1]!.includes('/')) {
    const r = parseRef(args[0]!, args[1]);
    if (r) return [r];
  }
  return args.map((a) => {
    const r = parseRef(a);
    if (!r) throw new UsageError(`"${a}": ${REF_HINT}`);
    return r;
  });
}

export function register(cmd: Command): void {
  cmd.argument('[objects...]', 'TYPE/ID of each object (node/n1, pool/p1, storage/p1, …), or KIND ID');
  dirOption(cmd);
  apiKeyOption(cmd);
  cmd
    .option('-f, --file <file>', 'delete the objects this JSON or YAML file describes ("-" for stdin); may be repeated', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--ignore-not-found', 'an object that does not exist is not an error')
    .option('--node <name>', 'send the deletes through this node (default: any, following the leader)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
Deleting an object makes the services remove what they created for it.

Exit codes: 3 when an object does not exist (the others are still deleted),
4 when no node answers.

Examples:
  $ acp delete pool/p1
  $ acp delete network lan
  $ acp delete storage/p1 storage/d1 storage/d2
  $ acp delete -f lan.yaml
  $ acp delete pool/p1 --ignore-not-found`,
    )
    .action(async (args: string[], o: Options) => {
      const format = formatOf(o);
      let refs: ObjectRef[] = refsOf(args);
      if (o.file?.length) {
        const { readDocs } = await import('../manifest.ts');
        for (const d of await readDocs(o.file)) {
          const v = d.value as { type?: unknown; subtype?: unknown; id?: unknown } | null;
          const r = v && typeof v === 'object' && typeof v.type === 'string' && typeof v.id === 'string' ? parseRef(v.type, v.id) : undefined;
          if (!r) throw new UsageError(`${d.source}: an object needs a type (${['system', 'node', 'storage', 'network', 'service'].join(', ')}) and an id to be deleted (nothing was deleted)`);
          refs.push({ ...r, ...(typeof v!.subtype === 'string' ? { subtype: v!.subtype } : {}) });
        }
      }
      if (refs.length === 0) throw new UsageError('name the objects to delete (acp delete pool/p1) or give a file with -f');
      refs = refs.filter((r, i) => refs.findIndex((x) => x.type === r.type && x.id === r.id) === i);
      const { target } = await import('../client.ts');
      const { Session, getObject } = await import('../objects.ts');
      const { nameOf } = await import('./apply.ts');
      const s = await Session.open(target(o), o.node);
      const results: { object: string; name: string; result: 'deleted' | 'not found'; revision?: number }[] = [];
      try {
        for (const r of refs) {
          const object = `${r.type}/${r.id}`;
          const cur = (await getObject(s, r.type, r.id)).object;
          if (!cur) {
            results.push({ object, name: nameOf(r.type, r.subtype, r.id), result: 'not found' });
            continue;
          }
          // With the sub-type named (pool/p1), the object must be one: never delete a device by a pool's name.
          if (r.subtype !== undefined && cur.subtype !== r.subtype) {
            throw new NotFoundError(`${object} is a ${cur.type}/${cur.subtype}, not a ${r.subtype} (to delete it: acp delete ${object})${deleted(results)}`);
          }
          const name = nameOf(cur.type, cur.subtype, cur.id);
          const x = await s.cdb({ op: 'delete', type: r.type, id: r.id });
          if (x.ok) results.push({ object, name, result: 'deleted', revision: x.revision as number });
          else if (x.code === 'not-found') results.push({ object, name, result: 'not found' });
          else throw new CliError(`${name}: ${x.code}: ${x.message}${deleted(results)}`, exitForReplyCode(x.code));
        }
      } finally {
        s.close();
      }
      // Text: what was deleted; what was not found is the error below (JSON/YAML: both, in results).
      await emit(format, { results }, () => results.filter((r) => r.result === 'deleted').map((r) => `${r.name} deleted`).join('\n'));
      const missing = results.filter((r) => r.result === 'not found');
      if (missing.length > 0 && !o.ignoreNotFound) throw new NotFoundError(`${missing.map((r) => r.object).join(', ')} not found`);
    });
}
