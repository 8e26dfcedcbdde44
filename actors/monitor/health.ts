// The cluster health score: a pure function of the CDB state (objects + merged meta/stats views).
//
// evaluateHealth(input, config) → { score 0..100, findings }.
//
// Findings (id = "code:objectKey", stable across evaluations — the alarm id):
//   node-down         critical  unreachable (see below), node state down/failed, or no fresh report
//                               (stale / never reported)
//   node-degraded     warning   node state degraded
//   node-cpu          warn/crit stats.cpu (percent) over thresholds.nodeCpu
//   node-memory       warn/crit stats.memUsedBytes / stats.memTotalBytes over thresholds.nodeMemory
//   quorum-lost       critical  at most half of the nodes with role cdb are up (the CDB cannot commit)
//   service-down      critical  an enabled service on an up node is not running (state not up/running,
//                               or not reporting); warning for the monitor and appswitch services;
//                               info while 'starting'. Not raised when the node itself is down
//                               (node-down covers it).
//   service-missing   warning   a node role expects a service (compute→hypervisor, storage→storage,
//                               network→network, monitor→monitor, cdb→cdb) but the node has no
//                               enabled service object of that sub-type
//   pool-usage        warn/crit stats.usedBytes / stats.sizeBytes over thresholds.poolUsage
//   storage-unsupported warning a node cannot realise a device, pool or share (state unsupported: its reason)
//   share-failed      warning   share state failed (its reason)
//                               (storage findings carry the reporting node's reason: which device, why)
//   pool-degraded     warning   pool state degraded;  pool-down critical: state down/failed/faulted
//   device-failed     warning   device state down/failed/faulted
//   network-down      warning   a network (vlan-bridge, trunk, vpp-vlan) is down/failed on a node that reports it
//   network-degraded  warning   it is degraded on a node, or one of its nodes is down
//   network-unsupported warning a node cannot realise it (state unsupported: the node's reason)
//                               (each node's own contribution counts, not only the freshest meta)
//   system-down       warning   a system that should run (autostart ≠ false, pinned or placed on a node) is not
//                               loaded/running, or its node is down; critical if its state is failed/crashed
//   system-unplaced   warning   a system with a kind and no node pin that the Monitor's placement
//                               (placement.ts) finds no node for: the reason names each node's
//                               shortfall (added by unplacedFindings/withFindings, not evaluateHealth)
//   dangling-ref      warning   a spec references an object that does not exist
//                               (service/device/system .node, pool .devices, share .pool, system .networks/.disks[].share)
//
// Unreachable: the evaluating node's own link to a peer (input.links, from its peer port) is the
// fastest evidence that the peer is gone — a killed process has its connections closed by its
// kernel at once, seconds before what it published goes stale. A link down 'closed' (ended from
// the other side) for at least config.links.closedAfterMs (long enough for a live peer to dial
// back after a mere reconnect), or down 'silent' (the transport heard nothing for its idle
// timeout, or it never came up) for at least config.links.silentAfterMs (so a peer that was
// only slow for one heartbeat is not declared gone), makes the node down whatever its meta says.
// A link that is up proves nothing more: the meta (state, staleness) still decides. No link
// evidence (a node this node has no link to, or none given) leaves the meta alone to decide.
//
// Score = clamp(100 − Σ penalty, 0, 100), rounded; penalty per finding by severity:
// critical 20, warning 5, info 0 (config.weights); quorum-lost costs config.weights.quorumLost (100:
// a cluster whose CDB cannot commit scores 0). So one node down in an otherwise healthy cluster
// scores 80, a pool at 90 % scores 95, a lost quorum scores 0.
import { objectKey } from '../cdb/schema.ts';
import type { CdbObject, NodeRole, ObjectKey, ServiceSubtype } from '../cdb/schema.ts';
import type { ObjectView } from '../cdb/meta.ts';
import type { LinkState } from '../../runtime/ports/peers.ts';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export type FindingCode =
  | 'node-down'
  | 'node-degraded'
  | 'node-cpu'
  | 'node-memory'
  | 'quorum-lost'
  | 'service-down'
  | 'service-missing'
  | 'pool-usage'
  | 'pool-degraded'
  | 'pool-down'
  | 'storage-unsupported'
  | 'share-failed'
  | 'device-failed'
  | 'network-down'
  | 'network-degraded'
  | 'network-unsupported'
  | 'system-down'
  | 'system-unplaced'
  | 'dangling-ref';

