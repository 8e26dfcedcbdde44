// A simulated cluster of real nodes: N machines, each with a SimNode (clock,
// timers), a SimDisk and — while it is up — an ActorSystem running the node's
// own tree (actors/node/tree.ts: the real CDB, Monitor and agent) on
// simulated ports: the simulated network for its peer port, one simulated
// durable log per Raft group, fixed host metrics. Crash throws the
// ActorSystem away (its timers die with the node's Env) and drops unsynced
// disk writes; restart builds a new one that recovers from the disk.
// Clients talk to a node the way the CLI does: a method and its params,
// answered by the node's own NodeApi.
import { ActorSystem, type ActorRef } from '../../../runtime/actor/index.ts';
import type { Rng } from '../../../runtime/env/random.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../../../runtime/net/frame.ts';
import { LinkTracker, PeerPort, type PeerFrame, type PeerLinkStats } from '../../../runtime/ports/peers.ts';
import type { NodePorts } from '../../../runtime/ports/ports.ts';
import type { AdminRequest, AdminResponse, HostStatus, HostView, RaftHostProbe } from '../../../runtime/raft-host/protocol.ts';
import { registry } from '../../../runtime/registry/registry.ts';
import type { Buggify } from '../../../runtime/sim/buggify.ts';
import { SimDisk } from '../../../runtime/sim/disk.ts';
import { SimLinks } from '../../../runtime/sim/links.ts';
import type { RaftInvariants } from '../../../runtime/sim/invariants.ts';
import type { SimNetwork } from '../../../runtime/sim/network.ts';
import { SimNode } from '../../../runtime/sim/node.ts';
import type { Fault, Scenario } from '../../../runtime/sim/scenario.ts';
import type { Scheduler } from '../../../runtime/sim/scheduler.ts';
import { SimDurableLog } from '../../../runtime/sim/sim-durable-log.ts';
import type { Trace } from '../../../runtime/sim/trace.ts';
import { SimStorageDriver, SimStorageMachine } from '../../storage/sim.ts';
import { NodeApi } from '../api.ts';
import { SimNetDriver, SimNetMachine } from '../../network/sim.ts';
import { networkDriverFault, networkInvariants, serviceStep } from './services.ts';
import { nodeTree, type NodeSpec } from '../tree.ts';

export const GROUPS = ['cdb', 'monitor'] as const;
export type Group = (typeof GROUPS)[number];

/** What travels between machines on the simulated wire. */
export type Wire = { type: 'peer'; f: PeerFrame } | { type: 'req'; id: string; method: string; params: unknown } | { type: 'resp'; id: string; res: unknown };

export interface NodeSlot {
  id: string;
  index: number;
  sim: SimNode;
  disk: SimDisk;
  system: ActorSystem | undefined;
  peers: PeerPort | undefined;
  /** Its peer port's link states (what the transport would report). */
  /** This incarnation's view of its links (the transport's, for the Monitor). */
  links: LinkTracker | undefined;
  api: NodeApi | undefined;
  /** Each Raft group's host on this incarnation (from the probe's `started`). */
  views: Partial<Record<Group, HostView>>;
  /** The cdb group's view (the one clients, faults and convergence look at). */
  view: HostView | undefined;
  /** Crash this node the next time it persists a snapshot sent by the leader (then reboot it after this many ms); undefined = off. */
  crashOnSnapshotInstall: number | undefined;
  crashes: number;
  /** Times this machine has booted (the boot count its disk keeps). */
  boots: number;
  /** Settles admin asks into this incarnation when it crashes. */
  onCrash: Set<(r: AdminResponse) => void>;
  /** The machine's storage (devices, mounts, servers and the Storage service's ownership record): survives the node's crashes. */
  storage: SimStorageMachine;
  /** The machine's networking (its links and the Network service's ownership record): survives the node's crashes. */
  net: SimNetMachine;
}

export interface ClusterDeps {
  scenario: Scenario;
  sched: Scheduler;
  net: SimNetwork;
  trace: Trace;
  buggify: Buggify;
  /** One set of Raft invariants per group. */
  invariants: Record<Group, RaftInvariants>;
  rng: Rng;
  /** TEST ONLY: the cdb group answers reads without ReadIndex. */
  unsafeLocalReads: boolean;
  /** Facts the services report for the simulator's own invariants. */
  observe: (kind: string, data: Record<string, unknown>) => void;
}

