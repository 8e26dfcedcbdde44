// Chaos on real processes: clients read, write and compare-and-set a few CDB
// objects through every node while a seeded nemesis SIGKILLs and restarts
// nodes. The recorded history must be linearizable (runtime/lincheck, KV
// model) and no acknowledged write may be lost. Definite failures are
// dropped from the history; an outcome the client could not learn
// (timeout, connection lost, `indeterminate`) is recorded as pending.
//
// Mapping onto the CDB: key kN = object system/chaos-kN, value = spec.name
// (every written value is unique), absent = null. read = linearizable get;
// write = put; cas(expected → v) = put with expectRevision = the revision at
// which the client read `expected` (0 = must not exist). With unique values
// "still at that revision" ⇔ "still holds that value", so the revision CAS is
// the model's value CAS.
import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { checkOperations, kvModel, renderCheckResult, type KvInput, type KvOperation, type KvOutput } from '../../runtime/lincheck/index.ts';
import { setTimeout as pause } from 'node:timers/promises';
import { TestCluster, waitFor, type Reply } from '../support/cluster.ts';

const SEED = Number(process.env.ACP_CHAOS_SEED ?? 20_261_123);
/** Kill-and-restart rounds. The nemesis is paced by the clients' progress, not by the clock. */
const ROUNDS = Number(process.env.ACP_CHAOS_ROUNDS ?? 6);
const CLIENTS = 6;
const KEYS = ['k1', 'k2', 'k3', 'k4'];
const CALL_TIMEOUT_MS = 8000;
/** The checker's budget in search steps (not milliseconds: the verdict must not depend on the machine's load). */
const CHECK_STEPS = 5_000_000;

/** Codes that promise the request had no effect (runtime/raft-host/protocol.ts, actors/cdb/store.ts). */
const DEFINITE = new Set(['not-leader', 'unavailable', 'invalid']);

type Outcome = { kind: 'ok'; reply: Reply } | { kind: 'failed' } | { kind: 'unknown'; why: string };

