// A simulated cluster: N machines, each with a SimNode (clock, timers), a
// SimDisk, a SimDurableLog over it, and — while it is up — an ActorSystem
// running the real Raft host actor on the node's Env. Crash throws the
// ActorSystem away (its timers die with the node's Env) and drops unsynced
// disk writes; restart builds a new ActorSystem that recovers from the disk.
import { ActorSystem } from '../actor/index.ts';
import type { Ref } from '../actor/thread-runtime.ts';
import type { Rng } from '../env/random.ts';
import { raftHost } from '../raft-host/host.ts';
import { KvStateMachine, encodeCommand } from '../raft-host/kv.ts';
import type { ClientRequest, ClientResponse, KvResult } from '../raft-host/kv.ts';
import type { AdminRequest, AdminResponse, HostStatus, HostView, ProposeResponse, RaftHostMsg, RaftHostProbe, ReadResponse } from '../raft-host/protocol.ts';
import { RaftRouter } from '../raft-host/router.ts';
import type { ConfState } from '../raft/types.ts';
import type { Buggify } from './buggify.ts';
import { SimDisk } from './disk.ts';
import type { RaftInvariants } from './invariants.ts';
import type { SimNetwork } from './network.ts';
import { SimNode } from './node.ts';
import type { Scenario } from './scenario.ts';
import type { Scheduler } from './scheduler.ts';
import { SimDurableLog } from './sim-durable-log.ts';
import type { Trace } from './trace.ts';

/** The Raft group the simulated cluster replicates its KV store in. */
export const KV_GROUP = 'kv';

/** What travels between machines on the simulated wire. */
export type Wire =
  | { type: 'raft'; group: string; msg: unknown }
  | { type: 'req'; req: ClientRequest }
  | { type: 'resp'; id: string; res: ClientResponse };

export interface NodeSlot {
  id: string;
  index: number;
  sim: SimNode;
  disk: SimDisk;
  log: SimDurableLog;
  system: ActorSystem | undefined;
  host: Ref<RaftHostMsg<KvResult | undefined>> | undefined;
  /** Routes incoming Raft frames by group (one group today; the real node shape). */
  router: RaftRouter | undefined;
  /** This incarnation's KV state machine (read after a `read` barrier). */
  sm: KvStateMachine | undefined;
  view: HostView | undefined;
  /** Crash this node the next time it persists a snapshot sent by the leader (then reboot it after this many ms); undefined = off. */
  crashOnSnapshotInstall: number | undefined;
  crashes: number;
  /** Settles admin asks into this incarnation when it crashes. */
  onCrash: Set<(r: AdminResponse) => void>;
}

export interface ClusterDeps {
  scenario: Scenario;
  sched: Scheduler;
  net: SimNetwork;
  trace: Trace;
  buggify: Buggify;
  invariants: RaftInvariants;
  rng: Rng;
  unsafeLocalReads: boolean;
}

export class SimCluster {
  readonly nodes = new Map<string, NodeSlot>();
  readonly #d: ClusterDeps;
  readonly #bootstrap: ConfState;
  readonly #probe: RaftHostProbe;
  /** Snapshot installs interrupted by a crash (for the fault's effect check). */
  snapshotInstallCrashes = 0;
  snapshotsTaken = 0;
  snapshotsRestored = 0;