export class SimCluster {
  readonly nodes = new Map<string, NodeSlot>();
  readonly #d: ClusterDeps;
  readonly #voters: string[];
  readonly #probes: Record<Group, RaftHostProbe>;
  /** The links as each node's transport sees them (up/down hints, and what Raft may send on). */
  readonly links: SimLinks;
  /** Snapshot installs interrupted by a crash (for the fault's effect check). */
  snapshotInstallCrashes = 0;
  snapshotsTaken = 0;
  snapshotsRestored = 0;
  /** Problems the node-service steps found after they were applied (run failures). */
  readonly problems: string[] = [];

  constructor(d: ClusterDeps) {
    this.#d = d;
    const s = d.scenario;
    this.#voters = [];
    for (let i = 1; i <= s.cluster.nodes; i++) this.#voters.push('n' + i);
    this.#probes = { cdb: this.#probe('cdb'), monitor: this.#probe('monitor') };
    const all = s.cluster.nodes + s.cluster.spares;
    for (let i = 1; i <= all; i++) {
      const id = 'n' + i;
      const sim = new SimNode(id, d.sched, d.buggify, d.rng.fork());
      if (s.cluster.maxClockSkewMs > 0) sim.jumpClock((d.rng.next() * 2 - 1) * s.cluster.maxClockSkewMs);
      const disk = new SimDisk(sim, d.sched, d.rng.fork());
      const slot: NodeSlot = { id, index: i, sim, disk, system: undefined, peers: undefined, links: undefined, api: undefined, views: {}, view: undefined, crashOnSnapshotInstall: undefined, crashes: 0, boots: 0, onCrash: new Set(), storage: new SimStorageMachine(), net: new SimNetMachine({ foreign: ['lo', 'ul0'] }) };
      this.nodes.set(id, slot);
      d.net.register(id, (from, msg) => this.#onWire(slot, from, msg as Wire), sim);
    }
    this.links = new SimLinks(d.sched, d.net, d.rng.fork(), d.buggify, [...this.nodes.keys()], {
      isUp: (id) => this.nodes.get(id)!.sim.up,
      isPaused: (id) => this.nodes.get(id)!.sim.paused,
      notify: (id, peer, up, cause) => {
        const slot = this.nodes.get(id)!;
        slot.sim.deliver(() => {
          if (up) slot.links?.up(peer);
          else slot.links?.down(peer, cause ?? 'closed');
          slot.peers?.peerState(peer, up);
        });
      },
    });
    for (const slot of this.nodes.values()) this.#start(slot);
  }

  #probe(group: Group): RaftHostProbe {
    const d = this.#d;
    const inv = d.invariants[group];
    return {
      role: (node, role, term, lead, log) => {
        if (d.trace.enabled) d.trace.sim('note', node, `/${node}/raft-${group}`, { reason: 'role', data: { group, role, term, lead } });
        if (role === 'leader') inv.onLeader(node, term, log);
        if (role === 'leader') d.observe('raft-leader', { group, node, term });
      },
      persisting: (node, info) => {
        inv.onPersist(node, info.isLeader, info.term, info.entries, info.lastBefore);
        const slot = this.nodes.get(node);
        if (group === 'cdb' && info.snapshotFromLeader && slot?.crashOnSnapshotInstall !== undefined) {
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
        if (group === 'cdb') this.snapshotsRestored++;
        inv.onSnapshotRestore(node, index, term);
      },
      snapshotTaken: () => {
        if (group === 'cdb') this.snapshotsTaken++;
      },
      started: (node, view) => {
        const slot = this.nodes.get(node);
        if (slot) {
          slot.views[group] = view;
          if (group === 'cdb') slot.view = view;
        }
        inv.onRestart(node, view.applied());
        d.observe('raft-started', { group, node });
      },
    };
  }

  get sched(): Scheduler {
    return this.#d.sched;
  }

  serviceStep(node: string, f: Extract<Fault, { kind: 'apply' | 'attach' }>): string | { check?: () => string | undefined } {
    return serviceStep(this, node, f);
  }

  fault(what: string, data?: unknown): void {
    this.#d.trace.sim('fault', 'sim', '/sim/faults', { reason: what, ...(data === undefined ? {} : { data }) });
  }

  /** The node's spec, with the scenario's Raft timing. */
  #spec(slot: NodeSlot): NodeSpec {
    const c = this.#d.scenario.cluster;
    return {
      name: slot.id,
      address: `10.0.0.${slot.index}:7400`,
      voters: slot.index <= c.nodes ? this.#voters : [],
      raft: {
        tickMs: c.tickMs,
        electionTicks: c.electionTicks,
        heartbeatTicks: c.heartbeatTicks,
        snapshotEvery: c.snapshotEvery,
        compactionMargin: c.compactionMargin,
        readTimeoutMs: this.#d.scenario.workload.opTimeoutMs * 2,
        ...(this.#d.unsafeLocalReads ? { unsafeLocalReads: true } : {}),
      },
      meta: { publishMs: 250, staleAfterMs: 3000 },
      monitor: { intervalMs: 500 },
      agent: { reportMs: 1000 },
      dataAddress: this.#underlay(slot).address,
    };
  }

  #underlay(slot: NodeSlot): { dev: string; address: string } {
    return { dev: 'ul0', address: `10.77.0.${slot.index}` };
  }

