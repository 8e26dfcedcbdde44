// Driver of the randomized test (random.test.ts): small clusters driven by a SeededRng through random
// message delivery order, drops, duplicates, partitions, crashes/restarts
// (from the durable copy), compactions, leadership transfers, link hints and (in one
// variant) membership changes, checking the five safety properties of the
// Raft paper (Figure 3) after every step:
//   Election Safety, Leader Append-Only, Log Matching, Leader Completeness,
//   State Machine Safety.
import { SeededRng } from '../../runtime/env/random.ts';
import { Cluster } from './harness.ts';
import type { ConfChange, Entry, NodeId } from '../../runtime/raft/types.ts';

interface Checker {
  leaders: Map<number, NodeId>;
  /** (index:term) -> [prevTerm, data]: Log Matching by induction on identical entries. */
  entries: Map<string, [number | undefined, string]>;
  /** atTerm: the highest term any node had when the commit was first observed (it committed in that term or earlier). */
  committed: Map<number, { term: number; data: string; atTerm: number }>;
  applied: Map<number, { term: number; data: string }>;
  /** Per leader: its log (index -> term) as last seen while it led in `term`. */
  leaderLogs: Map<NodeId, { term: number; first: number; terms: number[] }>;
}

function check(c: Cluster, k: Checker, where: string): string | undefined {
  for (const id of c.ids()) {
    const rn = c.peer(id).rn;
    if (!rn) continue;
    const r = rn.raft;
    const log = r.log;
    const first = log.firstIndex();
    const ents: Entry[] = log.allEntries();

    // Log Matching: the same (index, term) always has the same data and the same predecessor term.
    let prev = log.term(first - 1);
    for (const e of ents) {
      const key = `${e.index}:${e.term}`;
      const seen = k.entries.get(key);
      if (seen) {
        if (seen[1] !== e.data) return `${where}: log matching: ${id} has ${key} with different data`;
        if (seen[0] !== undefined && prev !== undefined && seen[0] !== prev) return `${where}: log matching: ${id} has ${key} after term ${prev}, elsewhere after ${seen[0]}`;
        if (seen[0] === undefined && prev !== undefined) seen[0] = prev;
      } else k.entries.set(key, [prev, e.data]);
      prev = e.term;
    }

    // Committed entries never change. (`k.committed` holds entries handed to
    // some application: an in-memory commit that a crash wiped before the
    // host persisted and applied it was never observable, as in etcd.)
    for (const e of ents) {
      if (e.index > log.committed) break;
      const ce = k.committed.get(e.index);
      if (ce && (ce.term !== e.term || ce.data !== e.data)) return `${where}: ${id} committed ${e.term}/${e.index}, but ${ce.term}/${e.index} was committed before`;
    }

    if (r.role !== 'leader') continue;
    // Election Safety: at most one leader per term.
    const l = k.leaders.get(r.term);
    if (l !== undefined && l !== id) return `${where}: two leaders in term ${r.term}: ${l} and ${id}`;
    k.leaders.set(r.term, id);

    // Leader Completeness: the leader's log holds every committed entry.
    for (const [i, ce] of k.committed) {
      // Leader Completeness binds leaders of terms after the commit; a stale
      // leader of an earlier term (partitioned, about to step down) may lack it.
      if (i < first || ce.atTerm >= r.term) continue;
      const t = log.term(i);
      if (t !== ce.term) return `${where}: leader ${id} (term ${r.term}) lacks committed ${ce.term}/${i} (has ${t})`;
    }

    // Leader Append-Only: while leading a term, nothing in its log changes.
    const terms = ents.map((e) => e.term);
    const before = k.leaderLogs.get(id);
    if (before && before.term === r.term) {
      for (let j = 0; j < before.terms.length; j++) {
        const i = before.first + j;
        if (i < first) continue;
        const t = log.term(i);
        if (t !== before.terms[j]) return `${where}: leader ${id} changed its entry ${i} from term ${before.terms[j]} to ${t}`;
      }
    }
    k.leaderLogs.set(id, { term: r.term, first, terms });
  }
  return undefined;
}

export interface Variant {
  name: string;
  seeds: number;
  steps: number;
  membership: boolean;
}

export const stats = { leaders: 0, committed: 0, snapshots: 0, confCommitted: 0, crashes: 0, compactions: 0 };

