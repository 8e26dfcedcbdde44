// Test harness: a cluster of RawNodes connected by an in-memory network the
// test controls completely (which messages are delivered, dropped, in which
// order). Each node has a MemoryStorage (what the core reads) and a
// MemoryDurableLog (what survives a crash), and a trivial application: the
// list of applied (index, term, data) so safety checks can compare them.
import { SeededRng } from '../../runtime/env/random.ts';
import { RawNode } from '../../runtime/raft/rawnode.ts';
import type { RawNodeConfig } from '../../runtime/raft/rawnode.ts';
import { MemoryDurableLog, MemoryStorage, applyReadyToStorage, memoryStorageFrom, persistBatchOf } from '../../runtime/raft/storage.ts';
import { decodeConfChange } from '../../runtime/raft/confchange.ts';
import type { ConfState, Entry, Message, NodeId, ReadState, Ready, Snapshot } from '../../runtime/raft/types.ts';

export interface NodeOpts {
  electionTick?: number;
  heartbeatTick?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxInflightMsgs?: number;
  maxInflightBytes?: number;
  maxSizePerMsg?: number;
  forwardProposals?: boolean;
}

export interface AppliedEntry {
  index: number;
  term: number;
  type: Entry['type'];
  data: string;
}

export interface Peer {
  id: NodeId;
  rn: RawNode | undefined; // undefined while crashed
  storage: MemoryStorage;
  durable: MemoryDurableLog;
  opts: NodeOpts;
  seed: number;
  /** Application state: every applied entry, in order (snapshot restores replace it). */
  applied: AppliedEntry[];
  appliedIndex: number;
  reads: ReadState[];
  confs: ConfState[];
}

export class Cluster {
  peers = new Map<NodeId, Peer>();
  /** In-flight messages, in send order. */
  inflight: Message[] = [];
  /** Directed links that drop messages: "a->b". */
  cut = new Set<string>();
  /** Every Ready handled, for safety checks that want to inspect them. */
  onReady?: (id: NodeId, rd: Ready) => void;
  #seed: number;

  constructor(seed = 1) {
    this.#seed = seed;
  }

  ids(): NodeId[] {
    return [...this.peers.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  }
  peer(id: NodeId): Peer {
    const p = this.peers.get(id);
    if (!p) throw new Error(`no node ${id}`);
    return p;
  }
  node(id: NodeId): RawNode {
    const rn = this.peer(id).rn;
    if (!rn) throw new Error(`node ${id} is crashed`);
    return rn;
  }

  #config(p: Peer, storage: MemoryStorage, applied: number): RawNodeConfig {
    return { id: p.id, storage, rng: new SeededRng(p.seed), applied, ...p.opts };
  }