export interface Finding {
  /** "code:objectKey" — stable, used as the alarm id */
  id: string;
  code: FindingCode;
  severity: Severity;
  object: ObjectKey;
  reason: string;
  /** the measured value for threshold findings (percent) */
  value?: number;
  /** the threshold crossed */
  threshold?: number;
}

export interface Threshold {
  /** percent at or above which a warning is raised */
  warning: number;
  /** percent at or above which it is critical */
  critical: number;
}

export interface LinkGrace {
  /** A link closed from the other side this long makes its node unreachable. */
  closedAfterMs: number;
  /** A link silent (or never up) this long makes its node unreachable. */
  silentAfterMs: number;
}

export interface HealthConfig {
  thresholds: { poolUsage: Threshold; nodeCpu: Threshold; nodeMemory: Threshold };
  weights: { critical: number; warning: number; info: number; quorumLost: number };
  links: LinkGrace;
}

export const DEFAULT_HEALTH_CONFIG: HealthConfig = {
  thresholds: {
    poolUsage: { warning: 85, critical: 95 },
    nodeCpu: { warning: 90, critical: 98 },
    nodeMemory: { warning: 90, critical: 97 },
  },
  weights: { critical: 20, warning: 5, info: 0, quorumLost: 100 },
  // closed: a live peer's transport dials back within its backoff (≤ 250 ms) plus a handshake;
  // silent: on top of the transport's 1 s idle timeout, one more second for a stalled peer.
  links: { closedAfterMs: 300, silentAfterMs: 1000 },
};

export interface HealthInput {
  /** the persistent objects (CdbStore.list()) */
  objects: readonly CdbObject[];
  /** merged meta/stats per object key (MetaTable.view(key, now)); a missing key = never reported */
  views: ReadonlyMap<ObjectKey, ObjectView> | Readonly<Record<ObjectKey, ObjectView>>;
  /** The evaluating node's links to its peers, by node id (PeerPort.links()); absent: no link evidence. */
  links?: Readonly<Record<string, LinkState>>;
}

/** Why a node counts as down. */
export type NodeDownWhy = 'unreachable' | 'never-reported' | 'not-reporting' | 'down';

export interface NodeDown {
  node: string;
  why: NodeDownWhy;
}

export interface HealthReport {
  score: number;
  /** sorted: critical first, then by id */
  findings: Finding[];
  counts: Record<Severity, number>;
  /** `down`: the nodes counted down and why, sorted by node. */
  nodes: { total: number; up: number; down: NodeDown[] };
}

const ROLE_SERVICE: Partial<Record<NodeRole, ServiceSubtype>> = { compute: 'hypervisor', storage: 'storage', network: 'network', monitor: 'monitor', cdb: 'cdb' };
const RUNNING = new Set(['up', 'running']);
// 'ready': the Hypervisor's word for a system running as specified (reconciler conditions).
const SYSTEM_RUNNING = new Set(['up', 'running', 'loaded', 'ready']);
const DOWN = new Set(['down', 'failed', 'faulted']);

export function mergeHealthConfig(partial?: { thresholds?: Partial<HealthConfig['thresholds']>; weights?: Partial<HealthConfig['weights']>; links?: Partial<LinkGrace> }): HealthConfig {
  return {
    thresholds: { ...DEFAULT_HEALTH_CONFIG.thresholds, ...(partial?.thresholds ?? {}) },
    weights: { ...DEFAULT_HEALTH_CONFIG.weights, ...(partial?.weights ?? {}) },
    links: { ...DEFAULT_HEALTH_CONFIG.links, ...(partial?.links ?? {}) },
  };
}

/**
 * The worst of what the nodes of a network say about it (each node reports its own state), and
 * whether a node of it is down: failed/down on a node → network-down; unsupported → network-
 * unsupported; degraded on a node, or a member node down → network-degraded.
 */
