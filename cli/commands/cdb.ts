// `acp cdb get|put|delete|ls|watch|meta`: the cluster database.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { loadApiKey } from '../../runtime/net/pki.ts';
import { subscribeLocal, type Subscription } from '../../runtime/net/local-api.ts';
import { call, target } from '../client.ts';
import { UsageError } from '../errors.ts';
import { intOption } from '../options.ts';
import { pkiDir } from '../cluster-dir.ts';

interface Common {
  dir: string;
  apiKey?: string;
  json?: boolean;
  node?: string;
}

function common(c: Command): Command {
  return c
    .option('--dir <dir>', 'cluster directory', '.acp')
    .option('--api-key <key>', 'API key (default: DIR/pki/api.key or $ACP_API_KEY)')
    .option('--node <name>', 'ask this node (default: any, following the leader)')
    .option('--json', 'print JSON');
}

type Reply = { ok: boolean; code?: string; message?: string; [k: string]: unknown };

async function request(o: Common, params: Record<string, unknown>): Promise<Reply> {
  const t = target(o.dir, o.apiKey);
  const r = (await call(t, 'cdb', params, o.node ? { node: o.node } : {})) as Reply;
  if (!r.ok) throw new UsageError(`${r.code}: ${r.message}`, 1);
  return r;
}

function splitKey(key: string): { type: string; id: string } {
  const i = key.indexOf('/');
  if (i <= 0 || i === key.length - 1) throw new UsageError(`an object is named type/id (e.g. node/n1), got "${key}"`);
  return { type: key.slice(0, i), id: key.slice(i + 1) };
}

