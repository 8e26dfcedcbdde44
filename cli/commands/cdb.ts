// `acp cdb get|put|delete|ls|watch|meta`: the cluster database.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { Subscription } from '../../runtime/net/local-api.ts';
import type { Target } from '../client.ts';
import { CliError, exitForReplyCode, NotFoundError, UnreachableError, UsageError } from '../errors.ts';
import { apiKeyOption, dirOption, intOption, type KeyOptions } from '../options.ts';
import { emit, emitEvent, formatOf, outputOptions, table, type OutputOptions } from '../output.ts';

/** The object types (as in actors/cdb/schema.ts; kept here so that `acp cdb --help` need not load the schemas). */
const TYPES = 'system, node, storage, network, service';

type Common = KeyOptions & OutputOptions & { node?: string };

function common(c: Command, examples: string): Command {
  dirOption(c);
  apiKeyOption(c);
  c.option('--node <name>', 'ask this node (default: any, following the leader)');
  return outputOptions(c).addHelpText('after', `\nExamples:\n${examples}`);
}

type Reply = { ok: boolean; code?: string; message?: string; [k: string]: unknown };

/** A reply without its envelope (`ok`, `requestId`): what -o json/yaml prints. */
function data(r: Reply): Record<string, unknown> {
  const { ok: _ok, requestId: _id, ...rest } = r;
  return rest;
}

async function connect(o: Common): Promise<{ t: Target; call: typeof import('../client.ts').call }> {
  const { call, target } = await import('../client.ts');
  return { t: target(o), call };
}

async function request(o: Common, params: Record<string, unknown>, what?: string): Promise<Reply> {
  const { t, call } = await connect(o);
  const r = (await call(t, 'cdb', params, { ...(o.node ? { node: o.node } : {}), ...(what ? { what } : {}) })) as Reply;
  if (!r.ok) throw new CliError(`${r.code}: ${r.message}`, exitForReplyCode(r.code));
  return r;
}

/**
 * TYPE/ID → { type, id }. A bare id is a common first guess (`acp cdb get
 * vm1`): the error says how objects are named and, when the cluster answers,
 * which objects have that id.
 */
async function splitKey(key: string, o: Common, verb: string): Promise<{ type: string; id: string }> {
  const i = key.indexOf('/');
  if (i > 0 && i < key.length - 1) return { type: key.slice(0, i), id: key.slice(i + 1) };
  const id = key.replace(/\//g, '');
  let found: string[] = [];
  if (id && i < 0) {
    try {
      const r = await request(o, { op: 'ls', consistency: 'stale' });
      found = (r.objects as { type: string; id: string }[]).filter((x) => x.id === id).map((x) => `${x.type}/${x.id}`);
    } catch {
      // Only a hint: the error below stands without it.
    }
  }
  if (found.length > 0) throw new UsageError(`objects are named TYPE/ID: "${id}" is ${found.join(' or ')}, e.g. acp cdb ${verb} ${found[0]}`);
  throw new UsageError(`objects are named TYPE/ID (types: ${TYPES}), e.g. acp cdb ${verb} system/${id || 'vm1'}`);
}

function readObjectText(json: string | undefined, file: string | undefined): string {
  if (json !== undefined && file !== undefined) throw new UsageError('give the object either as an argument or with --file, not both');
  if (file === undefined) {
    if (!json) throw new UsageError('give the object as an argument or with --file (e.g. acp cdb put --file vm1.json)');
    return json;
  }
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`--file ${file}: no such file`);
    if (code === 'EISDIR') throw new UsageError(`--file ${file} is a directory, not a file`);
    if (code === 'EACCES' || code === 'EPERM') throw new UsageError(`--file ${file}: permission denied`);
    throw new UsageError(`cannot read --file ${file}: ${(e as Error).message}`);
  }
}

const stale = "read this node's copy without a Raft round trip";