export function networkFinding(subtype: string, id: string, v: ObjectView | undefined, downNodes: readonly string[]): { code: FindingCode; reason: string } | undefined {
  const said = (v?.nodes ?? []).filter((c) => !c.stale && c.meta !== undefined);
  const why = (c: (typeof said)[number]): string => `${c.node}${c.meta!.reason ? `: ${c.meta!.reason}` : ''}`;
  const failed = said.filter((c) => DOWN.has(c.meta!.state));
  if (failed.length) return { code: 'network-down', reason: `${subtype} ${id} is ${failed[0]!.meta!.state} on ${failed.map(why).join('; ')}` };
  const unsupported = said.filter((c) => c.meta!.state === 'unsupported');
  if (unsupported.length) return { code: 'network-unsupported', reason: `${subtype} ${id} is unsupported on ${unsupported.map(why).join('; ')}` };
  const degraded = said.filter((c) => c.meta!.state === 'degraded');
  if (downNodes.length) return { code: 'network-degraded', reason: `${subtype} ${id} is degraded: node${downNodes.length > 1 ? 's' : ''} ${downNodes.join(', ')} ${downNodes.length > 1 ? 'are' : 'is'} down` };
  if (degraded.length) return { code: 'network-degraded', reason: `${subtype} ${id} is degraded on ${degraded.map(why).join('; ')}` };
  return undefined;
}

/** ": <the reporting node's reason>" when its meta gives one. */
function because(v: ObjectView): string {
  return v.meta?.reason ? `: ${v.meta.reason}${v.metaFrom ? ` (${v.metaFrom})` : ''}` : '';
}

/** 'closed' / 'silent' when the link is evidence enough that the node is unreachable. */
export function unreachable(link: LinkState | undefined, grace: LinkGrace): 'closed' | 'silent' | undefined {
  if (link === undefined || link.up) return undefined;
  return link.forMs >= (link.cause === 'closed' ? grace.closedAfterMs : grace.silentAfterMs) ? link.cause : undefined;
}

function fmtPct(x: number): string {
  return `${Math.round(x * 10) / 10}%`;
}