  #start(slot: NodeSlot): void {
    const d = this.#d;
    const id = slot.id;
    const system = new ActorSystem({
      name: id,
      env: slot.sim.env,
      inThreadOnly: true,
      index: slot.index,
      log: (e) => {
        if (e.level === 'warn' || e.level === 'error') d.trace.sim('note', id, e.path, { reason: e.msg });
      },
      onFatal: (err) => d.trace.sim('note', id, '/user', { reason: `fatal: ${err.message}` }),
    });
    if (d.trace.enabled) system.onEvent((e) => d.trace.actor(e));
    slot.system = system;
    slot.views = {};
    slot.view = undefined;
    const all = [...this.nodes.keys()];
    slot.boots++;
    const peers = new PeerPort(id, all, { instance: slot.boots });
    // What this node's transport would say of each link (up, or down — closed or silent — since
    // when): the Monitor's evidence of a dead node. The cluster's link model (this.links) keeps it
    // in step and sends the same changes as peer-state hints to the services.
    const links = new LinkTracker(peers.peers, () => d.sched.now);
    for (const p of peers.peers) if (this.links.isConnected(id, p)) links.up(p);
    // Frames are immutable once sent and the receiver validates them into fresh values: no deep copy on the wire.
    // The real transport's frame limit, so Raft sizes its appends here as in a real node.
    peers.attach({
      send: (to, f) => (d.net.send(id, to, { type: 'peer', f } satisfies Wire, true), true),
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      isConnected: (to) => this.links.isConnected(id, to),
      links: () => links.all(),
      stats: () => {
        const out: Record<string, PeerLinkStats> = {};
        for (const p of peers.peers) {
          const l = links.state(p);
          out[p] = { connected: l.up, reconnects: 0, framesIn: 0, framesOut: 0, rejected: 0, ...(l.up ? {} : { down: { cause: l.cause, forMs: Math.round(l.forMs) } }) };
        }
        return out;
      },
    });
    slot.peers = peers;
    slot.links = links;
    const disk = slot.disk;
    const ports: NodePorts = {
      node: id,
      boot: slot.boots,
      peers,
      openLog: (group) => new SimDurableLog(disk, `${group}.raft.log`),
      host: { cpuPct: () => 3, rssBytes: () => 64 << 20, heapUsedBytes: () => 16 << 20, memUsedPct: () => 20, load1: () => 0.1, capacity: () => ({ vcpus: 4, memoryMb: 8192 }) },
      raftProbe: (group) => this.#probes[group as Group],
      observe: d.observe,
    };
    const services = new Map<string, ActorRef<never>>();
    const reg = system.spawn(registry(services), 'registry');
    const env = slot.sim.env;
    const storage = new SimStorageDriver({ machine: slot.storage, actionMs: 5, sleep: (ms) => new Promise((r) => env.setTimer(ms, r)) });
    const network = new SimNetDriver({ machine: slot.net, underlay: this.#underlay(slot), actionMs: 5, sleep: (ms) => new Promise((r) => env.setTimer(ms, r)), now: () => env.now() });
    system.spawn(nodeTree(this.#spec(slot), ports, reg, { storage, network }), 'node', { restart: 'permanent' });
    slot.api = new NodeApi({ node: id, system, services, startedAt: slot.sim.env.now(), address: { host: `10.0.0.${slot.index}`, port: 7400 }, pid: slot.index });
  }

  /** `peer`'s heartbeats would reach `self` and get answered: its process runs and nothing cuts or holds either direction. */
  #hears(self: string, peer: string): boolean {
    const q = this.nodes.get(peer);
    const net = this.#d.net;
    return q !== undefined && q.sim.up && !q.sim.paused && !net.isCut(peer, self) && !net.isCut(self, peer) && !net.isClogged(peer, self) && !net.isClogged(self, peer);
  }

  #onWire(slot: NodeSlot, from: string, w: Wire): void {
    if (slot.system === undefined) return;
    if (w.type === 'peer') slot.peers!.receive(from, w.f);
    else if (w.type === 'req') this.#onRequest(slot, from, w);
  }

  /** A client request, answered by the node's API in the same virtual instant it is ready. */
  #onRequest(slot: NodeSlot, from: string, w: Extract<Wire, { type: 'req' }>): void {
    const net = this.#d.net;
    const inc = slot.sim.incarnation;
    slot.api!.call(w.method, w.params, (res) => {
      // A reply computed before a crash must not leave the machine after it.
      if (slot.sim.up && slot.sim.incarnation === inc) net.send(slot.id, from, { type: 'resp', id: w.id, res } satisfies Wire);
    });
  }

