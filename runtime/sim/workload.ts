// Simulated clients (Jepsen lin-kv style): each client issues read / write /
// cas operations one at a time against the cluster over the simulated
// network, with a deadline per operation, and records what it saw.
//
// Retries happen only after a *definite* failure (`not-leader`,
// `unavailable`): re-sending an operation whose first attempt may still be in
// flight could apply it twice. An operation that reaches its deadline (or is
// `indeterminate`) goes into the history as pending — the checker then
// considers both "it happened" and "it never did".
import type { Rng } from '../env/random.ts';
import type { KvInput, KvOperation, KvOutput } from '../lincheck/index.ts';
import type { ClientRequest, ClientResponse, KvValue } from '../raft-host/kv.ts';
import type { SimCluster, Wire } from './cluster.ts';
import type { SimNetwork } from './network.ts';
import type { Scenario } from './scenario.ts';
import type { Scheduler } from './scheduler.ts';
import type { Trace } from './trace.ts';

export interface WorkloadStats {
  issued: number;
  ok: number;
  failed: number;
  pending: number;
  redirects: number;
}

interface InFlightOp {
  op: KvOperation;
  input: KvInput;
  deadline: number;
  attempt: string;
  target: string;
  /**
   * An error answer may schedule one retry per send: duplicated requests and
   * responses (network duplication) must not each spawn a retry, or the
   * retries multiply exponentially.
   */
  armed: boolean;
  done: (ok: boolean) => void;
}

export class SimClient {
  readonly id: string;
  #n: number;
  #sched: Scheduler;
  #net: SimNetwork;
  #rng: Rng;
  #w: Workload;
  #cur: InFlightOp | undefined;
  #attempts = 0;
  #values = 0;
  /** Last value this client saw per key: the `expected` for its next cas. */
  #seen = new Map<string, KvValue>();
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

  /** Issue operations until `stop()`; each one after the previous completes plus think time. */
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
    const r = this.#rng.next() * (mix.read + mix.write + mix.cas);
    let input: KvInput;
    if (r < mix.read) input = { op: 'read', key };
    else if (r < mix.read + mix.write) input = { op: 'write', key, value: `${this.id}-${++this.#values}` };
    else input = { op: 'cas', key, expected: this.#seen.get(key) ?? null, value: `${this.id}-${++this.#values}` };
    this.run(input, s.opTimeoutMs, () => {
      this.#sched.after(s.thinkMs * (0.5 + this.#rng.next()), () => this.#next());
    });
  }

  /** Run one operation (recorded in the history); `done(ok)` when it completes or times out. */
  run(input: KvInput, timeoutMs: number, done: (ok: boolean) => void): void {
    const now = this.#sched.now;
    const op: KvOperation = { client: this.#n, input, output: undefined, call: now, return: undefined };
    this.#w.history.push(op);
    this.#w.stats.issued++;
    const cur: InFlightOp = { op, input, deadline: now + timeoutMs, attempt: '', target: this.#pickTarget(), armed: false, done };
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

  #send(cur: InFlightOp): void {
    // One id per operation, reused by its retries: the state machine's client
    // session then executes it at most once even if copies of several attempts
    // (network duplicates) all reach a leader.
    if (cur.attempt === '') cur.attempt = `${this.id}:${++this.#attempts}`;
    const req = { ...cur.input, id: cur.attempt } as ClientRequest;
    cur.armed = true;
    this.#net.send(this.id, cur.target, { type: 'req', req } satisfies Wire);
  }

  #onWire(w: Wire): void {
    if (w.type !== 'resp') return;
    const cur = this.#cur;
    if (cur === undefined || w.id !== cur.attempt) return; // a late answer to an abandoned attempt
    const res: ClientResponse = w.res;
    if ('error' in res) {
      if (res.error === 'indeterminate') return this.#finish(cur, undefined);
      if (!cur.armed) return; // a duplicate answer: a retry is already scheduled
      cur.armed = false;
      // Definitely not executed: try again (elsewhere), if time remains.
      this.#w.stats.redirects++;
      this.#leaderHint = res.error === 'not-leader' ? res.leader : '';
      if (this.#sched.now + 2 >= cur.deadline) return;
      const prevTarget = cur.target;
      this.#sched.after(1 + this.#rng.next() * 4, () => {
        if (this.#cur !== cur) return;
        cur.target = this.#leaderHint !== '' && this.#leaderHint !== prevTarget ? this.#leaderHint : this.#pickTarget();
        this.#send(cur);
      });
      return;
    }
    this.#finish(cur, res);
  }

  #finish(cur: InFlightOp, out: KvOutput | undefined): void {
    this.#cur = undefined;
    if (out === undefined) {
      this.#w.stats.pending++;
      this.#leaderHint = '';
    } else {
      cur.op.output = out;
      cur.op.return = this.#sched.now;
      const ok = !('ok' in out) || out.ok;
      if (ok) this.#w.stats.ok++;
      else this.#w.stats.failed++;
      const inp = cur.input;
      if ('value' in out) this.#seen.set(inp.key, out.value);
      else if (inp.op !== 'read' && out.ok) this.#seen.set(inp.key, inp.value);
    }
    this.#w.trace.sim('note', this.id, '/clients/' + this.id, {
      reason: 'op',
      data: { input: cur.input, output: out ?? null, call: cur.op.call, ret: cur.op.return ?? null },
    });
    cur.done(out !== undefined && (!('ok' in out) || out.ok === true || cur.input.op === 'cas'));
  }
}

export class Workload {
  readonly scenario: Scenario;
  readonly cluster: SimCluster;
  readonly trace: Trace;
  readonly history: KvOperation[] = [];
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