export function evaluateHealth(input: HealthInput, config: HealthConfig = DEFAULT_HEALTH_CONFIG): HealthReport {
  const viewOf = (key: ObjectKey): ObjectView | undefined =>
    input.views instanceof Map ? input.views.get(key) : (input.views as Readonly<Record<ObjectKey, ObjectView>>)[key];
  const findings: Finding[] = [];
  const add = (code: FindingCode, severity: Severity, object: ObjectKey, reason: string, extra: { value?: number; threshold?: number } = {}) =>
    findings.push({ id: `${code}:${object}`, code, severity, object, reason, ...extra });

  const byKey = new Map<ObjectKey, CdbObject>();
  for (const o of input.objects) byKey.set(objectKey(o.type, o.id), o);
  const exists = (type: string, id: string) => byKey.has(objectKey(type, id));
  const sorted = [...byKey.keys()].sort().map((k) => byKey.get(k)!);

  // --- nodes
  const nodeUp = new Map<string, boolean>();
  const down: NodeDown[] = [];
  let cdbTotal = 0;
  let cdbUp = 0;
  const grace = config.links ?? DEFAULT_HEALTH_CONFIG.links;
  for (const o of sorted) {
    if (o.type !== 'node') continue;
    const key = objectKey('node', o.id);
    const v = viewOf(key);
    const cut = unreachable(input.links?.[o.id], grace);
    let up = false;
    const nodeDown = (why: NodeDownWhy, reason: string) => {
      add('node-down', 'critical', key, reason);
      down.push({ node: o.id, why });
    };
    if (cut === 'closed') nodeDown('unreachable', `node ${o.id} is unreachable (its connection closed)`);
    else if (cut === 'silent') nodeDown('unreachable', `node ${o.id} is unreachable (no heartbeat)`);
    else if (!v || v.lastSeen === undefined) nodeDown('never-reported', `node ${o.id} has never reported`);
    else if (v.stale) nodeDown('not-reporting', `node ${o.id} is not reporting (stale)`);
    else if (DOWN.has(v.state)) nodeDown('down', `node ${o.id} is ${v.state}`);
    else {
      up = true;
      if (v.state === 'degraded') add('node-degraded', 'warning', key, `node ${o.id} is degraded`);
      const cpu = v.stats.cpu;
      if (cpu !== undefined) threshold('node-cpu', key, `node ${o.id} cpu`, cpu, config.thresholds.nodeCpu);
      const used = v.stats.memUsedBytes;
      const total = v.stats.memTotalBytes;
      if (used !== undefined && total !== undefined && total > 0) threshold('node-memory', key, `node ${o.id} memory`, (100 * used) / total, config.thresholds.nodeMemory);
    }
    nodeUp.set(o.id, up);
    if (o.spec.roles.includes('cdb')) {
      cdbTotal++;
      if (up) cdbUp++;
    }
  }
  if (cdbTotal > 0 && cdbUp <= Math.floor(cdbTotal / 2)) {
    add('quorum-lost', 'critical', 'service/cdb', `only ${cdbUp} of ${cdbTotal} cdb nodes are up: no quorum`);
  }

  function threshold(code: FindingCode, key: ObjectKey, what: string, pct: number, t: Threshold): void {
    if (pct >= t.critical) add(code, 'critical', key, `${what} at ${fmtPct(pct)} (>= ${t.critical}%)`, { value: pct, threshold: t.critical });
    else if (pct >= t.warning) add(code, 'warning', key, `${what} at ${fmtPct(pct)} (>= ${t.warning}%)`, { value: pct, threshold: t.warning });
  }

  const missingRefs = new Map<ObjectKey, string[]>(); // one dangling-ref finding per object, listing every missing reference
  const dangling = (key: ObjectKey, field: string, type: string, id: string) => {
    if (exists(type, id)) return;
    const xs = missingRefs.get(key) ?? [];
    xs.push(`${field} → ${type}/${id}`);
    missingRefs.set(key, xs);
  };

  // --- services
  const servicesOn = new Map<string, Set<string>>(); // node → enabled service subtypes
  for (const o of sorted) {
    if (o.type !== 'service') continue;
    const key = objectKey('service', o.id);
    const node = o.spec.node;
    if (!exists('node', node)) {
      dangling(key, 'spec.node', 'node', node);
      continue;
    }
    if (o.spec.enabled === false) continue;
    let set = servicesOn.get(node);
    if (!set) servicesOn.set(node, (set = new Set()));
    set.add(o.subtype);
    if (!nodeUp.get(node)) continue; // node-down covers it
    const v = viewOf(key);
    const sev: Severity = o.subtype === 'monitor' || o.subtype === 'appswitch' ? 'warning' : 'critical';
    if (!v || v.lastSeen === undefined) add('service-down', sev, key, `${o.subtype} service ${o.id} on ${node} has never reported`);
    else if (v.stale) add('service-down', sev, key, `${o.subtype} service ${o.id} on ${node} is not reporting (stale)`);
    else if (v.state === 'starting') add('service-down', 'info', key, `${o.subtype} service ${o.id} on ${node} is starting`);
    else if (!RUNNING.has(v.state)) add('service-down', sev, key, `${o.subtype} service ${o.id} on ${node} is ${v.state}`);
  }
  for (const o of sorted) {
    if (o.type !== 'node') continue;
    const have = servicesOn.get(o.id) ?? new Set<string>();
    const missing = o.spec.roles.filter((r) => ROLE_SERVICE[r] !== undefined && !have.has(ROLE_SERVICE[r]!)).map((r) => `${ROLE_SERVICE[r]} (role ${r})`);
    if (missing.length) add('service-missing', 'warning', objectKey('node', o.id), `node ${o.id} has no enabled ${missing.join(', ')} service${missing.length > 1 ? 's' : ''}`);
  }

  // --- storage, network, systems
  for (const o of sorted) {
    const key = objectKey(o.type, o.id);
    const v = viewOf(key);
    const fresh = v && !v.stale ? v : undefined;
    if (o.type === 'storage' && o.subtype === 'device') {
      dangling(key, 'spec.node', 'node', o.spec.node);
      if (fresh && DOWN.has(fresh.state)) add('device-failed', 'warning', key, `device ${o.id} (${o.spec.path} on ${o.spec.node}) is ${fresh.state}${because(fresh)}`);
      else if (fresh?.state === 'unsupported') add('storage-unsupported', 'warning', key, `device ${o.id} is unsupported${because(fresh)}`);
    } else if (o.type === 'storage' && o.subtype === 'pool') {
      for (const d of o.spec.devices) dangling(key, 'spec.devices', 'storage', d);
      if (fresh && DOWN.has(fresh.state)) add('pool-down', 'critical', key, `pool ${o.id} is ${fresh.state}${because(fresh)}`);
      else if (fresh && fresh.state === 'degraded') add('pool-degraded', 'warning', key, `pool ${o.id} is degraded${because(fresh)}`);
      else if (fresh?.state === 'unsupported') add('storage-unsupported', 'warning', key, `pool ${o.id} is unsupported${because(fresh)}`);
      const used = fresh?.stats.usedBytes;
      const size = fresh?.stats.sizeBytes;
      if (used !== undefined && size !== undefined && size > 0) threshold('pool-usage', key, `pool ${o.id} usage`, (100 * used) / size, config.thresholds.poolUsage);
    } else if (o.type === 'storage' && o.subtype === 'share') {
      dangling(key, 'spec.pool', 'storage', o.spec.pool);
      if (fresh?.state === 'unsupported') add('storage-unsupported', 'warning', key, `share ${o.id} is unsupported${because(fresh)}`);
      else if (fresh && DOWN.has(fresh.state)) add('share-failed', 'warning', key, `share ${o.id} is ${fresh.state}${because(fresh)}`);
    } else if (o.type === 'network' && o.subtype === 'lease') {
      dangling(key, 'spec.network', 'network', o.spec.network);
      dangling(key, 'spec.node', 'node', o.spec.node);
    } else if (o.type === 'network') {
      const members = o.spec.nodes ?? [];
      for (const n of members) dangling(key, 'spec.nodes', 'node', n);
      const f = networkFinding(o.subtype, o.id, v, members.filter((n) => exists('node', n) && !nodeUp.get(n)));
      if (f) add(f.code, 'warning', key, f.reason);
    } else if (o.type === 'system') {
      if (o.spec.node !== undefined) dangling(key, 'spec.node', 'node', o.spec.node);
      for (const n of o.spec.networks ?? []) dangling(key, 'spec.networks', 'network', n);
      for (const d of o.spec.disks ?? []) dangling(key, 'spec.disks', 'storage', d.share);
      // Its node: the pin, or where the Monitor placed it.
      const at = o.spec.node ?? o.spec.placement?.node;
      if (o.spec.autostart === false || at === undefined || !exists('node', at)) continue;
      if (!nodeUp.get(at)) add('system-down', 'warning', key, `system ${o.id} is down: its node ${at} is down`);
      else if (!fresh) add('system-down', 'warning', key, `system ${o.id} on ${at} is not reporting`);
      else if (fresh.state === 'failed' || fresh.state === 'crashed') add('system-down', 'critical', key, `system ${o.id} on ${at} is ${fresh.state}`);
      else if (!SYSTEM_RUNNING.has(fresh.state)) add('system-down', 'warning', key, `system ${o.id} on ${at} is ${fresh.state}`);
    }
  }
  for (const [key, refs] of missingRefs) add('dangling-ref', 'warning', key, `${key} refers to missing objects: ${refs.join(', ')}`);

  const { score, counts } = scoreFindings(findings, config);
  let total = 0;
  let up = 0;
  for (const u of nodeUp.values()) {
    total++;
    if (u) up++;
  }
  return { score, findings, counts, nodes: { total, up, down } };
}

