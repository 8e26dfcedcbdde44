// Watches on a real cluster: from revision R exactly the changes after R are
// delivered (in order, no gaps, no duplicates), live changes follow, and a
// watcher that disconnects — by closing, or because its node was killed —
// resumes from the last revision it saw, on any node, without losing a change.
import test from 'ava';
import { subscribeLocal, type Subscription } from '../../runtime/net/local-api.ts';
import { TestCluster, runCli, waitFor } from '../support/cluster.ts';
import { within } from '../support/wait.ts';

interface Change {
  revision: number;
  op: 'put' | 'delete';
  key: string;
  id: string;
}

test('watch from a revision delivers exactly the later changes, live, and resumes after a disconnect', async (t) => {
  const c = await TestCluster.forTest(t);
  const writes: { id: string; op: 'put' | 'delete'; revision: number }[] = [];
  const put = async (id: string, via = 'n2'): Promise<void> => {
    const r = await c.put(via, { type: 'system', id, spec: { name: id, vcpus: 1, memoryMb: 32 } });
    t.true(r.ok, r.message);
    writes.push({ id, op: 'put', revision: r.revision as number });
  };
  const del = async (id: string): Promise<void> => {
    // Retried only while definitely not executed (no leader yet).
    const r = await waitFor(`delete of ${id}`, async () => {
      const x = await c.cdb('n2', { op: 'delete', type: 'system', id }, 10_000);
      return !x.ok && (x.code === 'not-leader' || x.code === 'unavailable') ? undefined : x;
    });
    t.true(r.ok, r.message);
    writes.push({ id, op: 'delete', revision: r.revision as number });
  };
  const expected = (after: number, upTo = Infinity) => writes.filter((w) => w.revision > after && w.revision <= upTo).map((w) => ({ revision: w.revision, op: w.op, key: `system/${w.id}` }));
  const brief = (cs: Change[]) => cs.map((x) => ({ revision: x.revision, op: x.op, key: x.key }));

  const watch = async (via: string, from: number): Promise<{ got: Change[]; sub: Subscription }> => {
    const got: Change[] = [];
    const sub = await subscribeLocal(c.node(via).socketDir, 'watch', { fromRevision: from, type: 'system', prefix: 'wt-' }, (d) => got.push(...(d as { changes: Change[] }).changes), { apiKey: c.apiKey, timeoutMs: 20_000 });
    return { got, sub };
  };
  const until = (got: Change[], n: number, what: string) => waitFor(`${what}: ${n} changes (have ${got.length})`, () => got.length >= n, 20_000, 50);

  for (const id of ['wt-1', 'wt-2', 'wt-3', 'wt-4']) await put(id);
  await del('wt-1');
  const R = writes[1]!.revision;

  // From R: exactly the three changes after it (two puts and the delete), in revision order.
  const w1 = await watch('n1', R);
  await until(w1.got, 3, 'history after R');
  t.deepEqual(brief(w1.got), expected(R));
  t.is((w1.got[0] as unknown as { object: { spec: { name: string } } }).object.spec.name, 'wt-3');
  // Live: a new change arrives on the open watch.
  await put('wt-5', 'n3');
  await until(w1.got, 4, 'live change');
  t.deepEqual(brief(w1.got), expected(R));
  // The watcher disconnects; changes happen meanwhile; it resumes (on another node) from the last revision it saw.
  w1.sub.close();
  await w1.sub.done;
  const last1 = w1.got.at(-1)!.revision;
  await put('wt-6');
  await put('wt-3'); // an update, not only creations
  const w2 = await watch('n3', last1);
  await until(w2.got, 2, 'resumed watch');
  t.deepEqual(brief(w2.got), expected(last1), 'the resumed watch misses nothing and repeats nothing');

  // A watcher whose node dies (kill -9) sees its stream fail, and resumes elsewhere.
  const victim = 'n3';
  const ended = w2.sub.done.then(
    () => 'ended cleanly',
    (e: Error) => e,
  );
  await c.kill(victim);
  t.true((await within(ended, { what: 'the watch on the killed node to fail' })) instanceof Error, 'the stream failed, it did not end cleanly');
  const last2 = w2.got.at(-1)!.revision;
  const writer = c.alive()[0]!;
  await put('wt-7', writer);
  await del('wt-2');
  const w3 = await watch(c.alive()[1]!, last2);
  await until(w3.got, 2, 'resumed after the node died');
  t.deepEqual(brief(w3.got), expected(last2));
  w3.sub.close();

  // The same through `acp cdb watch` as a child process: history from R, then exit after --count.
  const cli = await runCli(['cdb', 'watch', 'system', '--prefix', 'wt-', '--from', String(R), '--count', '3', '--json', '--dir', c.dir, '--node', 'n1'], { timeoutMs: 30_000 });
  t.is(cli.code, 0, cli.stderr);
  const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as Change);
  t.deepEqual(brief(lines), expected(R).slice(0, 3));
  // Live through the CLI: it waits for changes after the newest revision, which are written after it started.
  const newest = writes.at(-1)!.revision;
  const live = runCli(['cdb', 'watch', 'system', '--prefix', 'wt-', '--from', String(newest), '--count', '2', '--json', '--dir', c.dir, '--node', 'n2'], { timeoutMs: 30_000 });
  await put('wt-8', 'n1');
  await put('wt-9', 'n2');
  const lv = await live;
  t.is(lv.code, 0, lv.stderr);
  t.deepEqual(brief(lv.stdout.trim().split('\n').map((l) => JSON.parse(l) as Change)), expected(newest));
});