export function runSeed(fail: (msg: string) => void, seed: number, v: Variant, trace?: (s: string) => void): boolean {
  const rng = new SeededRng(seed);
  const c = new Cluster(seed);
  const founders = rng.chance(0.5) ? ['1', '2', '3'] : ['1', '2', '3', '4', '5'];
  const opts = {
    electionTick: 10,
    heartbeatTick: 2,
    maxInflightMsgs: rng.int(1, 4),
    maxSizePerMsg: rng.chance(0.5) ? 1 : 1 << 20,
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
  };
  for (const id of founders) c.addNode(id, { voters: founders, learners: [] }, opts);
  // Spare nodes that may join by membership change.
  if (v.membership) for (const id of ['6', '7']) c.addNode(id, { voters: [], learners: [] }, opts);
  const all = c.ids();
  const k: Checker = { leaders: new Map(), entries: new Map(), committed: new Map(), applied: new Map(), leaderLogs: new Map() };
  let failure: string | undefined;
  c.onReady = (id, rd) => {
    for (const e of rd.committedEntries) {
      const a = k.applied.get(e.index);
      if (a && (a.term !== e.term || a.data !== e.data)) failure ??= `seed ${seed}: ${id} applied ${e.term}/${e.index}, another node applied ${a.term}/${e.index}`;
      if (!a) {
        k.applied.set(e.index, { term: e.term, data: e.data });
        let atTerm = 0;
        for (const pid of c.ids()) atTerm = Math.max(atTerm, c.peer(pid).rn?.raft.term ?? 0);
        k.committed.set(e.index, { term: e.term, data: e.data, atTerm });
      }
    }
  };
  const pick = <T>(xs: T[]): T => xs[rng.int(0, xs.length - 1)];
  const live = () => all.filter((id) => c.peer(id).rn);
  let proposals = 0;

  for (let step = 0; step < v.steps; step++) {
    const x = rng.next();
    const ids = live();
    if (x < 0.25) {
      if (ids.length > 0) c.node(pick(ids)).tick();
    } else if (x < 0.6) {
      if (c.inflight.length > 0) {
        const i = rng.int(0, c.inflight.length - 1);
        const m = c.inflight[i];
        if (!rng.chance(0.05)) c.inflight.splice(i, 1); // else: duplicate delivery later
        if (!rng.chance(0.1) && c.deliver(m) && m.type === 'snapshot') stats.snapshots++;
      }
    } else if (x < 0.8) {
      if (ids.length > 0) c.processReady(pick(ids));
    } else if (x < 0.88) {
      if (ids.length > 0) c.node(pick(ids)).propose(`s${seed}p${proposals++}`);
    } else if (x < 0.895) {
      if (rng.chance(0.5)) c.heal();
      else {
        const a = all.filter(() => rng.chance(0.5));
        c.partition([a, all.filter((id) => !a.includes(id))]);
      }
    } else if (x < 0.899) {
      if (ids.length > 0) {
        c.crash(pick(ids));
        stats.crashes++;
      }
    } else if (x < 0.92) {
      const down = all.filter((id) => !c.peer(id).rn);
      if (down.length > 0) c.restart(pick(down));
    } else if (x < 0.935) {
      if (ids.length > 0) {
        const id = pick(ids);
        const p = c.peer(id);
        if (p.appliedIndex > p.storage.firstIndex()) {
          c.compact(id, rng.int(0, 3));
          stats.compactions++;
        }
      }
    } else if (x < 0.94) {
      if (ids.length > 0) c.node(pick(ids)).transferLeader(pick(all));
    } else if (x < 0.95) {
      if (ids.length > 0) c.node(pick(ids)).readIndex(`r${step}`);
    } else if (v.membership && x < 0.97) {
      const lead = c.leader();
      if (lead) {
        const cc: ConfChange = { type: pick(['addVoter', 'addLearner', 'remove'] as const), node: pick(all) };
        c.node(lead).proposeConfChange(cc);
      }
    } else if (x < 0.985) {
      // The transport's link hints, true or not: a node is told its link to some peer went down or
      // came up (only hints: the messages themselves are what the network above decides).
      if (ids.length > 0) {
        const id = pick(ids);
        const peer = rng.chance(0.7) ? (c.node(id).raft.lead || pick(all)) : pick(all);
        if (peer !== id) {
          if (rng.chance(0.7)) c.node(id).linkDown(peer);
          else c.node(id).linkUp(peer);
        }
      }
    } else {
      if (ids.length > 0) c.node(pick(ids)).tick();
    }
    if (trace) trace(`step ${step} x=${x.toFixed(3)} ` + c.ids().map((id) => { const rn = c.peer(id).rn; if (!rn) return `${id}:down`; const st = rn.status(); return `${id}:${st.role[0]}${st.term}/c${st.commit}/l${st.lastIndex}[${st.conf.voters.join(',')}|${st.conf.learners.join(',')}]`; }).join(' '));
    failure ??= check(c, k, `seed ${seed} step ${step}`);
    if (failure) break;
  }

  // Liveness (static membership only): heal, restart everyone, and a leader must commit a new entry.
  if (!failure && !v.membership) {
    c.heal();
    for (const id of all) if (!c.peer(id).rn) c.restart(id);
    let done = false;
    for (let round = 0; round < 400 && !done; round++) {
      for (const id of all) c.node(id).tick();
      c.stabilize();
      failure ??= check(c, k, `seed ${seed} liveness round ${round}`);
      if (trace) trace(`live ${round} ` + c.ids().map((id) => { const rn = c.peer(id).rn!; const st = rn.status(); return `${id}:${st.role[0]}${st.term}/c${st.commit}/l${st.lastIndex}/f${st.firstIndex}` + (st.progress ? JSON.stringify(Object.fromEntries(Object.entries(st.progress).map(([k2, p]) => [k2, `${p.state[0]}${p.match}/${p.next}${p.paused ? 'P' : ''}${p.recentActive ? 'A' : ''}`]))) : ''); }).join(' '));
      const lead = c.leader();
      if (lead && round % 5 === 0) c.node(lead).propose(`final${round}`);
      done = all.every((id) => c.peer(id).applied.some((e) => e.data.startsWith('final')));
    }
    if (!done && !failure) failure = `seed ${seed}: no progress after healing`;
  }
  stats.leaders += k.leaders.size;
  stats.committed += k.committed.size;
  for (const e of k.committed.values()) if (e.data.startsWith('{')) stats.confCommitted++;
  if (failure) {
    fail(failure);
    return false;
  }
  return true;
}

