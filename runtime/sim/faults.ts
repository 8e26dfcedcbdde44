// Fault injection: applies scripted faults and the seed-driven nemesis, and
// guards against faults that silently do nothing. Every applied fault gets an
// effect check (did a partition actually drop messages? did the disk-full
// fault actually fail a write?); scripted faults whose check fails make the
// run fail, because a scenario that believes it tested something it did not
// is worse than no scenario.
import type { Rng } from '../env/random.ts';
import type { AdminRequest, AdminResponse } from '../raft-host/protocol.ts';
import type { SimNode } from './node.ts';
import type { SimDisk } from './disk.ts';
import type { SimNetwork } from './network.ts';
import type { Fault, Scenario } from './scenario.ts';
import type { Scheduler } from './scheduler.ts';

/** What faults need from the simulated cluster (actors/node/sim/cluster.ts implements it). */
export interface ClusterControl {
  readonly nodes: ReadonlyMap<string, { id: string; sim: SimNode; disk: SimDisk; crashOnSnapshotInstall: number | undefined }>;
  snapshotInstallCrashes: number;
  members(): { voters: string[]; learners: string[] };
  up(): { id: string; sim: SimNode }[];
  leader(): string | undefined;
  fault(what: string, data?: unknown): void;
  crash(id: string): void;
  restart(id: string): void;
  admin(id: string, req: AdminRequest, timeoutMs?: number): Promise<AdminResponse>;
  /** The service steps (apply an object, attach a workload): a reason when it cannot be applied, else its effect check. */
  serviceStep?(node: string, f: Extract<Fault, { kind: 'apply' | 'attach' }>): string | { check?: () => string | undefined };
  /** Apply a driver fault; a string is why it cannot be applied, else its effect check. */
  driverFault?(f: Extract<Fault, { kind: 'driver' }>, label: string): string | { check: () => string | undefined };
  /** Undo the driver faults for the heal-and-converge phase (vanished devices replaced, failures cleared). */
  healDrivers?(): void;
}

interface Applied {
  label: string;
  scripted: boolean;
  /** Returns a reason when the fault turned out to have had no effect. */
  check?: () => string | undefined;
}

const RESOLVE_RETRY_MS = 50;
const RESOLVE_GIVE_UP_MS = 3000;

export class FaultInjector {
  #healed = false;
  #s: Scenario;
  #sched: Scheduler;
  #net: SimNetwork;
  #cluster: ClusterControl;
  #rng: Rng;
  #applied: Applied[] = [];
  /** Problems found while applying (a fault that could not be applied at all). */
  readonly problems: string[] = [];
  nemesisActions = 0;

  constructor(s: Scenario, sched: Scheduler, net: SimNetwork, cluster: ClusterControl, rng: Rng) {
    this.#s = s;
    this.#sched = sched;
    this.#net = net;
    this.#cluster = cluster;
    this.#rng = rng;
  }

  get appliedCount(): number {
    return this.#applied.length;
  }

  /** Effect checks of every applied fault; failures of scripted faults are returned as run failures. */
  verify(): { failures: string[]; ineffectiveNemesis: number } {
    const failures = [...this.problems];
    let ineffectiveNemesis = 0;
    for (const a of this.#applied) {
      const why = a.check?.();
      if (why === undefined) continue;
      if (a.scripted) failures.push(`fault ${a.label} had no effect: ${why}`);
      else ineffectiveNemesis++;
    }
    return { failures, ineffectiveNemesis };
  }