  /** A new node; `conf` is its bootstrap configuration (empty for a node joining later). */
  addNode(id: NodeId, conf: ConfState, opts: NodeOpts = {}): Peer {
    // Founding members persist the bootstrap log; joiners start empty.
    const storage = MemoryStorage.bootstrap(conf);
    const durable = new MemoryDurableLog();
    durable.persist({ conf }, () => {});
    const seed = this.#seed * 1000 + this.peers.size + 1;
    const p: Peer = { id, rn: undefined, storage, durable, opts, seed, applied: [], appliedIndex: 0, reads: [], confs: [] };
    p.rn = new RawNode(this.#config(p, storage, 0));
    this.peers.set(id, p);
    return p;
  }

  /** Lose everything not persisted: the RawNode, the app state, and messages addressed to it. */
  crash(id: NodeId): void {
    const p = this.peer(id);
    p.rn = undefined;
    this.inflight = this.inflight.filter((m) => m.to !== id);
  }

  /** Rebuild the node from its durable log; the app restores from the snapshot and replays the log. */
  restart(id: NodeId): void {
    const p = this.peer(id);
    const state = p.durable.load();
    p.storage = memoryStorageFrom(state);
    p.applied = [];
    p.appliedIndex = 0;
    p.reads = [];
    if (state.snapshot && state.snapshot.meta.index > 0) this.#restoreApp(p, state.snapshot);
    p.seed += 7919; // a restarted process draws new random timeouts
    p.rn = new RawNode(this.#config(p, p.storage, p.appliedIndex));
  }

  #restoreApp(p: Peer, s: Snapshot): void {
    p.applied = JSON.parse(s.data) as AppliedEntry[];
    p.appliedIndex = s.meta.index;
  }

  /** Application snapshot at its applied index, then compact the log up to `keep` entries before it. */
  compact(id: NodeId, keep = 0): Snapshot {
    const p = this.peer(id);
    const rn = this.node(id);
    const i = p.appliedIndex;
    const snap = p.storage.createSnapshot(i, rn.confState(i), JSON.stringify(p.applied));
    const through = Math.max(p.storage.firstIndex() - 1, i - keep);
    p.storage.compact(through);
    p.durable.persist({ snapshot: snap }, () => {});
    p.durable.compact(Math.min(through, snap.meta.index));
    return snap;
  }

  /** Handle one Ready of node id following the host contract. */
  processReady(id: NodeId): Ready | undefined {
    const p = this.peer(id);
    const rn = p.rn;
    if (!rn || !rn.hasReady()) return undefined;
    const rd = rn.ready();
    // 1. persist
    const batch = persistBatchOf(rd);
    if (batch) p.durable.persist(batch, (err) => {
      if (err) throw err;
    });
    applyReadyToStorage(p.storage, rd);
    // 2. send
    for (const m of rd.messages) this.inflight.push(m);
    // 3. apply
    if (rd.snapshot) this.#restoreApp(p, rd.snapshot);
    for (const e of rd.committedEntries) {
      if (e.index <= p.appliedIndex) continue; // already in the restored snapshot
      if (e.index !== p.appliedIndex + 1) throw new Error(`${id}: applying ${e.index} after ${p.appliedIndex}`);
      if (e.type === 'conf') {
        const cc = decodeConfChange(e.data);
        if (cc) p.confs.push(rn.applyConfChange(cc));
      }
      p.applied.push({ index: e.index, term: e.term, type: e.type, data: e.data });
      p.appliedIndex = e.index;
    }
    // 4. reads
    for (const rs of rd.readStates) p.reads.push(rs);
    this.onReady?.(id, rd);
    // 5. advance
    rn.advance(rd);
    return rd;
  }

  isCut(m: Message): boolean {
    return this.cut.has(`${m.from}->${m.to}`);
  }

  /** Deliver one message; returns false when it was dropped (partition or crashed target). */
  deliver(m: Message): boolean {
    const p = this.peers.get(m.to);
    if (!p || !p.rn || this.isCut(m)) return false;
    // Every delivered message is a structured clone, as across a socket/thread.
    p.rn.step(structuredClone(m));
    return true;
  }

  /** Take all in-flight messages addressed to `to`. */
  takeFor(to: NodeId): Message[] {
    const out = this.inflight.filter((m) => m.to === to);
    this.inflight = this.inflight.filter((m) => m.to !== to);
    return out;
  }

  isolate(id: NodeId): void {
    for (const o of this.ids()) {
      if (o === id) continue;
      this.cut.add(`${id}->${o}`);
      this.cut.add(`${o}->${id}`);
    }
  }
  partition(groups: NodeId[][]): void {
    this.cut.clear();
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.cut.add(`${a}->${b}`);
      }
    }
  }
  heal(): void {
    this.cut.clear();
  }

  /** Process readies and deliver messages until nothing happens (silently). */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const id of this.ids()) if (this.processReady(id)) busy = true;
      const msgs = this.inflight;
      this.inflight = [];
      for (const m of msgs) {
        busy = true;
        this.deliver(m);
      }
      if (!busy) return;
    }
    throw new Error('cluster did not stabilize');
  }

  leader(): NodeId | undefined {
    for (const id of this.ids()) {
      const rn = this.peers.get(id)!.rn;
      if (rn && rn.raft.role === 'leader') return id;
    }
    return undefined;
  }

  /** Tick a node until its election timeout fires (exactly once). */
  tickElection(id: NodeId): void {
    const r = this.node(id).raft;
    const n = r.role === 'leader' ? r.electionTimeout - r.electionElapsed : r.randomizedElectionTimeout - r.electionElapsed;
    for (let i = 0; i < Math.max(n, 1); i++) r.tick();
  }
}