  constructor(d: ClusterDeps) {
    this.#d = d;
    const s = d.scenario;
    const voters: string[] = [];
    for (let i = 1; i <= s.cluster.nodes; i++) voters.push('n' + i);
    this.#bootstrap = { voters, learners: [] };
    const inv = d.invariants;
    this.#probe = {
      role: (node, role, term, lead, log) => {
        if (d.trace.enabled) d.trace.sim('note', node, '/' + node + '/raft', { reason: 'role', data: { role, term, lead } });
        if (role === 'leader') inv.onLeader(node, term, log);
      },
      persisting: (node, info) => {
        inv.onPersist(node, info.isLeader, info.term, info.entries, info.lastBefore);
        const slot = this.nodes.get(node);
        if (info.snapshotFromLeader && slot?.crashOnSnapshotInstall !== undefined) {
          const restartAfter = slot.crashOnSnapshotInstall;
          slot.crashOnSnapshotInstall = undefined;
          // Crash while the snapshot is being written: before its fsync completes.
          d.sched.after(d.rng.next() * 0.05, () => {
            if (!slot.sim.up) return;
            this.snapshotInstallCrashes++;
            this.fault(`crash ${node} during snapshot install`);
            this.crash(node);
            d.sched.after(restartAfter, () => {
              if (!slot.sim.up) this.restart(node);
            });
          });
        }
      },
      applied: (node, entries) => inv.onApply(node, entries),
      snapshotRestored: (node, index, term) => {
        this.snapshotsRestored++;
        inv.onSnapshotRestore(node, index, term);
      },
      snapshotTaken: () => {
        this.snapshotsTaken++;
      },
      started: (node, view) => {
        const slot = this.nodes.get(node);
        if (slot) slot.view = view;
        inv.onRestart(node, view.applied());
      },
    };
    const all = s.cluster.nodes + s.cluster.spares;
    for (let i = 1; i <= all; i++) {
      const id = 'n' + i;
      const sim = new SimNode(id, d.sched, d.buggify, d.rng.fork());
      if (s.cluster.maxClockSkewMs > 0) sim.jumpClock((d.rng.next() * 2 - 1) * s.cluster.maxClockSkewMs);
      const disk = new SimDisk(sim, d.sched, d.rng.fork());
      const slot: NodeSlot = {
        id,
        index: i,
        sim,
        disk,
        log: new SimDurableLog(disk),
        system: undefined,
        host: undefined,
        router: undefined,
        sm: undefined,
        view: undefined,
        crashOnSnapshotInstall: undefined,
        crashes: 0,
        onCrash: new Set(),
      };
      this.nodes.set(id, slot);
      d.net.register(id, (from, msg) => this.#onWire(slot, from, msg as Wire), sim);
    }
    for (const id of this.nodes.keys()) this.#start(this.nodes.get(id)!);
  }

  fault(what: string, data?: unknown): void {
    this.#d.trace.sim('fault', 'sim', '/sim/faults', { reason: what, ...(data === undefined ? {} : { data }) });
  }

