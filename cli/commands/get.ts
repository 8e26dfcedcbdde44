// `acp get KIND [ID]`: the objects of a kind as a table (`kubectl get`,
// `virsh list`), with each one's merged state, the reason, every node's state
// and the latest stats; `--watch` follows changes of the objects and of their
// status until Ctrl-C.
import type { Command } from 'commander';
import { CliError, EXIT, UnreachableError, UsageError } from '../errors.ts';
import { KIND_LIST, KINDS, kindNamed, type Kind } from '../kinds.ts';
import type { Item, StoredObject } from '../object-view.ts';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, emitEvent, formatOf, outputOptions, type Format, type OutputOptions } from '../output.ts';
import type { ObjectView } from '../../actors/cdb/meta.ts';
import type { Session } from '../objects.ts';

type Options = KeyOptions & OutputOptions & { node?: string; watch?: boolean };

/** `pools`, `pool p1`, `pool/p1` → the kind and the id. */
export function kindAndId(what: string, id: string | undefined): { kind: Kind; id?: string } {
  const j = what.lastIndexOf('/');
  if (id === undefined && j > 0 && j < what.length - 1) {
    // `pool/p1` (the kind before the last slash: `storage/pool/p1` too)
    const k = kindNamed(what.slice(0, j));
    if (k) return { kind: k, id: what.slice(j + 1) };
  }
  const kind = kindNamed(what);
  if (!kind) {
    if (/^storages?(\/|$)/i.test(what)) throw new UsageError('storage has sub-types: acp get devices, acp get pools or acp get shares');
    throw new UsageError(`no kind of object "${what}"; acp get ${KIND_LIST}`);
  }
  return { kind, ...(id ? { id } : {}) };
}

export function register(cmd: Command): void {
  cmd
    .argument('<kind>', KIND_LIST)
    .argument('[id]', 'only this object')
    .description('list objects of a kind with their state, reason, nodes and latest stats');
  dirOption(cmd);
  apiKeyOption(cmd);
  cmd.option('--node <name>', 'ask this node (default: any, following the leader)').option('-w, --watch', 'after the list, print a row whenever an object, its state, reason or a node\'s condition changes (Ctrl-C ends)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
Kinds (and their other names):
${KINDS.map((k) => `  ${k.plural.padEnd(10)}${k.aliases.join(', ')}`).join('\n')}

STATE is the worst of the states the nodes report (failed, down, unsupported,
degraded, removing, unknown, pending, …, ready/up/running); NODES shows each
node's, REASON why. A node the object names that has not reported, or whose
report is stale, counts as unknown (a node object: down). -o wide adds the
nodes' info, the age of the last report and every other stat; -o json|yaml
gives each object with its status (state, reason, nodes, stats).

Exit codes: 3 when ID does not exist, 4 when no node answers.

Examples:
  $ acp get nodes
  $ acp get networks -o wide
  $ acp get pools p1
  $ acp get pool/p1 -o yaml
  $ acp get services -o json | jq '.items[] | select(.status.state != "running") | .id'
  $ acp get networks --watch           # a row on every change; Ctrl-C ends`,
    )
    .action(async (what: string, id: string | undefined, o: Options) => {
      const format = formatOf(o);
      const { kind, id: oid } = kindAndId(what, id);
      const { target } = await import('../client.ts');
      const { Session, listKind, getOfKind, withStatus } = await import('../objects.ts');
      const { renderTable, itemValue } = await import('../object-view.ts');
      const t = target(o);
      const s = await Session.open(t, o.node);
      try {
        let revision: number;
        let objects: StoredObject[];
        if (oid !== undefined) {
          const r = await getOfKind(s, kind, oid);
          revision = r.revision;
          objects = [r.object];
        } else ({ revision, objects } = await listKind(s, kind));
        const items = await withStatus(s, objects);
        if (!o.watch) {
          if (oid !== undefined) await emit(format, itemValue(items[0]!), (wide) => renderTable(kind, items, wide));
          else await emit(format, { kind: kind.plural, revision, items: items.map(itemValue) }, (wide) => renderTable(kind, items, wide));
          return;
        }
        await follow(s, kind, oid, format, items, revision);
      } finally {
        s.close();
      }
    });
}

/** Column widths fixed by the first table, so that later rows line up under it (as kubectl get -w). */
function rowPrinter(head: readonly string[], rows: readonly (readonly string[])[]): (cells: readonly string[]) => string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return (cells) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
}