  // ---- service driver faults (scenario `driver` steps) -------------------

  driverFault(f: Extract<Fault, { kind: 'driver' }>, label: string): string | { check: () => string | undefined } {
    const slot = this.nodes.get(f.node)!;
    if (f.service === 'network') return networkDriverFault(this, f, label);
    if (f.service !== 'storage') return `no simulated ${f.service} driver faults (storage and network have: vanish, fail, crash-mid-action)`;
    const m = slot.storage;
    switch (f.fault) {
      case 'vanish': {
        if (!f.target) return 'vanish needs a target device';
        const pools = [...m.pools].filter(([, p]) => p.devices.includes(f.target!)).map(([id]) => id);
        if (!m.vanish(f.target)) return `device ${f.target} is not Storage's on ${f.node}`;
        this.fault(label, f);
        // Effect: a pool holding it is reported degraded, naming the device, within a few seconds.
        let seen = pools.length === 0;
        const until = this.#d.sched.now + 5000;
        const poll = (): void => {
          if (seen || this.#d.sched.now > until) return;
          for (const pool of pools) {
            slot.api?.call('cdb', { op: 'meta', type: 'storage', id: pool }, (r) => {
              const v = (r as { ok?: boolean; view?: { state?: string; meta?: { reason?: string } } }).view;
              if (v?.state === 'degraded' && v.meta?.reason?.includes(f.target!)) seen = true;
            });
          }
          this.#d.sched.after(250, poll);
        };
        this.#d.sched.after(250, poll);
        return { check: () => (seen ? undefined : `no pool holding ${f.target} (${pools.join(', ')}) was reported degraded naming it`) };
      }
      case 'fail': {
        if (!f.target) return 'fail needs a target action kind';
        m.failNext(f.target, f.times, `injected failure of ${f.target}`);
        this.fault(label, f);
        return { check: () => (m.pendingFailures(f.target!) === 0 ? undefined : `no ${f.target} action ran on ${f.node}`) };
      }
      case 'crash-mid-action': {
        let crashed = '';
        let before: Record<string, number> = {};
        m.onApplied = (a) => {
          if (f.target && a.kind !== f.target) return false;
          m.onApplied = undefined;
          crashed = `${a.kind} ${a.id}`;
          before = { ...m.created };
          this.#d.sched.after(0, () => {
            if (!slot.sim.up) return;
            this.fault(`crash ${f.node} right after ${crashed} took effect`);
            this.crash(f.node);
            this.#d.sched.after(f.restartAfterMs, () => {
              if (!slot.sim.up) this.restart(f.node);
            });
          });
          return true;
        };
        this.fault(label, f);
        return {
          check: () => {
            if (!crashed) return `no ${f.target ?? 'storage'} action ran on ${f.node}`;
            // Adoption: what existed at the crash was not made a second time by the restarted node.
            const again = Object.keys(before).filter((k) => (m.created[k] ?? 0) > before[k]! && (k !== 'loop' || m.check().length > 0));
            return again.length ? `after the restart ${f.node} made again: ${again.join(', ')} (instead of adopting)` : undefined;
          },
        };
      }
      default:
        return `unknown storage driver fault "${f.fault}" (vanish, fail, crash-mid-action)`;
    }
  }

  healDrivers(): void {
    for (const n of this.nodes.values()) {
      n.storage.heal();
      n.net.heal();
    }
  }

  /** The simulated machines' own invariants (resources owned once, nothing leaked). */
  driverInvariants(): string[] {
    const out: string[] = [];
    for (const n of this.nodes.values()) for (const p of n.storage.check()) out.push(`${n.id} storage: ${p}`);
    for (const n of this.nodes.values()) for (const p of networkInvariants(n.net)) out.push(`${n.id} network: ${p}`);
    return out;
  }

  // ---- machine faults ---------------------------------------------------

  crash(id: string): void {
    const slot = this.nodes.get(id)!;
    for (const f of [...slot.onCrash]) f({ ok: false, error: `${id} crashed` });
    slot.onCrash.clear();
    slot.sim.crash();
    slot.disk.crash();
    // The process is gone: its kernel closes its connections, and its peers see their links close.
    this.links.crashed(id);
    slot.system = undefined;
    slot.peers = undefined;
    slot.links = undefined;
    slot.api = undefined;
    slot.views = {};
    slot.view = undefined;
    slot.crashes++;
    this.#d.trace.sim('crashed', id, '/' + id, { reason: 'simulated power loss' });
  }

  restart(id: string): void {
    const slot = this.nodes.get(id)!;
    slot.sim.restart();
    this.#d.trace.sim('restarted', id, '/' + id, { reason: 'simulated reboot' });
    this.#start(slot);
  }

  up(): NodeSlot[] {
    return [...this.nodes.values()].filter((n) => n.sim.up);
  }

  /** The leader of `group` with the highest term among running nodes (undefined if none). */
  leader(group: Group = 'cdb'): string | undefined {
    let best: string | undefined;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      const v = n.views[group];
      if (!n.sim.up || v === undefined) continue;
      const st = v.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = n.id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Current members of `group` according to its most advanced running node. */
  members(group: Group = 'cdb'): { voters: string[]; learners: string[] } {
    let best: HostStatus | undefined;
    let bestApplied = -1;
    for (const n of this.nodes.values()) {
      const v = n.views[group];
      if (!n.sim.up || v === undefined) continue;
      const a = v.applied();
      if (a <= bestApplied) continue;
      const st = v.status();
      if (st.voters.length === 0) continue;
      bestApplied = a;
      best = st;
    }
    return best === undefined ? { voters: [...this.#voters], learners: [] } : { voters: best.voters, learners: best.learners };
  }

  /** A membership or leadership request to a node's cdb group host. */
  admin(id: string, req: AdminRequest, timeoutMs = 2000): Promise<AdminResponse> {
    const slot = this.nodes.get(id);
    const host = slot?.view?.ref;
    if (slot === undefined || host === undefined || !slot.sim.up) return Promise.resolve({ ok: false, error: `${id} is down` });
    // An ask into a system that crashes never settles (its timeout timer dies
    // with the node): settle it on the crash, or the caller would wait forever.
    let onCrash!: (r: AdminResponse) => void;
    const crashed = new Promise<AdminResponse>((resolve) => (onCrash = resolve));
    slot.onCrash.add(onCrash);
    const asked = host.ask<AdminResponse>((replyTo) => ({ type: 'admin', req, replyTo }), { timeoutMs }).catch((err: Error) => ({ ok: false as const, error: err.message }));
    return Promise.race([asked, crashed]).finally(() => slot.onCrash.delete(onCrash));
  }
}