  #start(slot: NodeSlot): void {
    const d = this.#d;
    const s = d.scenario;
    const system = new ActorSystem({
      name: slot.id,
      env: slot.sim.env,
      inThreadOnly: true,
      index: slot.index,
      log: (e) => {
        if (e.level === 'warn' || e.level === 'error') d.trace.sim('note', slot.id, e.path, { reason: e.msg });
      },
      onFatal: (err) => d.trace.sim('note', slot.id, '/user', { reason: `fatal: ${err.message}` }),
    });
    if (d.trace.enabled) system.onEvent((e) => d.trace.actor(e));
    slot.system = system;
    const id = slot.id;
    const sm = new KvStateMachine();
    slot.sm = sm;
    slot.host = system.spawn(
      raftHost<KvResult | undefined>({
        group: KV_GROUP,
        id,
        peers: slot.index <= s.cluster.nodes ? this.#bootstrap.voters : [],
        storage: slot.log,
        stateMachine: sm,
        // Raft frames are immutable once sent and the receiving host validates them into a fresh copy: no deep copy on the wire.
        transport: { send: (to, group, msg) => d.net.send(id, to, { type: 'raft', group, msg }, true) },
        tickMs: s.cluster.tickMs,
        electionTick: s.cluster.electionTicks,
        heartbeatTick: s.cluster.heartbeatTicks,
        snapshotEvery: s.cluster.snapshotEvery,
        compactionMargin: s.cluster.compactionMargin,
        probe: this.#probe,
        unsafeLocalReads: d.unsafeLocalReads,
        readTimeoutMs: s.workload.opTimeoutMs * 2,
      }),
      'raft',
      { mailbox: { capacity: 100_000 } },
      // The concrete ref (path and thread) that the runtime's callback asks take.
    ) as Ref<RaftHostMsg<KvResult | undefined>>;
    const router = new RaftRouter();
    router.register(KV_GROUP, slot.host);
    slot.router = router;
  }

  #onWire(slot: NodeSlot, from: string, w: Wire): void {
    if (slot.host === undefined) return;
    if (w.type === 'raft') slot.router!.deliver(w.group, w.msg);
    else if (w.type === 'req') this.#onRequest(slot, from, w);
  }

  /**
   * A client request. (Apart from #onWire: the closures here capture the
   * parameters, which would make every Raft frame pay for a context.)
   */
  #onRequest(slot: NodeSlot, from: string, w: Extract<Wire, { type: 'req' }>): void {
    const host = slot.host!;
    const net = this.#d.net;
    const id = slot.id;
    const inc = slot.sim.incarnation;
    const req = w.req;
    const sm = slot.sm!;
    const rt = slot.system!.rt;
    const timeoutMs = this.#d.scenario.workload.opTimeoutMs;
    const answer = (res: ClientResponse): void => {
      // A reply computed before a crash must not leave the machine after it.
      if (slot.sim.up && slot.sim.incarnation === inc) net.send(id, from, { type: 'resp', id: req.id, res });
    };
    // The client sees no reply to a failed ask: it times out, as behind a real network.
    const failed = (): void => {};
    // KV over the generic host: write/cas are proposals; a read is a ReadIndex barrier, then a local get.
    // Callback asks: the answer leaves in the same virtual instant, with no real promise in between.
    if (req.op === 'read') {
      rt.askWith<ReadResponse>(host, (replyTo) => ({ type: 'read', replyTo }), timeoutMs, (r) => answer('error' in r ? r : { value: sm.get(req.key) }), failed);
    } else {
      rt.askWith<ProposeResponse<KvResult | undefined>>(
        host,
        (replyTo) => ({ type: 'propose', data: encodeCommand(req), replyTo }),
        timeoutMs,
        (r) => answer('error' in r ? r : r.result ?? { error: 'indeterminate', message: 'stale duplicate' }),
        failed,
      );
    }
  }

  // ---- machine faults ---------------------------------------------------

  crash(id: string): void {
    const slot = this.nodes.get(id)!;
    for (const f of [...slot.onCrash]) f({ ok: false, error: `${id} crashed` });
    slot.onCrash.clear();
    slot.sim.crash();
    slot.disk.crash();
    slot.system = undefined;
    slot.host = undefined;
    slot.router = undefined;
    slot.sm = undefined;
    slot.view = undefined;
    slot.crashes++;
    this.#d.trace.sim('crashed', id, '/' + id, { reason: 'simulated power loss' });
  }

  restart(id: string): void {
    const slot = this.nodes.get(id)!;
    slot.sim.restart();
    slot.log = new SimDurableLog(slot.disk);
    this.#d.trace.sim('restarted', id, '/' + id, { reason: 'simulated reboot' });
    this.#start(slot);
  }

  up(): NodeSlot[] {
    return [...this.nodes.values()].filter((n) => n.sim.up);
  }

  /** The leader with the highest term among running, unpaused nodes (undefined if none). */
  leader(): string | undefined {
    let best: string | undefined;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.sim.up || n.view === undefined) continue;
      const st = n.view.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = n.id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Current members according to the most advanced running node. */
  members(): { voters: string[]; learners: string[] } {
    let best: HostStatus | undefined;
    let bestApplied = -1;
    for (const n of this.nodes.values()) {
      if (!n.sim.up || n.view === undefined) continue;
      const a = n.view.applied();
      if (a <= bestApplied) continue;
      // status() builds a fresh object: only for a node that would win.
      const st = n.view.status();
      if (st.voters.length === 0) continue;
      bestApplied = a;
      best = st;
    }
    return best === undefined ? { voters: [...this.#bootstrap.voters], learners: [] } : { voters: best.voters, learners: best.learners };
  }

  admin(id: string, req: AdminRequest, timeoutMs = 2000): Promise<AdminResponse> {
    const slot = this.nodes.get(id);
    const host = slot?.host;
    if (slot === undefined || host === undefined) return Promise.resolve({ ok: false, error: `${id} is down` });
    // An ask into a system that crashes never settles (its timeout timer dies
    // with the node): settle it on the crash, or the caller would wait forever.
    let onCrash!: (r: AdminResponse) => void;
    const crashed = new Promise<AdminResponse>((resolve) => (onCrash = resolve));
    slot.onCrash.add(onCrash);
    const asked = host
      .ask<AdminResponse>((replyTo) => ({ type: 'admin', req, replyTo }), { timeoutMs })
      .catch((err: Error) => ({ ok: false as const, error: err.message }));
    return Promise.race([asked, crashed]).finally(() => slot.onCrash.delete(onCrash));
  }
}