export function register(program: Command): void {
  const cdb = program.command('cdb').description('read and write the cluster database');

  common(cdb.command('get <type/id>').description('one object (linearizable read)'))
    .option('--stale', 'read this node\'s copy without a Raft round trip')
    .action(async (key: string, o: Common & { stale?: boolean }) => {
      const r = await request(o, { op: 'get', ...splitKey(key), ...(o.stale ? { consistency: 'stale' } : {}) });
      if (!r.object) throw new UsageError(`${key} not found (revision ${r.revision})`, 1);
      process.stdout.write(JSON.stringify(o.json ? r : r.object, null, 2) + '\n');
    });

  common(cdb.command('put [json]').description('create or replace an object, given as JSON or --file'))
    .option('--file <file>', 'read the object from a file ("-" for stdin)')
    .option('--expect-revision <rev>', 'compare-and-set: only if the object is at this revision (0: must not exist)')
    .action(async (json: string | undefined, o: Common & { file?: string; expectRevision?: string }) => {
      const text = o.file ? readFileSync(o.file === '-' ? 0 : o.file, 'utf8') : json;
      if (!text) throw new UsageError('give the object as an argument or with --file');
      let object: unknown;
      try {
        object = JSON.parse(text);
      } catch (e) {
        throw new UsageError(`the object is not valid JSON: ${(e as Error).message}`);
      }
      const params: Record<string, unknown> = { op: 'put', object };
      if (o.expectRevision !== undefined) params.expectRevision = intOption('--expect-revision', o.expectRevision, 0, Number.MAX_SAFE_INTEGER);
      const r = await request(o, params);
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : `ok, revision ${r.revision}\n`);
    });

  common(cdb.command('delete <type/id>').description('delete an object'))
    .option('--expect-revision <rev>', 'only if the object is at this revision')
    .action(async (key: string, o: Common & { expectRevision?: string }) => {
      const params: Record<string, unknown> = { op: 'delete', ...splitKey(key) };
      if (o.expectRevision !== undefined) params.expectRevision = intOption('--expect-revision', o.expectRevision, 1, Number.MAX_SAFE_INTEGER);
      const r = await request(o, params);
      process.stdout.write(o.json ? JSON.stringify(r) + '\n' : `deleted, revision ${r.revision}\n`);
    });

  common(cdb.command('ls [type]').description('list objects, optionally of one type'))
    .option('--subtype <s>', 'only this sub-type')
    .option('--prefix <p>', 'only ids starting with this')
    .option('--stale', 'read this node\'s copy without a Raft round trip')
    .action(async (type: string | undefined, o: Common & { subtype?: string; prefix?: string; stale?: boolean }) => {
      const r = await request(o, { op: 'ls', ...(type ? { type } : {}), ...(o.subtype ? { subtype: o.subtype } : {}), ...(o.prefix ? { prefix: o.prefix } : {}), ...(o.stale ? { consistency: 'stale' } : {}) });
      const objects = r.objects as { type: string; subtype?: string; id: string; revision: number }[];
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const rows = objects.map((x) => [`${x.type}/${x.id}`, x.subtype ?? '', String(x.revision)]);
      const w = [0, 1].map((i) => Math.max(['OBJECT', 'SUBTYPE'][i]!.length, ...rows.map((r) => r[i]!.length)));
      process.stdout.write(['OBJECT'.padEnd(w[0]!), 'SUBTYPE'.padEnd(w[1]!), 'REVISION'].join('  ') + '\n');
      for (const row of rows) process.stdout.write([row[0]!.padEnd(w[0]!), row[1]!.padEnd(w[1]!), row[2]].join('  ') + '\n');
      process.stdout.write(`(${objects.length} object${objects.length === 1 ? '' : 's'} at revision ${r.revision})\n`);
    });

  common(cdb.command('meta <type/id>').description('merged meta and stats of an object, per reporting node'))
    .action(async (key: string, o: Common) => {
      const r = await request(o, { op: 'meta', ...splitKey(key) });
      process.stdout.write(JSON.stringify(r.view, null, 2) + '\n');
    });

  common(cdb.command('watch [type]').description('follow changes, resumable from a revision (Ctrl-C to stop)'))
    .option('--from <rev>', 'deliver changes after this revision', '0')
    .option('--id <id>', 'only this object id')
    .option('--prefix <p>', 'only ids starting with this')
    .option('--count <n>', 'stop after this many changes')
    .action(async (type: string | undefined, o: Common & { from: string; id?: string; prefix?: string; count?: string }) => {
      const t = target(o.dir, o.apiKey);
      const from = intOption('--from', o.from, 0, Number.MAX_SAFE_INTEGER);
      const max = o.count ? intOption('--count', o.count, 1, 1_000_000_000) : Infinity;
      const node = o.node ? t.cluster.nodes.find((n) => n.name === o.node) : t.cluster.nodes[0];
      if (!node) throw new UsageError(`no node named ${o.node} in ${t.dir}`);
      let seen = 0;
      let lastRev = from;
      // Events can arrive in the same socket read as the subscription's acknowledgement, i.e.
      // before subscribeLocal's promise resolves and `sub` is assigned: calling sub.close() then
      // threw (temporal dead zone), the client swallowed the error and a `--count` watch whose
      // changes were all in that first batch never exited. Close once `sub` exists.
      let sub: Subscription | undefined;
      let enough = false;
      sub = await subscribeLocal(
        node.socketDir,
        'watch',
        { fromRevision: from, ...(type ? { type } : {}), ...(o.id ? { id: o.id } : {}), ...(o.prefix ? { prefix: o.prefix } : {}) },
        (data) => {
          const d = data as { revision: number; changes: { revision: number; kind?: string; op?: string; key?: string; type?: string; id?: string }[] };
          for (const c of d.changes) {
            if (seen >= max) break;
            seen++;
            lastRev = c.revision;
            process.stdout.write(o.json ? JSON.stringify(c) + '\n' : `${c.revision}  ${c.op ?? c.kind ?? 'change'}  ${c.key ?? `${c.type}/${c.id}`}\n`);
          }
          if (seen >= max) {
            enough = true;
            sub?.close();
          }
        },
        { apiKey: t.apiKey ?? loadApiKey(pkiDir(t.dir)) },
      );
      if (enough) sub.close();
      const stop = (): void => sub.close();
      process.once('SIGINT', stop);
      try {
        await sub.done;
      } catch (e) {
        throw new UsageError(`watch ended: ${(e as Error).message} (resume with --from ${lastRev})`, 1);
      } finally {
        process.removeListener('SIGINT', stop);
      }
    });
}
