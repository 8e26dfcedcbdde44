// Meta and stats reach every node by gossip on the node transport, never
// through Raft: every node's view of node/<name> carries fresh stats from
// that node, the contributions keep advancing, and meanwhile the cdb group's
// commit index does not move.
import test from 'ava';
import { TestCluster, runCli, waitFor } from '../support/cluster.ts';
import type { ObjectView } from '../../actors/cdb/meta.ts';

test('meta/stats of every node reach every node without Raft writes', async (t) => {
  const c = await TestCluster.forTest(t);
  const view = async (via: string, key: string): Promise<ObjectView | undefined> => {
    const [type, id] = key.split('/');
    const r = await c.cdb(via, { op: 'meta', type, id }, 3000).catch(() => undefined);
    return r?.ok ? (r.view as ObjectView) : undefined;
  };
  const fresh = (v: ObjectView | undefined, from: string) => v?.nodes.find((n) => n.node === from && !n.stale && typeof n.stats?.rssBytes === 'number' && n.meta?.updatedBy.node === from);

  // Within a bound, every node sees fresh stats from every node (including itself) about node/<that node>.
  await waitFor(
    'every node to see fresh meta/stats of every node',
    async () => {
      for (const via of c.names) for (const subject of c.names) if (!fresh(await view(via, `node/${subject}`), subject)) return undefined;
      return true;
    },
    20_000,
    200,
  );
  for (const via of c.names) {
    for (const subject of c.names) {
      const v = (await view(via, `node/${subject}`))!;
      t.is(v.state, 'up', `${via} sees node/${subject} up`);
      t.false(v.stale);
      t.is(v.metaFrom, subject, `${via}: node/${subject}'s meta comes from ${subject} itself`);
      t.true(typeof v.stats.cpu === 'number' && typeof v.stats.load1 === 'number');
    }
  }

  // Quiesce: every node has registered its objects (those are real Raft writes), and the
  // commit index stopped moving.
  await waitFor('the 9 registration objects', async () => ((await c.cdb('n1', { op: 'ls', type: 'service' })).objects as unknown[] | undefined)?.length === 6, 20_000);
  async function seqs(): Promise<Map<string, number>> {
    const m = new Map<string, number>();
    for (const via of c.names) for (const subject of c.names) m.set(`${via}<-${subject}`, fresh(await view(via, `node/${subject}`), subject)?.seq ?? -1);
    return m;
  }
  const settled = async () => {
    let lastCommit = -1;
    return waitFor(
      'the cdb commit index to settle',
      async () => {
        const st = await c.statuses();
        const commits = [...st.values()].map((s) => s.raft.cdb.commit);
        const applied = [...st.values()].map((s) => s.raft.cdb.applied);
        const terms = new Set([...st.values()].map((s) => s.raft.cdb.term));
        const ok = st.size === 3 && terms.size === 1 && new Set([...commits, ...applied]).size === 1 && commits[0] === lastCommit;
        lastCommit = commits[0] ?? -1;
        return ok ? { commit: commits[0]!, term: [...terms][0]!, seqs: await seqs() } : undefined;
      },
      20_000,
      500,
    );
  };

  // A measurement window with no client writes: it lasts until every remote contribution has
  // advanced on every node (meta keeps flowing), and the cdb log must not have grown by a single
  // entry meanwhile. A window in which the cdb term changed is measured again: a new leader
  // appends one no-op entry, which is Raft's doing, not meta traffic's (rare, on a loaded machine).
  for (let attempt = 1; ; attempt++) {
    const before = await settled();
    const afterSeqs = await waitFor(
      () => `every contribution to advance on every node (before: ${JSON.stringify(Object.fromEntries(before.seqs))})`,
      async () => {
        const now = await seqs();
        return [...before.seqs].every(([k, s0]) => now.get(k)! > s0) ? now : undefined;
      },
      30_000,
      100,
    );
    const st = await c.statuses();
    t.is(st.size, 3);
    if ([...st.values()].some((s) => s.raft.cdb.term !== before.term) && attempt < 3) {
      t.log(`cdb term changed during window ${attempt}; measuring again`);
      continue;
    }
    for (const [k, s0] of before.seqs) {
      const s1 = afterSeqs.get(k)!;
      t.true(s1 > s0, `${k}: the contribution advanced (${s0} → ${s1})`);
    }
    for (const s of st.values()) {
      t.is(s.raft.cdb.commit, before.commit, `${s.node}: cdb commit unchanged by meta traffic (${before.commit} → ${s.raft.cdb.commit})`);
      t.is(s.raft.cdb.applied, before.commit);
      // The gossip really is on the transport: frames flow to every peer.
      for (const p of c.names.filter((n) => n !== s.node)) t.true(s.transport[p]?.connected && s.transport[p]!.framesIn > 0, `${s.node} receives frames from ${p}`);
    }
    break;
  }

  // The same view through the CLI, from a node that is not the subject.
  const cli = await runCli(['cdb', 'meta', 'node/n2', '--dir', c.dir, '--node', 'n3'], { timeoutMs: 30_000 });
  t.is(cli.code, 0, cli.stderr);
  const v = JSON.parse(cli.stdout) as ObjectView;
  t.is(v.key, 'node/n2');
  t.truthy(v.nodes.find((n) => n.node === 'n2' && !n.stale && typeof n.stats?.rssBytes === 'number'));
});