/** Sorts `findings` in place (critical first, then by id) and scores them. */
function scoreFindings(findings: Finding[], config: HealthConfig): { score: number; counts: Record<Severity, number> } {
  findings.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const counts: Record<Severity, number> = { info: 0, warning: 0, critical: 0 };
  let penalty = 0;
  for (const f of findings) {
    counts[f.severity]++;
    penalty += f.code === 'quorum-lost' ? config.weights.quorumLost : config.weights[f.severity];
  }
  return { score: Math.max(0, Math.min(100, Math.round(100 - penalty))), counts };
}

/** A system-unplaced finding per system placement found no node for, with its reason. */
export function unplacedFindings(unplaced: readonly { id: string; reason: string }[]): Finding[] {
  return unplaced.map((u) => {
    const object = objectKey('system', u.id);
    const reason = `system ${u.id} cannot be placed: ${u.reason}`;
    return { id: `system-unplaced:${object}`, code: 'system-unplaced', severity: 'warning', object, reason: reason.length > 1000 ? `${reason.slice(0, 999)}…` : reason };
  });
}

/** The report with `extra` findings added (re-sorted, re-scored). */
export function withFindings(report: HealthReport, extra: readonly Finding[], config: HealthConfig = DEFAULT_HEALTH_CONFIG): HealthReport {
  if (extra.length === 0) return report;
  const findings = [...report.findings, ...extra];
  const { score, counts } = scoreFindings(findings, config);
  return { ...report, score, findings, counts };
}