/** n bootstrapped voters "1".."n". */
export function newCluster(n: number, opts: NodeOpts = {}, seed = 1): Cluster {
  const c = new Cluster(seed);
  const voters = Array.from({ length: n }, (_, i) => String(i + 1));
  for (const id of voters) c.addNode(id, { voters, learners: [] }, opts);
  return c;
}

// ---------------------------------------------------------------------------
// Formatting (used by the interaction goldens).

export function fmtEntry(e: Entry): string {
  if (e.type === 'conf') {
    const cc = decodeConfChange(e.data);
    return `${e.term}/${e.index} conf:${cc ? `${cc.type}(${cc.node})` : 'invalid'}`;
  }
  return `${e.term}/${e.index} ${JSON.stringify(e.data)}`;
}

export function fmtEntries(es: Entry[]): string {
  return `[${es.map(fmtEntry).join(', ')}]`;
}

export function fmtConf(c: ConfState): string {
  return `voters=(${c.voters.join(',')})` + (c.learners.length > 0 ? ` learners=(${c.learners.join(',')})` : '');
}

export function fmtMsg(m: Message): string {
  const h = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'append':
      return `${h} prev=${m.logTerm}/${m.index} commit=${m.commit}${m.entries.length > 0 ? ' ' + fmtEntries(m.entries) : ''}`;
    case 'appendResp':
      return m.reject ? `${h} REJECT index=${m.index} hint=${m.logTerm}/${m.rejectHint}` : `${h} index=${m.index}`;
    case 'vote':
    case 'preVote':
      return `${h} last=${m.logTerm}/${m.index}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${h} ${m.reject ? 'REJECT' : 'granted'}`;
    case 'heartbeat':
      return `${h} commit=${m.commit}${m.context ? ` ctx=${m.context}` : ''}`;
    case 'heartbeatResp':
      return `${h}${m.context ? ` ctx=${m.context}` : ''}`;
    case 'snapshot':
      return `${h} snap=${m.snapshot.meta.term}/${m.snapshot.meta.index} ${fmtConf(m.snapshot.meta.conf)}`;
    case 'timeoutNow':
      return h;
    case 'readIndex':
      return `${h} ctx=${m.context}`;
    case 'readIndexResp':
      return `${h} ctx=${m.context} index=${m.index}`;
    case 'transferLeader':
      return `${h} target=${m.target}`;
    case 'propose':
      return `${h} ${m.entries.map((e) => JSON.stringify(e.data)).join(', ')}`;
  }
}

export function fmtReady(id: NodeId, rd: Ready): string[] {
  const out = [`> ${id} handling Ready`];
  if (rd.softState) out.push(`  soft: ${rd.softState.role} lead=${rd.softState.lead || '-'}`);
  if (rd.hardState) out.push(`  hard: term=${rd.hardState.term} vote=${rd.hardState.vote || '-'} commit=${rd.hardState.commit}`);
  if (rd.snapshot) out.push(`  snapshot: ${rd.snapshot.meta.term}/${rd.snapshot.meta.index} ${fmtConf(rd.snapshot.meta.conf)}`);
  if (rd.entries.length > 0) out.push(`  entries: ${rd.entries.map(fmtEntry).join(', ')}`);
  if (rd.committedEntries.length > 0) out.push(`  committed: ${rd.committedEntries.map(fmtEntry).join(', ')}`);
  if (rd.readStates.length > 0) out.push(`  reads: ${rd.readStates.map((r) => `${r.requestCtx}@${r.index}`).join(', ')}`);
  if (rd.messages.length > 0) {
    out.push('  msgs:');
    for (const m of rd.messages) out.push(`    ${fmtMsg(m)}`);
  }
  return out;
}