test('clients stay linearizable and lose no acknowledged write while nodes are killed and restarted', async (t) => {
  const c = await TestCluster.forTest(t);
  // From here on (not counting the wait for a cluster slot): the amount of work is fixed
  // (rounds, operations), so the time it takes grows with the machine's load: 6 rounds of a node
  // restart each took up to 15 s on a 2-core machine at load 20. Every wait inside has its own
  // deadline naming what did not happen; this only bounds the whole.
  t.timeout(300_000);
  t.log(`seed ${SEED} (ACP_CHAOS_SEED), ${ROUNDS} rounds (ACP_CHAOS_ROUNDS)`);
  const rng = new SeededRng(SEED);
  const nemesisRng = rng.fork();
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const history: KvOperation[] = [];
  const acked: { key: string; value: string; revision: number }[] = [];
  const counts = { ok: 0, failed: 0, unknown: 0, kills: 0 };

  async function send(via: string, params: Record<string, unknown>): Promise<Outcome> {
    let r: Reply;
    try {
      r = await c.cdb(via, params, CALL_TIMEOUT_MS);
    } catch (e) {
      // Could not connect at all: nothing was sent. Anything else (timeout, disconnect): unknown.
      if ((e as { notSent?: boolean }).notSent === true) return { kind: 'failed' };
      return { kind: 'unknown', why: (e as Error).message };
    }
    if (r.ok) return { kind: 'ok', reply: r };
    if (r.code === 'conflict') return { kind: 'ok', reply: r };
    if (DEFINITE.has(r.code ?? '')) return { kind: 'failed' };
    return { kind: 'unknown', why: `${r.code}: ${r.message}` };
  }

  const sysObj = (key: string, value: string) => ({ type: 'system', id: `chaos-${key}`, spec: { name: value, vcpus: 1, memoryMb: 16 } });
  let stop = false;

  async function client(i: number): Promise<void> {
    const r = rng.fork();
    let gen = 0;
    let seq = 0;
    // What this client last read of each key (value and revision), for its next CAS.
    const seen = new Map<string, { value: string | null; revision: number }>();
    while (!stop) {
      const alive = c.alive();
      if (alive.length === 0) {
        await pause(50); // no node to talk to: don't spin
        continue;
      }
      const via = alive[(i + r.int(0, 2)) % alive.length]!;
      const key = KEYS[r.int(0, KEYS.length - 1)]!;
      const id = `${i}.${gen}`;
      const dice = r.int(0, 9);
      let input: KvInput;
      let params: Record<string, unknown>;
      const last = seen.get(key);
      if (dice < 4 || (dice >= 7 && !last)) {
        input = { op: 'read', key };
        params = { op: 'get', type: 'system', id: `chaos-${key}` };
      } else if (dice < 7) {
        const value = `c${i}-${++seq}`;
        input = { op: 'write', key, value };
        params = { op: 'put', object: sysObj(key, value) };
      } else {
        const value = `c${i}-${++seq}`;
        input = { op: 'cas', key, expected: last!.value, value };
        params = { op: 'put', object: sysObj(key, value), expectRevision: last!.revision };
      }
      const call = now();
      const out = await send(via, params);
      const ret = now();
      if (out.kind === 'failed') {
        counts.failed++;
        await pause(25); // e.g. a node restarting: don't spin
        continue; // definitely no effect: not in the history
      }
      if (out.kind === 'unknown') {
        counts.unknown++;
        // Reads have no effect: an unknown read is simply dropped. A write or CAS stays pending
        // forever, and this client continues as a new process (one operation per process at a time).
        if (input.op !== 'read') history.push({ client: id, input, output: undefined, call, return: undefined });
        gen++;
        seen.delete(key);
        continue;
      }
      counts.ok++;
      const rep = out.reply;
      let output: KvOutput;
      if (input.op === 'read') {
        const obj = rep.object as { spec: { name: string }; revision: number } | undefined;
        output = { value: obj ? obj.spec.name : null };
        seen.set(key, { value: obj ? obj.spec.name : null, revision: obj ? obj.revision : 0 });
      } else if (input.op === 'write') {
        if (!rep.ok) throw new Error(`a put without expectRevision failed definitely but not with a definite code: ${JSON.stringify(rep)}`);
        output = { ok: true };
        acked.push({ key, value: input.value!, revision: rep.revision as number });
        seen.set(key, { value: input.value, revision: rep.revision as number });
      } else {
        output = { ok: rep.ok };
        if (rep.ok) {
          acked.push({ key, value: input.value!, revision: rep.revision as number });
          seen.set(key, { value: input.value, revision: rep.revision as number });
        } else seen.delete(key);
      }
      history.push({ client: id, input, output, call, return: ret });
    }
  }

  /** Wait until the clients completed `n` more operations (each with a definite answer). */
  const progress = (n: number, what: string): Promise<true> => {
    const target = counts.ok + n;
    return waitFor(() => `the clients to complete ${n} more operations while ${what} (${counts.ok}/${target})`, () => counts.ok >= target, 30_000, 20);
  };

  async function nemesis(): Promise<void> {
    for (let round = 1; round <= ROUNDS; round++) {
      await progress(nemesisRng.int(50, 200), `every node is up (round ${round})`);
      // Kill the cdb leader half the time (the hard case), otherwise any node; one down at a time.
      let victim = c.names[nemesisRng.int(0, c.names.length - 1)]!;
      if (nemesisRng.chance(0.5)) {
        const st = await c.statuses();
        const lead = [...st.values()].find((s) => s.raft.cdb.role === 'leader')?.node;
        if (lead) victim = lead;
      }
      await c.kill(victim, 'SIGKILL');
      counts.kills++;
      t.log(`${Math.round(now())} ms: SIGKILL ${victim}`);
      // The two others are a majority: they keep serving (after an election if the leader died).
      await progress(nemesisRng.int(30, 200), `${victim} is down (round ${round})`);
      await c.restart(victim);
    }
  }

  const workers = Array.from({ length: CLIENTS }, (_, i) => client(i));
  try {
    await nemesis();
  } finally {
    stop = true;
    await Promise.all(workers);
  }

  // Heal: every node up, one leader, every node caught up with the leader's commit.
  for (const n of c.names) if (!c.isAlive(n)) c.spawn(n);
  const healed = await c.waitLeader({ timeoutMs: 60_000 });
  const commit = (await c.status(healed.leader))!.raft.cdb.commit;
  await waitFor(`every node to apply up to ${commit}`, async () => [...(await c.statuses()).values()].filter((s) => s.raft.cdb.applied >= commit).length === 3, 60_000, 200);

  // Final linearizable reads of every key, part of the history.
  const finals = new Map<string, { value: string | null; revision: number }>();
  for (const key of KEYS) {
    const call = now();
    const r = await c.cdb(healed.leader, { op: 'get', type: 'system', id: `chaos-${key}` }, 10_000);
    t.true(r.ok, `final read of ${key}: ${r.message}`);
    const obj = r.object as { spec: { name: string }; revision: number } | undefined;
    finals.set(key, { value: obj?.spec.name ?? null, revision: obj?.revision ?? 0 });
    history.push({ client: 'final', input: { op: 'read', key }, output: { value: obj?.spec.name ?? null }, call, return: now() });
  }
  t.log(`${history.length} operations (${counts.ok} ok, ${counts.failed} definite failures dropped, ${counts.unknown} unknown), ${acked.length} acknowledged writes, ${counts.kills} kills`);
  t.is(counts.kills, ROUNDS, 'the nemesis did its job');
  t.true(acked.length >= 20, `enough acknowledged writes to mean something (${acked.length})`);
  t.true(history.filter((o) => o.input.op === 'read' && o.client !== 'final').length >= 20, 'enough reads');

  // 1. Linearizable.
  const verdict = checkOperations(kvModel, history, { maxSteps: CHECK_STEPS });
  if (verdict.result !== 'ok') t.log(renderCheckResult(verdict, kvModel));
  t.is(verdict.result, 'ok', 'the history is linearizable');

  // 2. No acknowledged write lost: each is in the committed change history of every node at the
  //    revision it was acknowledged with, holding its value (and the final state is the last one).
  for (const n of c.names) {
    const w = await c.cdb(n, { op: 'watch', fromRevision: 0, type: 'system', prefix: 'chaos-', limit: 10_000, waitMs: 0 }, 10_000);
    t.true(w.ok && w.compacted === false, `${n}: change history available`);
    const changes = w.changes as { revision: number; op: string; id: string; object?: { spec: { name: string } } }[];
    t.false(w.more as boolean);
    const at = new Map(changes.map((ch) => [ch.revision, ch]));
    const lost = acked.filter((a) => at.get(a.revision)?.object?.spec.name !== a.value || at.get(a.revision)?.id !== `chaos-${a.key}`);
    t.deepEqual(lost, [], `${n}: every acknowledged write is in the committed history`);
    for (const key of KEYS) {
      const lastChange = changes.filter((ch) => ch.id === `chaos-${key}`).at(-1);
      t.is(lastChange?.object?.spec.name ?? null, finals.get(key)!.value, `${n}: ${key}'s final value is its last change`);
    }
  }

  // 3. The check can fail: the same history with one read changed to a value never written is illegal.
  const victim = history.findIndex((o) => o.input.op === 'read' && o.output !== undefined && o.client !== 'final');
  const corrupted = history.map((o, i) => (i === victim ? { ...o, output: { value: 'never-written' } } : o));
  const bad = checkOperations(kvModel, corrupted, { maxSteps: CHECK_STEPS });
  t.is(bad.result, 'illegal', 'a corrupted history is reported');
  t.is(bad.illegalPartition?.key, history[victim]!.input.key);
});