  scheduleScript(): void {
    this.#s.faults.forEach((f, i) => {
      this.#sched.at(f.at, () => this.apply(f, `#${i} ${f.kind}@${f.at}ms`, true, f.at));
    });
  }

  // ---- target resolution -------------------------------------------------

  #voters(): string[] {
    return this.#cluster.members().voters;
  }

  #pick<T>(xs: T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.#rng.int(0, xs.length - 1)];
  }

  /** Resolve "leader" / "follower" / "any" / "nX" to a running node, or undefined for now. */
  #resolve(ref: string): string | undefined {
    const up = this.#cluster.up().filter((n) => !n.sim.paused).map((n) => n.id);
    if (ref === 'leader') return this.#cluster.leader();
    if (ref === 'follower') {
      const lead = this.#cluster.leader();
      return this.#pick(this.#voters().filter((v) => v !== lead && up.includes(v)));
    }
    if (ref === 'any') return this.#pick(this.#voters().filter((v) => up.includes(v)));
    return ref;
  }

  // ---- applying -----------------------------------------------------------

  /** Apply now; role references that cannot be resolved yet (no leader) are retried for a while. */
  apply(f: Fault, label: string, scripted: boolean, firstTry: number): void {
    // A fault still waiting for a leader when the converge phase began is
    // dropped: applied after heal-all, nothing would ever undo it.
    if (this.#healed) return;
    const refs = ['node', 'from', 'to', 'bridge'] as const;
    const resolved: Record<string, unknown> = { ...f };
    for (const k of refs) {
      const v = (f as Record<string, unknown>)[k];
      if (typeof v !== 'string' || v === 'all') continue;
      const r = this.#resolve(v);
      if (r === undefined) {
        if (this.#sched.now - firstTry < RESOLVE_GIVE_UP_MS) {
          this.#sched.after(RESOLVE_RETRY_MS, () => this.apply(f, label, scripted, firstTry));
        } else if (scripted) this.problems.push(`fault ${label} could not be applied: no ${v} node for ${RESOLVE_GIVE_UP_MS}ms`);
        return;
      }
      resolved[k] = r;
    }
    // Faults that act through the leader wait for one, like role references.
    if ((f.kind === 'transfer-leader' || f.kind === 'partition-minority') && this.#cluster.leader() === undefined) {
      if (this.#sched.now - firstTry < RESOLVE_GIVE_UP_MS) this.#sched.after(RESOLVE_RETRY_MS, () => this.apply(f, label, scripted, firstTry));
      else if (scripted) this.problems.push(`fault ${label} could not be applied: no leader for ${RESOLVE_GIVE_UP_MS}ms`);
      return;
    }
    const g = resolved as Fault;
    const why = this.#applyResolved(g, label, scripted);
    if (why !== undefined && scripted) this.problems.push(`fault ${label} could not be applied: ${why}`);
  }

  #slot(id: string) {
    const s = this.#cluster.nodes.get(id);
    if (!s) throw new Error(`unknown node ${id}`);
    return s;
  }

  /** Returns a reason when the fault cannot be applied (e.g. crashing a node that is down). */
  #applyResolved(f: Fault, label: string, scripted: boolean): string | undefined {
    const net = this.#net;
    const st = net.stats;
    const rec = (check?: () => string | undefined): undefined => {
      this.#applied.push({ label, scripted, ...(check ? { check } : {}) });
      this.#cluster.fault(label, f);
      return undefined;
    };
    const dropsAfter = (field: 'droppedPartition' | 'droppedLoss' | 'duplicated' | 'reordered' | 'clogged', what: string) => {
      const before = st[field];
      return () => (st[field] > before ? undefined : `no message was ${what} afterwards`);
    };
    switch (f.kind) {
      case 'apply':
      case 'attach': {
        if (!this.#cluster.serviceStep) return 'this cluster runs no node services';
        const r = this.#cluster.serviceStep(f.node, f);
        return typeof r === 'string' ? r : rec(r.check);
      }
      case 'crash': {
        const n = this.#slot(f.node);
        if (!n.sim.up) return `${f.node} is already down`;
        this.#cluster.crash(f.node);
        return rec();
      }
      case 'restart': {
        const ids = f.node === 'all' ? [...this.#cluster.nodes.keys()].filter((id) => !this.#slot(id).sim.up) : [f.node];
        if (ids.length === 0 || ids.some((id) => this.#slot(id).sim.up)) return f.node === 'all' ? 'no node is down' : `${f.node} is not down`;
        for (const id of ids) this.#cluster.restart(id);
        return rec();
      }
      case 'partition':
        net.partition(f.groups);
        return rec(dropsAfter('droppedPartition', 'cut off by the partition'));
      case 'partition-one-way':
        if (f.from === f.to) return 'from and to are the same node';
        net.cut(f.from, f.to);
        return rec(dropsAfter('droppedPartition', 'cut off by the partition'));
      case 'isolate': {
        const others = [...this.#cluster.nodes.keys()].filter((n) => n !== f.node);
        net.partition([[f.node], others]);
        return rec(dropsAfter('droppedPartition', 'cut off by the partition'));
      }
      case 'partition-minority': {
        const voters = this.#voters();
        if (voters.length < 2) return 'needs at least two voters';
        const lead = this.#cluster.leader();
        const size = Math.floor((voters.length - 1) / 2) || 1;
        let pool = voters.filter((v) => v !== lead);
        const minority: string[] = [];
        if (f.withLeader && lead !== undefined && voters.includes(lead)) minority.push(lead);
        while (minority.length < size && pool.length > 0) {
          const p = this.#pick(pool)!;
          minority.push(p);
          pool = pool.filter((x) => x !== p);
        }
        const majority = [...this.#cluster.nodes.keys()].filter((n) => !minority.includes(n));
        net.partition([minority, majority]);
        this.#cluster.fault(`${label}: minority ${minority.join(',')}`);
        return rec(dropsAfter('droppedPartition', 'cut off by the partition'));
      }
      case 'partition-bridge': {
        const voters = this.#voters();
        if (voters.length < 3) return 'needs at least three voters';
        const bridge = f.bridge ?? this.#pick(voters)!;
        const rest = voters.filter((v) => v !== bridge);
        const half = Math.floor(rest.length / 2);
        const a = rest.slice(0, half);
        const b = rest.slice(half);
        net.partition([a, b]);
        this.#cluster.fault(`${label}: ${a.join(',')} | ${bridge} | ${b.join(',')}`);
        return rec(dropsAfter('droppedPartition', 'cut off by the partition'));
      }
      case 'heal':
        net.heal();
        return rec();
      case 'clog':
        net.clogNode(f.node);
        return rec(dropsAfter('clogged', 'held by the clog'));
      case 'clog-link':
        net.clogLink(f.from, f.to);
        return rec(dropsAfter('clogged', 'held by the clog'));
      case 'unclog':
        if (f.node === undefined) net.heal();
        else net.unclogNode(f.node);
        return rec();
      case 'loss':
        net.setLoss(f.probability);
        return rec(f.probability > 0 ? dropsAfter('droppedLoss', 'lost') : undefined);
      case 'duplication':
        net.setDuplication(f.probability);
        return rec(f.probability > 0 ? dropsAfter('duplicated', 'duplicated') : undefined);
      case 'reorder':
        net.setReorder(f.probability);
        return rec(f.probability > 0 ? dropsAfter('reordered', 'reordered') : undefined);
      case 'clock-jump': {
        const n = this.#slot(f.node).sim;
        const before = n.skew;
        n.jumpClock(f.deltaMs);
        return rec(() => (n.skew !== before || f.deltaMs === 0 ? undefined : 'the clock did not move'));
      }
      case 'clock-drift':
        this.#slot(f.node).sim.setDrift(f.drift);
        return rec();
      case 'pause': {
        const n = this.#slot(f.node).sim;
        if (!n.up || n.paused) return `${f.node} is not running`;
        n.pause();
        return rec();
      }
      case 'resume': {
        const ids = f.node === 'all' ? [...this.#cluster.nodes.keys()] : [f.node];
        const paused = ids.filter((id) => this.#slot(id).sim.paused);
        if (paused.length === 0) return 'no node is paused';
        for (const id of paused) this.#slot(id).sim.resume();
        return rec();
      }
      case 'disk-full': {
        const d = this.#slot(f.node).disk;
        d.full = true;
        const before = d.stats.fullErrors;
        return rec(() => (d.stats.fullErrors > before ? undefined : 'no write failed'));
      }
      case 'disk-ok': {
        const ids = f.node === 'all' ? [...this.#cluster.nodes.keys()] : [f.node];
        for (const id of ids) this.#slot(id).disk.full = false;
        return rec();
      }
      case 'disk-corrupt-reads': {
        const d = this.#slot(f.node).disk;
        d.corruptReadProbability = f.probability;
        const before = d.stats.corruptReads;
        return rec(() => (d.stats.corruptReads > before || f.probability === 0 ? undefined : 'no read was corrupted (the node never read its disk: restart it afterwards)'));
      }
      case 'crash-during-snapshot-install': {
        const slot = this.#slot(f.node);
        slot.crashOnSnapshotInstall = f.restartAfterMs;
        const before = this.#cluster.snapshotInstallCrashes;
        return rec(() => (this.#cluster.snapshotInstallCrashes > before ? undefined : `${f.node} never installed a snapshot from the leader`));
      }
      case 'add-voter':
      case 'add-learner':
      case 'remove': {
        const type = f.kind === 'add-voter' ? 'addVoter' : f.kind === 'add-learner' ? 'addLearner' : 'remove';
        const change = { type, node: f.node } as const;
        let done = false;
        let lastError = 'no leader accepted it';
        const attempt = (deadline: number): void => {
          const lead = this.#cluster.leader();
          if (lead === undefined) {
            if (this.#sched.now < deadline) this.#sched.after(RESOLVE_RETRY_MS, () => attempt(deadline));
            return;
          }
          void this.#cluster.admin(lead, { kind: 'conf-change', change }).then((r) => {
            if (r.ok) {
              done = true;
              this.#cluster.fault(`${label}: committed`);
            } else {
              lastError = r.error;
              if (this.#sched.now < deadline) this.#sched.after(RESOLVE_RETRY_MS * 2, () => attempt(deadline));
            }
          });
        };
        attempt(this.#sched.now + 5000);
        return rec(() => (done ? undefined : `the membership change never committed (${lastError})`));
      }
      case 'driver': {
        if (!this.#cluster.driverFault) return 'this cluster has no service drivers';
        const r = this.#cluster.driverFault(f, label);
        if (typeof r === 'string') return r;
        return rec(r.check);
      }
      case 'transfer-leader': {
        const lead = this.#cluster.leader();
        if (lead === undefined) return 'no leader';
        const to = f.to ?? this.#pick(this.#voters().filter((v) => v !== lead && this.#slot(v).sim.up));
        if (to === undefined || to === lead) return 'no other voter to transfer to';
        let became = false;
        // A transfer is aborted when the target does not catch up within an
        // election timeout, or an election intervenes: ask again (whoever leads
        // then) until the target leads, as an operator would.
        let lastAsk = this.#sched.now;
        const watch = (until: number): void => {
          const cur = this.#cluster.leader();
          if (cur === to) {
            became = true;
            return;
          }
          if (this.#sched.now >= until) return;
          if (cur !== undefined && this.#sched.now - lastAsk >= 300 && this.#slot(to).sim.up) {
            lastAsk = this.#sched.now;
            void this.#cluster.admin(cur, { kind: 'transfer-leader', to });
          }
          this.#sched.after(10, () => watch(until));
        };
        void this.#cluster.admin(lead, { kind: 'transfer-leader', to });
        watch(this.#sched.now + 3000);
        this.#cluster.fault(`${label}: ${lead} → ${to}`);
        return rec(() => (became ? undefined : `${to} never became leader`));
      }
    }
  }

  // ---- nemesis -------------------------------------------------------------

  /** Random faults derived from the seed until `until`, each undone after a while. */
  startNemesis(until: number): void {
    const nem = this.#s.nemesis;
    if (!nem) return;
    const step = (): void => {
      if (this.#sched.now >= until) return;
      this.#nemesisAction(nem.kinds, nem.faultMs, until);
      this.#sched.after(nem.intervalMs * (0.5 + this.#rng.next()), step);
    };
    this.#sched.after(nem.intervalMs * (0.5 + this.#rng.next()), step);
  }

  #nemesisAction(kinds: readonly string[], faultMs: number, until: number): void {
    const kind = kinds[this.#rng.int(0, kinds.length - 1)];
    const n = ++this.nemesisActions;
    const label = `nemesis#${n} ${kind}@${Math.round(this.#sched.now)}ms`;
    const undoAt = Math.min(until, this.#sched.now + faultMs * (0.5 + this.#rng.next()));
    const later = (f: Fault): void => {
      this.#sched.at(undoAt, () => this.apply(f, `${label} undo`, false, this.#sched.now));
    };
    const any = this.#resolve('any');
    switch (kind) {
      case 'crash':
        if (any === undefined) return;
        this.apply({ kind: 'crash', node: any }, label, false, this.#sched.now);
        later({ kind: 'restart', node: any });
        return;
      case 'partition': {
        const ids = this.#voters();
        const shuffled = ids.map((id) => [this.#rng.next(), id] as const).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
        const cut = this.#rng.int(1, Math.max(1, shuffled.length - 1));
        this.apply({ kind: 'partition', groups: [shuffled.slice(0, cut), shuffled.slice(cut)] }, label, false, this.#sched.now);
        later({ kind: 'heal' });
        return;
      }
      case 'partition-one-way': {
        const a = this.#resolve('any');
        const b = this.#resolve('any');
        if (a === undefined || b === undefined || a === b) return;
        this.apply({ kind: 'partition-one-way', from: a, to: b }, label, false, this.#sched.now);
        later({ kind: 'heal' });
        return;
      }
      case 'partition-minority':
        this.apply({ kind: 'partition-minority', withLeader: this.#rng.chance(0.5) }, label, false, this.#sched.now);
        later({ kind: 'heal' });
        return;
      case 'partition-bridge':
        this.apply({ kind: 'partition-bridge' }, label, false, this.#sched.now);
        later({ kind: 'heal' });
        return;
      case 'clog':
        if (any === undefined) return;
        this.apply({ kind: 'clog', node: any }, label, false, this.#sched.now);
        later({ kind: 'unclog', node: any });
        return;
      case 'loss':
        this.apply({ kind: 'loss', probability: 0.05 + this.#rng.next() * 0.3 }, label, false, this.#sched.now);
        later({ kind: 'loss', probability: 0 });
        return;
      case 'duplication':
        this.apply({ kind: 'duplication', probability: 0.05 + this.#rng.next() * 0.3 }, label, false, this.#sched.now);
        later({ kind: 'duplication', probability: 0 });
        return;
      case 'clock-jump':
        if (any === undefined) return;
        this.apply({ kind: 'clock-jump', node: any, deltaMs: (this.#rng.next() * 2 - 1) * 60_000 }, label, false, this.#sched.now);
        return;
      case 'pause':
        if (any === undefined) return;
        this.apply({ kind: 'pause', node: any }, label, false, this.#sched.now);
        later({ kind: 'resume', node: any });
        return;
      case 'disk-full':
        if (any === undefined) return;
        this.apply({ kind: 'disk-full', node: any }, label, false, this.#sched.now);
        later({ kind: 'disk-ok', node: any });
        return;
      case 'transfer-leader':
        this.apply({ kind: 'transfer-leader' }, label, false, this.#sched.now);
        return;
    }
  }

  /** Undo everything for the heal-and-converge phase. */
  healAll(): void {
    this.#healed = true;
    this.#net.heal();
    this.#net.setLoss(0);
    this.#net.setDuplication(0);
    this.#net.setReorder(0);
    for (const n of this.#cluster.nodes.values()) {
      n.disk.full = false;
      n.disk.corruptReadProbability = 0;
      n.crashOnSnapshotInstall = undefined;
      if (n.sim.paused) n.sim.resume();
      if (n.sim.drift !== 0) n.sim.setDrift(0);
    }
    this.#cluster.healDrivers?.();
    for (const n of this.#cluster.nodes.values()) if (!n.sim.up) this.#cluster.restart(n.id);
    this.#cluster.fault('heal-all: converge phase');
  }
}