/**
 * --watch: the list first (a table, or an ADDED event per object), then a row (or an event) per
 * change, from two streams of the node: object changes from the listing's revision on, and the
 * meta views as they change. Ends cleanly on Ctrl-C (exit 0), or with exit 4 when the node goes.
 */
async function follow(s: Session, kind: Kind, id: string | undefined, format: Format, initial: Item[], revision: number): Promise<void> {
  const { statusOf, tableRows, watchSignature, itemValue } = await import('../object-view.ts');
  const { ofKind } = await import('../objects.ts');
  const wide = format === 'wide';
  const items = new Map<string, Item>();
  const printed = new Map<string, string>();
  const views = new Map<string, ObjectView>();
  const keyOf = (o: { type: string; id: string }): string => `${o.type}/${o.id}`;
  const first = tableRows(kind, initial, wide);
  const line = rowPrinter(first.head, first.rows);
  let printing: Promise<void> = Promise.resolve();
  const out = (event: 'ADDED' | 'MODIFIED' | 'DELETED', it: Item): void => {
    printing = printing.then(() =>
      emitEvent(format, { event, ...itemValue(it) }, () => {
        const cells = tableRows(kind, [it], wide).rows[0]!;
        if (event === 'DELETED') cells[first.head.indexOf('STATE')] = 'deleted';
        return line(cells);
      }),
    );
  };
  for (const it of initial) {
    items.set(keyOf(it.object), it);
    printed.set(keyOf(it.object), watchSignature(it));
  }
  if (format === 'text' || format === 'wide') process.stdout.write((initial.length ? [first.head, ...first.rows].map(line) : [line(first.head)]).join('\n') + '\n');
  else for (const it of initial) out('ADDED', it);

  const update = (key: string): void => {
    const it = items.get(key);
    if (!it) return;
    const next: Item = { object: it.object, status: statusOf(it.object, views.get(key)) };
    items.set(key, next);
    const sig = watchSignature(next);
    if (printed.get(key) === sig) return;
    printed.set(key, sig);
    out('MODIFIED', next);
  };

  let stop!: (err?: Error) => void;
  const ended = new Promise<void>((resolve, reject) => {
    stop = (err) => (err ? reject(err) : resolve());
  });
  const meta = await s.subscribe('meta', { type: kind.type, ...(id !== undefined ? { id } : {}) }, (d) => {
    const ev = d as { views: ObjectView[]; removed: string[] };
    for (const v of ev.views) {
      views.set(v.key, v);
      update(v.key);
    }
    for (const k of ev.removed) {
      views.delete(k);
      update(k);
    }
  });
  const changes = await s.subscribe('watch', { fromRevision: revision, type: kind.type, ...(kind.subtype ? { subtype: kind.subtype } : {}), ...(id !== undefined ? { id } : {}) }, (d) => {
    const ev = d as { changes: ({ op: 'put'; key: string; object: StoredObject } | { op: 'delete'; key: string })[] };
    for (const c of ev.changes) {
      if (c.op === 'put') {
        if (!ofKind(kind, c.object)) continue;
        const had = items.has(c.key);
        const it: Item = { object: c.object, status: statusOf(c.object, views.get(c.key)) };
        items.set(c.key, it);
        printed.set(c.key, watchSignature(it));
        out(had ? 'MODIFIED' : 'ADDED', it);
      } else {
        const it = items.get(c.key);
        if (!it) continue;
        items.delete(c.key);
        printed.delete(c.key);
        out('DELETED', it);
      }
    }
  });
  const quit = (): void => stop();
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  const why = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
  meta.done.then(() => stop(new Error('the node ended the stream')), (e) => stop(why(e)));
  changes.done.then(() => stop(new Error('the node ended the stream')), (e) => stop(why(e)));
  try {
    await ended;
  } catch (e) {
    const msg = (e as Error).message;
    if ((e as { code?: string }).code === 'compacted') throw new CliError(`watch ended: ${msg}`, EXIT.failed);
    throw new UnreachableError(`watch ended: node ${s.node}: ${msg}`);
  } finally {
    process.removeListener('SIGINT', quit);
    process.removeListener('SIGTERM', quit);
    meta.close();
    changes.close();
    await printing;
  }
}
