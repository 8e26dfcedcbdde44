// Reading and writing the cluster's objects with their status, for `acp
// get`, `describe`, `apply`, `delete` and `capabilities`: one connection to a
// node (the one named by --node, else the first that answers) carries every
// request of the command — the listing, one meta view per object, the writes
// — and the streams of `--watch`. Reads and writes a node cannot serve for
// want of a leader go through client.ts's call(), which finds the leader, as
// `acp cdb` does.
import type { ObjectView } from '../actors/cdb/meta.ts';
import { LocalApiError, LocalClient, type Subscription } from '../runtime/net/local-api.ts';
import { call, checkRequestSize, nodesFor, type Target } from './client.ts';
import { CliError, EXIT, exitForReplyCode, NotFoundError, UnreachableError } from './errors.ts';
import type { Kind } from './kinds.ts';
import { historyOf, statusOf, type Description, type Item, type StoredObject } from './object-view.ts';

export type Reply = { ok: boolean; code?: string; message?: string; leader?: string; actual?: number; [k: string]: unknown };

export class Session {
  readonly t: Target;
  readonly node: string;
  readonly #client: LocalClient;
  readonly #pinned: boolean;

  private constructor(t: Target, node: string, client: LocalClient, pinned: boolean) {
    this.t = t;
    this.node = node;
    this.#client = client;
    this.#pinned = pinned;
  }

  /** Connect to the node named, or to the first node that answers. */
  static async open(t: Target, node?: string): Promise<Session> {
    let last: Error | undefined;
    for (const n of nodesFor(t, node)) {
      try {
        return new Session(t, n.name, await LocalClient.connect(n.socketDir, { apiKey: t.apiKey, timeoutMs: 10_000 }), node !== undefined);
      } catch (e) {
        last = e as Error;
      }
    }
    const why = last?.message ?? 'no answer';
    if (node !== undefined) throw new UnreachableError(`node ${node}: ${why}`);
    throw new UnreachableError(`no node in ${t.dir} could answer: ${why} (is the cluster running? acp status --dir ${t.dir})`);
  }

  close(): void {
    this.#client.close();
  }