export function register(cdb: Command): void {
  cdb.addHelpText(
    'after',
    `
Objects are named TYPE/ID (types: ${TYPES}); "acp explain TYPE" shows a type's fields.

Examples:
  $ acp cdb put '{"type":"system","id":"vm1","spec":{"name":"vm1","vcpus":2,"memoryMb":512}}'
  $ acp cdb get system/vm1
  $ acp cdb ls system -o wide
  $ acp cdb watch system --from 0`,
  );

  common(
    cdb.command('get').argument('<type/id>', 'the object, e.g. system/vm1').description('one object (linearizable read)'),
    `  $ acp cdb get system/vm1
  $ acp cdb get system/vm1 -o yaml
  $ acp cdb get node/n1 --node n2 --stale`,
  )
    .option('--stale', stale)
    .action(async (key: string, o: Common & { stale?: boolean }) => {
      const format = formatOf(o);
      const r = await request(o, { op: 'get', ...(await splitKey(key, o, 'get')), ...(o.stale ? { consistency: 'stale' } : {}) });
      if (!r.object) throw new NotFoundError(`${key} not found (revision ${r.revision})`);
      await emit(format, r.object, () => JSON.stringify(r.object, null, 2));
    });

  common(
    cdb.command('put').argument('[json]', 'the object as JSON').description('create or replace an object, given as JSON or --file'),
    `  $ acp cdb put '{"type":"system","id":"vm1","spec":{"name":"vm1","vcpus":2,"memoryMb":512}}'
  $ acp cdb put --file vm1.json
  $ acp cdb put --file - < vm1.json
  $ acp cdb put --file vm1.json --expect-revision 0    # only if system/vm1 does not exist yet`,
  )
    .option('--file <file>', 'read the object from a file ("-" for stdin)')
    .option('--expect-revision <rev>', 'compare-and-set: only if the object is at this revision (0: must not exist)')
    .action(async (json: string | undefined, o: Common & { file?: string; expectRevision?: string }) => {
      const format = formatOf(o);
      const text = readObjectText(json, o.file);
      let object: unknown;
      try {
        object = JSON.parse(text);
      } catch (e) {
        throw new UsageError(`the object is not valid JSON: ${(e as Error).message}`);
      }
      const params: Record<string, unknown> = { op: 'put', object };
      if (o.expectRevision !== undefined) params.expectRevision = intOption('--expect-revision', o.expectRevision, 0, Number.MAX_SAFE_INTEGER);
      const r = await request(o, params, 'the object');
      await emit(format, data(r), () => `ok, revision ${r.revision}`);
    });

  common(
    cdb.command('delete').argument('<type/id>', 'the object, e.g. system/vm1').description('delete an object'),
    `  $ acp cdb delete system/vm1
  $ acp cdb delete system/vm1 --expect-revision 42`,
  )
    .option('--expect-revision <rev>', 'only if the object is at this revision')
    .action(async (key: string, o: Common & { expectRevision?: string }) => {
      const format = formatOf(o);
      const params: Record<string, unknown> = { op: 'delete', ...(await splitKey(key, o, 'delete')) };
      if (o.expectRevision !== undefined) params.expectRevision = intOption('--expect-revision', o.expectRevision, 1, Number.MAX_SAFE_INTEGER);
      const r = await request(o, params);
      await emit(format, data(r), () => `deleted, revision ${r.revision}`);
    });

  common(
    cdb.command('ls').argument('[type]', `only objects of this type (${TYPES})`).description('list objects, optionally of one type'),
    `  $ acp cdb ls
  $ acp cdb ls storage --subtype pool
  $ acp cdb ls system --prefix web- -o wide
  $ acp cdb ls -o json | jq '.objects[].id'`,
  )
    .option('--subtype <s>', 'only this sub-type')
    .option('--prefix <p>', 'only ids starting with this')
    .option('--stale', stale)
    .action(async (type: string | undefined, o: Common & { subtype?: string; prefix?: string; stale?: boolean }) => {
      const format = formatOf(o);
      const r = await request(o, { op: 'ls', ...(type ? { type } : {}), ...(o.subtype ? { subtype: o.subtype } : {}), ...(o.prefix ? { prefix: o.prefix } : {}), ...(o.stale ? { consistency: 'stale' } : {}) });
      const objects = r.objects as { type: string; subtype?: string; id: string; revision: number; createdRevision: number; spec: unknown }[];
      await emit(format, data(r), (wide) => {
        const head = wide ? ['OBJECT', 'SUBTYPE', 'REVISION', 'CREATED', 'SPEC'] : ['OBJECT', 'SUBTYPE', 'REVISION'];
        const rows = objects.map((x) => {
          const row = [`${x.type}/${x.id}`, x.subtype ?? '', String(x.revision)];
          if (wide) {
            const spec = JSON.stringify(x.spec);
            row.push(String(x.createdRevision), spec.length > 80 ? spec.slice(0, 79) + '…' : spec);
          }
          return row;
        });
        return `${table(head, rows)}\n(${objects.length} object${objects.length === 1 ? '' : 's'} at revision ${r.revision})`;
      });
    });

  common(
    cdb.command('meta').argument('<type/id>', 'the object, e.g. node/n1').description('merged meta and stats of an object, per reporting node'),
    `  $ acp cdb meta node/n1
  $ acp cdb meta node/n1 -o yaml`,
  ).action(async (key: string, o: Common) => {
    const format = formatOf(o);
    const r = await request(o, { op: 'meta', ...(await splitKey(key, o, 'meta')) });
    await emit(format, r.view, () => JSON.stringify(r.view, null, 2));
  });

  common(
    cdb.command('watch').argument('[type]', `only objects of this type (${TYPES})`).description('follow changes, resumable from a revision (Ctrl-C to stop)'),
    `  $ acp cdb watch                          # every change from now on
  $ acp cdb watch system --from 0          # the whole history still kept, then live
  $ acp cdb watch system --id vm1 --count 1 -o json`,
  )
    .option('--from <rev>', 'deliver changes after this revision', '0')
    .option('--id <id>', 'only this object id')
    .option('--prefix <p>', 'only ids starting with this')
    .option('--count <n>', 'stop after this many changes')
    .action(async (type: string | undefined, o: Common & { from: string; id?: string; prefix?: string; count?: string }) => {
      const format = formatOf(o);
      const from = intOption('--from', o.from, 0, Number.MAX_SAFE_INTEGER);
      const max = o.count ? intOption('--count', o.count, 1, 1_000_000_000) : Infinity;
      const { target, nodesFor } = await import('../client.ts');
      const { subscribeLocal } = await import('../../runtime/net/local-api.ts');
      const t = target(o);
      const node = nodesFor(t, o.node)[0]!;
      let seen = 0;
      let lastRev = from;
      // Events can arrive in the same socket read as the subscription's acknowledgement, i.e.
      // before subscribeLocal's promise resolves and `sub` is assigned: calling sub.close() then
      // threw (temporal dead zone), the client swallowed the error and a `--count` watch whose
      // changes were all in that first batch never exited. Close once `sub` exists.
      let sub: Subscription | undefined;
      let enough = false;
      // Printing YAML may wait for the yaml module: events are printed in order through one chain.
      let printing: Promise<void> = Promise.resolve();
      try {
        sub = await subscribeLocal(
          node.socketDir,
          'watch',
          { fromRevision: from, ...(type ? { type } : {}), ...(o.id ? { id: o.id } : {}), ...(o.prefix ? { prefix: o.prefix } : {}) },
          (d0) => {
            const d = d0 as { revision: number; changes: { revision: number; kind?: string; op?: string; key?: string; type?: string; id?: string }[] };
            for (const c of d.changes) {
              if (seen >= max) break;
              seen++;
              lastRev = c.revision;
              printing = printing.then(() => emitEvent(format, c, () => `${c.revision}  ${c.op ?? c.kind ?? 'change'}  ${c.key ?? `${c.type}/${c.id}`}`));
            }
            if (seen >= max) {
              enough = true;
              sub?.close();
            }
          },
          { apiKey: t.apiKey },
        );
      } catch (e) {
        if ((e as { code?: string }).code === 'EAUTH') throw new CliError('API key rejected');
        throw new UnreachableError(`cannot watch through node ${node.name}: ${(e as Error).message}`);
      }
      const s = sub;
      if (enough) s.close();
      const stop = (): void => s.close();
      process.once('SIGINT', stop);
      try {
        await s.done;
      } catch (e) {
        throw new CliError(`watch ended: ${(e as Error).message} (resume with --from ${lastRev})`);
      } finally {
        process.removeListener('SIGINT', stop);
        await printing;
      }
    });
}
