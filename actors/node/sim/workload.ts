// Simulated clients (Jepsen lin-kv style, on CDB objects): each client issues
// get / put / compare-and-set / delete requests one at a time, through the
// same `cdb` method the CLI calls, with a deadline per operation, and records
// what it saw for the linearizability check.
//
// Retries happen only after a *definite* failure (`not-leader`,
// `unavailable`), with the same (client, seq) session so that the store
// executes a duplicated or retried write at most once. An operation that
// reaches its deadline (or is `indeterminate`) goes into the history as
// pending — the checker then considers both "it happened" and "it never did".
import type { Rng } from '../../../runtime/env/random.ts';
import type { SimNetwork } from '../../../runtime/sim/network.ts';
import type { Scenario } from '../../../runtime/sim/scenario.ts';
import type { Scheduler } from '../../../runtime/sim/scheduler.ts';
import type { Trace } from '../../../runtime/sim/trace.ts';
import type { CdbInput, CdbOperation, CdbOutput } from '../../cdb/lincheck-model.ts';
import type { SimCluster, Wire } from './cluster.ts';

export interface WorkloadStats {
  issued: number;
  ok: number;
  failed: number;
  pending: number;
  redirects: number;
}

interface InFlightOp {
  op: CdbOperation;
  input: CdbInput;
  seq: number;
  deadline: number;
  attempt: string;
  target: string;
  /** One retry per send: duplicated answers must not each spawn a retry. */
  armed: boolean;
  done: (ok: boolean) => void;
}

type Answer = { ok: true; revision?: number; object?: { revision: number; spec: { name: string } } } | { ok: false; code: string; leader?: string; actual?: number; message?: string };

export class SimClient {
  readonly id: string;
  #n: number;
  #sched: Scheduler;
  #net: SimNetwork;
  #rng: Rng;
  #w: Workload;
  #cur: InFlightOp | undefined;
  #attempts = 0;
  #seq = 0;
  #values = 0;
  /** Last revision this client saw per key (0: absent): the expectation of its next cas. */
  #seen = new Map<string, number>();
  #leaderHint = '';
  running = false;