  async #call(method: string, params: unknown, timeoutMs = 10_000): Promise<unknown> {
    try {
      return await this.#client.call(method, params, { timeoutMs });
    } catch (e) {
      if (e instanceof LocalApiError && e.code === 'EAUTH') throw new CliError('API key rejected', EXIT.failed);
      throw new CliError(`node ${this.node}: ${(e as Error).message} (the request may or may not have taken effect)`, EXIT.failed);
    }
  }

  /**
   * A CDB request; the reply as it came (ok or not). Refused for want of a leader on this node, it
   * goes to the others (unless --node pinned it): such a request was not carried out.
   */
  async cdb(params: Record<string, unknown>, what?: string): Promise<Reply> {
    checkRequestSize(this.t.apiKey, 'cdb', params, what);
    const r = (await this.#call('cdb', params)) as Reply;
    if (!r.ok && (r.code === 'not-leader' || r.code === 'unavailable') && !this.#pinned && this.t.cluster.nodes.length > 1) {
      return (await call(this.t, 'cdb', params, what ? { what } : {})) as Reply;
    }
    return r;
  }

  /** A CDB request that must succeed: an error reply is thrown with its exit code. */
  async cdbOk(params: Record<string, unknown>, what?: string): Promise<Reply> {
    const r = await this.cdb(params, what);
    if (!r.ok) throw new CliError(`${r.code}: ${r.message}`, exitForReplyCode(r.code));
    return r;
  }

  /** Any method of the node's control socket (an error of the transport is thrown as #call says). */
  async call(method: string, params: unknown, timeoutMs = 10_000): Promise<Reply> {
    return (await this.#call(method, params, timeoutMs)) as Reply;
  }

  /** The merged meta view of one object, as this node sees it. */
  async view(type: string, id: string): Promise<ObjectView> {
    const r = (await this.#call('cdb', { op: 'meta', type, id })) as Reply;
    if (!r.ok) throw new CliError(`${r.code}: ${r.message}`, exitForReplyCode(r.code));
    return r.view as ObjectView;
  }

  /** Subscribe to one of the node's streams (`watch`, `meta`) on this connection. */
  async subscribe(method: string, params: unknown, onEvent: (data: unknown) => void): Promise<Subscription> {
    try {
      return await this.#client.subscribe(method, params, onEvent);
    } catch (e) {
      if (e instanceof LocalApiError && e.code === 'EAUTH') throw new CliError('API key rejected', EXIT.failed);
      throw new UnreachableError(`cannot follow changes through node ${this.node}: ${(e as Error).message}`);
    }
  }
}

/** Does this object belong to the kind? */
export function ofKind(kind: Kind, o: { type: string; subtype?: string }): boolean {
  return o.type === kind.type && (kind.subtype === undefined || o.subtype === kind.subtype);
}

/** Items with their status: one meta request per object, all on the one connection at once. */
export async function withStatus(s: Session, objects: readonly StoredObject[]): Promise<Item[]> {
  const views = await Promise.all(objects.map((o) => s.view(o.type, o.id)));
  return objects.map((o, i) => ({ object: o, status: statusOf(o, views[i]) }));
}

/** The objects of a kind (linearizable), sorted by id. */
export async function listKind(s: Session, kind: Kind): Promise<{ revision: number; objects: StoredObject[] }> {
  const r = await s.cdbOk({ op: 'ls', type: kind.type, ...(kind.subtype ? { subtype: kind.subtype } : {}) });
  const objects = (r.objects as StoredObject[]).filter((o) => ofKind(kind, o)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { revision: r.revision as number, objects };
}

/** One object (linearizable), or undefined. */
export async function getObject(s: Session, type: string, id: string): Promise<{ revision: number; object?: StoredObject }> {
  const r = await s.cdbOk({ op: 'get', type, id });
  return { revision: r.revision as number, ...(r.object ? { object: r.object as StoredObject } : {}) };
}

/** One object of a kind, or a NotFoundError that says what the id is when it is of another sub-type. */
export async function getOfKind(s: Session, kind: Kind, id: string): Promise<{ revision: number; object: StoredObject }> {
  const r = await getObject(s, kind.type, id);
  const o = r.object;
  if (!o) throw new NotFoundError(`${kind.aliases[0]}/${id} not found (revision ${r.revision})`);
  if (!ofKind(kind, o)) throw new NotFoundError(`${kind.aliases[0]}/${id} not found: ${o.type}/${id} is a ${o.subtype} (acp describe ${o.type}/${id})`);
  return { revision: r.revision, object: o };
}

type HistoryChange = { revision: number; op: string; created?: boolean; object?: { spec?: unknown } };

/**
 * The writes of one object the CDB still keeps (this node's copy of the change history), from
 * its creation on; `truncated` when older ones are gone. Best effort: describe shows the object
 * without its history rather than fail for it.
 */
async function historyChanges(s: Session, o: StoredObject): Promise<{ changes: HistoryChange[]; truncated: boolean }> {
  const out: HistoryChange[] = [];
  let from = Math.max(0, o.createdRevision - 1);
  let truncated = false;
  try {
    for (let page = 0; page < 50; page++) {
      const r = await s.cdb({ op: 'watch', fromRevision: from, type: o.type, id: o.id, limit: 1000 });
      if (!r.ok) return { changes: out, truncated: true };
      if (r.compacted) {
        // Older history is compacted away: what is left, from the oldest revision kept.
        truncated = true;
        from = r.oldest as number;
        continue;
      }
      out.push(...(r.changes as HistoryChange[]));
      if (!r.more) break;
      from = r.revision as number;
    }
  } catch {
    return { changes: out, truncated: true };
  }
  // Keep the last 100: describe shows the last few.
  return { changes: out.slice(-100), truncated: truncated || out.length > 100 };
}

/** Everything about one object: it, its status, and its history as far as the CDB keeps it. */
export async function describeObject(s: Session, o: StoredObject): Promise<Description> {
  const [view, h] = await Promise.all([s.view(o.type, o.id), historyChanges(s, o)]);
  const history = historyOf(h.changes);
  return { item: { object: o, status: statusOf(o, view) }, history, ...(h.truncated || history[0]?.op !== 'created' ? { historyTruncated: true } : {}) };
}