  constructor(n: number, w: Workload, sched: Scheduler, net: SimNetwork, rng: Rng) {
    this.#n = n;
    this.id = 'c' + n;
    this.#w = w;
    this.#sched = sched;
    this.#net = net;
    this.#rng = rng;
    net.register(this.id, (_from, msg) => this.#onWire(msg as Wire));
  }

  get busy(): boolean {
    return this.#cur !== undefined;
  }

  start(): void {
    this.running = true;
    this.#next();
  }

  stop(): void {
    this.running = false;
  }

  #next(): void {
    if (!this.running || this.#cur) return;
    const s = this.#w.scenario.workload;
    const key = 'k' + this.#rng.int(1, s.keys);
    const mix = s.mix;
    const r = this.#rng.next() * (mix.read + mix.write + mix.cas + mix.delete);
    let input: CdbInput;
    if (r < mix.read) input = { op: 'get', key };
    else if (r < mix.read + mix.write) input = { op: 'put', key, value: `${this.id}-${++this.#values}` };
    else if (r < mix.read + mix.write + mix.cas) input = { op: 'cas', key, expect: this.#seen.get(key) ?? 0, value: `${this.id}-${++this.#values}` };
    else input = { op: 'delete', key };
    this.run(input, s.opTimeoutMs, () => {
      this.#sched.after(s.thinkMs * (0.5 + this.#rng.next()), () => this.#next());
    });
  }

  /** Run one operation (recorded in the history); `done(ok)` when it completes or times out. */
  run(input: CdbInput, timeoutMs: number, done: (ok: boolean) => void): void {
    const now = this.#sched.now;
    const op: CdbOperation = { client: this.#n, input, output: undefined, call: now, return: undefined };
    this.#w.history.push(op);
    this.#w.stats.issued++;
    const cur: InFlightOp = { op, input, seq: ++this.#seq, deadline: now + timeoutMs, attempt: '', target: this.#pickTarget(), armed: false, done };
    this.#cur = cur;
    this.#send(cur);
    this.#sched.at(cur.deadline, () => {
      if (this.#cur !== cur) return;
      this.#finish(cur, undefined);
    });
  }

  #pickTarget(): string {
    const members = this.#w.cluster.members().voters;
    if (this.#leaderHint !== '' && members.includes(this.#leaderHint)) return this.#leaderHint;
    return members[this.#rng.int(0, members.length - 1)];
  }

  /** The request the CLI would send for this operation. */
  #params(cur: InFlightOp): Record<string, unknown> {
    const i = cur.input;
    const session = { client: this.id, seq: cur.seq };
    const object = (value: string) => ({ type: 'system', id: i.key, spec: { name: value, vcpus: 1, memoryMb: 64 } });
    if (i.op === 'get') return { op: 'get', type: 'system', id: i.key };
    if (i.op === 'put') return { op: 'put', object: object(i.value), ...session };
    if (i.op === 'cas') return { op: 'put', object: object(i.value), expectRevision: i.expect, ...session };
    return { op: 'delete', type: 'system', id: i.key, ...session };
  }

  #send(cur: InFlightOp): void {
    if (cur.attempt === '') cur.attempt = `${this.id}:${++this.#attempts}`;
    cur.armed = true;
    this.#net.send(this.id, cur.target, { type: 'req', id: cur.attempt, method: 'cdb', params: this.#params(cur) } satisfies Wire);
  }

  #onWire(w: Wire): void {
    if (w.type !== 'resp') return;
    const cur = this.#cur;
    if (cur === undefined || w.id !== cur.attempt) return; // a late answer to an abandoned attempt
    const res = w.res as Answer;
    if (!res.ok) {
      const code = res.code;
      if (code === 'conflict' || code === 'not-found') return this.#finish(cur, { ok: false, code, actual: res.actual ?? 0 });
      if (code !== 'not-leader' && code !== 'unavailable') return this.#finish(cur, undefined); // indeterminate, or unexpected
      if (!cur.armed) return;
      cur.armed = false;
      // Definitely not executed: try again (elsewhere), if time remains.
      this.#w.stats.redirects++;
      this.#leaderHint = code === 'not-leader' ? (res.leader ?? '') : '';
      if (this.#sched.now + 2 >= cur.deadline) return;
      const prevTarget = cur.target;
      this.#sched.after(1 + this.#rng.next() * 4, () => {
        if (this.#cur !== cur) return;
        cur.target = this.#leaderHint !== '' && this.#leaderHint !== prevTarget ? this.#leaderHint : this.#pickTarget();
        this.#send(cur);
      });
      return;
    }
    if (cur.input.op === 'get') return this.#finish(cur, { op: 'get', value: res.object?.spec.name ?? null, revision: res.object?.revision ?? 0 });
    this.#finish(cur, { ok: true, revision: res.revision ?? 0 });
  }

  #finish(cur: InFlightOp, out: CdbOutput | undefined): void {
    this.#cur = undefined;
    const inp = cur.input;
    if (out === undefined) {
      this.#w.stats.pending++;
      this.#leaderHint = '';
      this.#seen.delete(inp.key);
    } else {
      cur.op.output = out;
      cur.op.return = this.#sched.now;
      const ok = 'op' in out || out.ok;
      if (ok) this.#w.stats.ok++;
      else this.#w.stats.failed++;
      if ('op' in out) this.#seen.set(inp.key, out.value === null ? 0 : out.revision);
      else if (out.ok) this.#seen.set(inp.key, inp.op === 'delete' ? 0 : out.revision);
      else this.#seen.set(inp.key, out.actual);
    }
    this.#w.trace.sim('note', this.id, '/clients/' + this.id, {
      reason: 'op',
      data: { input: inp, output: out ?? null, call: cur.op.call, ret: cur.op.return ?? null },
    });
    cur.done(out !== undefined && ('op' in out || out.ok || inp.op === 'cas' || inp.op === 'delete'));
  }
}

export class Workload {
  readonly scenario: Scenario;
  readonly cluster: SimCluster;
  readonly trace: Trace;
  readonly history: CdbOperation[] = [];
  readonly clients: SimClient[] = [];
  readonly stats: WorkloadStats = { issued: 0, ok: 0, failed: 0, pending: 0, redirects: 0 };

  constructor(scenario: Scenario, cluster: SimCluster, sched: Scheduler, net: SimNetwork, trace: Trace, rng: Rng) {
    this.scenario = scenario;
    this.cluster = cluster;
    this.trace = trace;
    for (let i = 1; i <= scenario.workload.clients; i++) this.clients.push(new SimClient(i, this, sched, net, rng.fork()));
    // One extra client for the convergence phase's checks.
    this.clients.push(new SimClient(scenario.workload.clients + 1, this, sched, net, rng.fork()));
  }

  start(): void {
    for (const c of this.clients.slice(0, -1)) c.start();
  }

  stop(): void {
    for (const c of this.clients) c.stop();
  }

  get busy(): boolean {
    return this.clients.some((c) => c.busy);
  }

  get checker(): SimClient {
    return this.clients[this.clients.length - 1];
  }
}
