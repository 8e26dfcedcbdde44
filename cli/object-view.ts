// What `acp get` and `acp describe` show of an object: its status — the
// state merged over the nodes that report on it, why, each node's own
// condition (state, reason, info, age of its last report) and the latest
// stats — and the tables and the description that print it. Pure: built from
// an object and its meta view (actors/cdb/meta.ts ObjectView) as the CDB
// answers them, so test/cli/get.test.ts renders fixtures.
//
// The merged state is the worst of the nodes' states (a network ready on two
// nodes and failed on the third is failed; NODES says where), by this order:
//   failed, down, unsupported, degraded, removing, unknown, pending (starting,
//   stopping), any other word, then the good ones (ready, up, running, loaded).
// A node counts when its report is fresh, or when the object names it (a
// network's `nodes`, a device's or a service's `node`): a named node that has
// not reported, or whose report went stale, is `unknown` there (for a node
// object itself: `down`). Nodes that report stats only do not vote.
import type { NodeContributionView, ObjectView } from '../actors/cdb/meta.ts';
import type { Meta, Stats } from '../actors/cdb/schema.ts';
import type { Kind } from './kinds.ts';
import { table } from './output.ts';

/** A stored object as the CDB returns it (spec untyped here: the CLI only shows it). */
export interface StoredObject {
  type: string;
  subtype?: string;
  id: string;
  spec: Record<string, unknown>;
  revision: number;
  createdRevision: number;
}

/** One node's condition for an object. */
export interface NodeCondition {
  node: string;
  state: string;
  reason?: string;
  info?: Record<string, string | number | boolean>;
  /** service@node that set the state */
  updatedBy?: string;
  /** ms since its last report, on the clock of the node that answered (absent: never reported) */
  age?: number;
  stale: boolean;
  /** the object names this node (it is expected to report) */
  expected: boolean;
  stats?: Stats;
}

export interface ObjectStatus {
  state: string;
  reason?: string;
  nodes: NodeCondition[];
  /** merged over the fresh reports (sums of counters, maxima of gauges: actors/cdb/meta.ts) */
  stats: Stats;
}

/** An object with its status: a row of `acp get`, the subject of `acp describe`. */
export interface Item {
  object: StoredObject;
  status: ObjectStatus;
}

const GOOD = new Set(['ready', 'up', 'running', 'loaded']);
const RANK: Record<string, number> = { failed: 0, down: 1, unsupported: 2, degraded: 3, removing: 4, unknown: 5, pending: 6, starting: 6, stopping: 6 };

/** Lower is worse. */
export function stateRank(state: string): number {
  if (GOOD.has(state)) return 9;
  return RANK[state] ?? 7;
}

export function isGood(state: string): boolean {
  return GOOD.has(state);
}

/** The nodes an object names: where it is expected to be realised (and reported on). */
export function expectedNodes(o: StoredObject): string[] {
  const spec = o.spec ?? {};
  if (o.type === 'node') return [o.id];
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
  if (o.type === 'network') return list(spec.nodes);
  if (o.type === 'service' || (o.type === 'storage' && o.subtype === 'device')) return list(spec.node);
  return [];
}

function conditionOf(c: NodeContributionView, expected: boolean): NodeCondition {
  const m: Meta | undefined = c.meta;
  const rest = { ...(m?.info ? { info: m.info } : {}), ...(m ? { updatedBy: `${m.updatedBy.service}@${m.updatedBy.node}` } : {}), age: c.age, stale: c.stale, expected, ...(c.stats ? { stats: c.stats } : {}) };
  if (c.stale) return { node: c.node, state: 'unknown', reason: `no report for ${fmtAge(c.age)}${m ? ` (last: ${m.state}${m.reason ? `, ${m.reason}` : ''})` : ''}`, ...rest };
  if (!m) return { node: c.node, state: 'unknown', reason: 'reports stats only', ...rest };
  return { node: c.node, state: m.state, ...(m.reason ? { reason: m.reason } : {}), ...rest };
}

/** The status of an object from its meta view (absent: the node answered nothing for it). */
export function statusOf(o: StoredObject, view: ObjectView | undefined): ObjectStatus {
  const isNode = o.type === 'node';
  const want = expectedNodes(o);
  const nodes: NodeCondition[] = (view?.nodes ?? []).map((c) => conditionOf(c, want.includes(c.node)));
  for (const n of want) if (!nodes.some((c) => c.node === n)) nodes.push({ node: n, state: 'unknown', reason: 'has not reported', stale: false, expected: true });
  nodes.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  if (isNode) for (const c of nodes) if (c.node === o.id && c.state === 'unknown') c.state = 'down';
  const voters = nodes.filter((c) => c.expected || (!c.stale && c.reason !== 'reports stats only'));
  const stats = view?.stats ?? {};
  if (voters.length === 0) {
    const seen = nodes.filter((c) => c.age !== undefined);
    if (seen.length === 0) return { state: isNode ? 'down' : 'unknown', reason: isNode ? 'has never reported' : 'no node has reported on it yet', nodes, stats };
    const last = Math.min(...seen.map((c) => c.age!));
    return { state: isNode ? 'down' : 'unknown', reason: `no fresh report (last ${fmtAge(last)} ago)`, nodes, stats };
  }
  const worst = Math.min(...voters.map((c) => stateRank(c.state)));
  const at = voters.filter((c) => stateRank(c.state) === worst);
  const state = at[0]!.state;
  if (isGood(state) && at.every((c) => !c.reason)) return { state, nodes, stats };
  return { state, ...(reasonOf(at, voters.length) ? { reason: reasonOf(at, voters.length) } : {}), nodes, stats };
}

/** The reason of the nodes in the merged state: "n2: why", or the reason alone when one node votes. */
function reasonOf(at: NodeCondition[], voters: number): string | undefined {
  const withReason = at.filter((c) => c.reason);
  if (withReason.length === 0) return undefined;
  if (voters === 1) return withReason[0]!.reason;
  const byReason = new Map<string, string[]>();
  for (const c of withReason) byReason.set(c.reason!, [...(byReason.get(c.reason!) ?? []), c.node]);
  return [...byReason].map(([r, ns]) => `${ns.join(', ')}: ${r}`).join('; ');
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** An age as kubectl shows one: 45s, 12m, 5h, 3d. */
export function fmtAge(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** Bytes in IEC units: 512B, 1.5KiB, 20GiB. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '');
  return `${n < 0 ? '-' : ''}${s}${units[u]}`;
}

function fmtNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return String(Math.round(n * 100) / 100);
}

/** A stat's value, by its name: *Bytes in IEC units, *PerSec as a rate, *Pct and cpu as a percentage. */
export function fmtStat(name: string, v: number): string {
  if (/Bytes(PerSec|Rate)$|Bps$/.test(name)) return `${fmtBytes(v)}/s`;
  if (/Bytes$/.test(name)) return fmtBytes(v);
  if (/(PerSec|Rate)$/.test(name)) return `${fmtNumber(v)}/s`;
  if (/(Pct|Percent)$/.test(name) || name === 'cpu') return `${fmtNumber(v)}%`;
  if (/Ms$/.test(name)) return `${fmtNumber(v)}ms`;
  return fmtNumber(v);
}

function fmtValue(v: unknown): string {
  if (v === undefined || v === null) return '-';
  if (Array.isArray(v)) return v.map(fmtValue).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** `k=v k=v`, for info and stats in one cell. */
function pairs(rec: Record<string, unknown> | undefined, fmt: (k: string, v: unknown) => string = (_k, v) => fmtValue(v)): string {
  if (!rec) return '';
  return Object.entries(rec)
    .map(([k, v]) => `${k}=${fmt(k, v)}`)
    .join(' ');
}

function clip(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

/** The nodes' states in one cell: `n1:ready n2:pending`, summed up beyond six nodes. */
export function nodesCell(nodes: readonly NodeCondition[]): string {
  if (nodes.length === 0) return '-';
  if (nodes.length <= 6) return nodes.map((c) => `${c.node}:${c.state}`).join(' ');
  const counts = new Map<string, number>();
  for (const c of nodes) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  return [...counts].sort((a, b) => stateRank(a[0]) - stateRank(b[0])).map(([s, n]) => `${n} ${s}`).join(', ');
}

/** Info of every node in one cell: `n1: mode=vxlan vni=100; n2: …` (capabilities left to `acp capabilities`). */
function infoCell(nodes: readonly NodeCondition[], one: boolean): string {
  const parts = nodes
    .map((c) => {
      const info = Object.fromEntries(Object.entries(c.info ?? {}).filter(([k]) => !k.startsWith('cap.')));
      const p = pairs(info);
      return p ? (one ? p : `${c.node}: ${p}`) : '';
    })
    .filter(Boolean);
  return parts.join('; ');
}

// ---------------------------------------------------------------------------------------------
// Tables

interface Column {
  head: string;
  /** only in -o wide */
  wide?: boolean;
  cell: (it: Item) => string;
  /** stat names shown in this column (kept out of the wide STATS column) */
  stats?: readonly string[];
}

const spec = (it: Item, k: string): unknown => it.object.spec?.[k];

/** A column of the first stat present among `names`. */
function statColumn(head: string, names: readonly string[], wide = false): Column {
  return {
    head,
    ...(wide ? { wide } : {}),
    stats: names,
    cell: (it) => {
      const n = names.find((x) => it.status.stats[x] !== undefined);
      return n === undefined ? '-' : fmtStat(n, it.status.stats[n]!);
    },
  };
}

const NAME: Column = { head: 'NAME', cell: (it) => it.object.id };
const SUBTYPE: Column = { head: 'SUBTYPE', cell: (it) => it.object.subtype ?? '' };
const STATE: Column = { head: 'STATE', cell: (it) => it.status.state };
const REASON_TEXT = 60;
const REASON: Column = { head: 'REASON', cell: (it) => it.status.reason ?? '' };
const NODES: Column = { head: 'NODES', cell: (it) => nodesCell(it.status.nodes) };
const NODES_WIDE: Column = { ...NODES, wide: true };
const NODE: Column = { head: 'NODE', cell: (it) => fmtValue(spec(it, 'node')) };
const LAST: Column = {
  head: 'LAST REPORT',
  wide: true,
  cell: (it) => {
    const ages = it.status.nodes.filter((c) => c.age !== undefined).map((c) => c.age!);
    return ages.length ? fmtAge(Math.min(...ages)) : '-';
  },
};
const INFO: Column = { head: 'INFO', wide: true, cell: (it) => infoCell(it.status.nodes, it.status.nodes.length <= 1) };

/** The columns of each kind (`wide` ones only in -o wide; a STATS column of the other stats ends every wide table). */
const COLUMNS: Record<string, Column[]> = {
  nodes: [
    NAME,
    STATE,
    REASON,
    { head: 'ADDRESS', cell: (it) => fmtValue(spec(it, 'address')) },
    { head: 'ROLES', cell: (it) => fmtValue(spec(it, 'roles')) },
    statColumn('CPU', ['cpu']),
    statColumn('MEM', ['memUsedPct']),
    statColumn('LOAD', ['load1']),
    statColumn('RSS', ['rssBytes'], true),
    {
      head: 'CAPABILITIES',
      wide: true,
      cell: (it) => {
        const caps = capabilitiesOf(it.status.nodes.find((c) => c.node === it.object.id)?.info);
        return caps.length === 0 ? '-' : `${caps.filter((c) => c.available).length}/${caps.length}`;
      },
    },
    LAST,
    INFO,
  ],
  networks: [
    NAME,
    SUBTYPE,
    STATE,
    REASON,
    { head: 'VLAN', cell: (it) => fmtValue(spec(it, 'vlan') ?? spec(it, 'vlans')) },
    NODES,
    statColumn('RX', ['rxBytes']),
    statColumn('TX', ['txBytes']),
    { head: 'BRIDGE', wide: true, cell: (it) => fmtValue(spec(it, 'bridge') ?? spec(it, 'interfaces')) },
    { head: 'MTU', wide: true, cell: (it) => fmtValue(spec(it, 'mtu')) },
    statColumn('RX/S', ['rxBytesPerSec', 'rxBytesRate'], true),
    statColumn('TX/S', ['txBytesPerSec', 'txBytesRate'], true),
    LAST,
    INFO,
  ],
  devices: [
    NAME,
    STATE,
    REASON,
    NODE,
    { head: 'PATH', cell: (it) => fmtValue(spec(it, 'path')) },
    { head: 'SIZE', cell: (it) => (typeof spec(it, 'sizeBytes') === 'number' ? fmtBytes(spec(it, 'sizeBytes') as number) : '-') },
    statColumn('READ', ['readBytes']),
    statColumn('WRITE', ['writeBytes']),
    statColumn('UTIL', ['utilPct', 'utilizationPct', 'util']),
    LAST,
    INFO,
  ],
  pools: [
    NAME,
    STATE,
    REASON,
    { head: 'REDUNDANCY', cell: (it) => fmtValue(spec(it, 'redundancy')) },
    { head: 'DEVICES', cell: (it) => fmtValue(spec(it, 'devices')) },
    statColumn('SIZE', ['sizeBytes', 'totalBytes']),
    statColumn('USED', ['usedBytes']),
    statColumn('FREE', ['freeBytes', 'availBytes']),
    NODES_WIDE,
    LAST,
    INFO,
  ],
  shares: [
    NAME,
    STATE,
    REASON,
    { head: 'POOL', cell: (it) => fmtValue(spec(it, 'pool')) },
    { head: 'PROTOCOL', cell: (it) => fmtValue(spec(it, 'protocol')) },
    { head: 'PATH', cell: (it) => fmtValue(spec(it, 'path')) },
    { head: 'QUOTA', cell: (it) => (typeof spec(it, 'quotaBytes') === 'number' ? fmtBytes(spec(it, 'quotaBytes') as number) : '-') },
    statColumn('USED', ['usedBytes']),
    NODES_WIDE,
    LAST,
    INFO,
  ],
  systems: [
    NAME,
    STATE,
    REASON,
    // The pinned node, or where the Monitor placed it (`acp get systems -o wide` says why).
    { head: 'NODE', cell: (it) => fmtValue(spec(it, 'node') ?? (spec(it, 'placement') as { node?: string } | undefined)?.node) },
    {
      head: 'PLACEMENT',
      wide: true,
      cell: (it) => {
        if (spec(it, 'node') !== undefined) return 'pinned';
        const p = spec(it, 'placement') as { term?: number; reason?: string } | undefined;
        return p === undefined ? 'unplaced' : `term ${p.term}: ${p.reason ?? ''}`;
      },
    },
    { head: 'VCPUS', cell: (it) => fmtValue(spec(it, 'vcpus')) },
    { head: 'MEMORY', cell: (it) => (typeof spec(it, 'memoryMb') === 'number' ? fmtBytes((spec(it, 'memoryMb') as number) * 1024 * 1024) : '-') },
    statColumn('CPU', ['cpu']),
    { head: 'NETWORKS', wide: true, cell: (it) => fmtValue(spec(it, 'networks')) },
    NODES_WIDE,
    LAST,
    INFO,
  ],
  services: [NAME, SUBTYPE, STATE, REASON, NODE, { head: 'ENABLED', cell: (it) => (spec(it, 'enabled') === false ? 'no' : 'yes') }, LAST, INFO],
};

function columnsOf(kind: Kind, wide: boolean): Column[] {
  const cols = (COLUMNS[kind.plural] ?? [NAME, STATE, REASON, NODES]).filter((c) => wide || !c.wide);
  if (!wide) return cols.map((c) => (c === REASON ? { ...c, cell: (it: Item) => clip(c.cell(it), REASON_TEXT) } : c));
  const shown = new Set(cols.flatMap((c) => c.stats ?? []));
  return [...cols, { head: 'STATS', cell: (it) => pairs(Object.fromEntries(Object.entries(it.status.stats).filter(([k]) => !shown.has(k))), (k, v) => fmtStat(k, v as number)) }];
}

/** The head and the cells of each item, as `acp get` prints them. */
export function tableRows(kind: Kind, items: readonly Item[], wide: boolean): { head: string[]; rows: string[][] } {
  const cols = columnsOf(kind, wide);
  // An empty cell is "-", except where empty says it all (no reason, no info, no other stats).
  const blank = new Set(['REASON', 'INFO', 'STATS', 'SUBTYPE']);
  return { head: cols.map((c) => c.head), rows: items.map((it) => cols.map((c) => c.cell(it) || (blank.has(c.head) ? '' : '-'))) };
}

/** `acp get KIND` as text: the table, or a line saying there is nothing. */
export function renderTable(kind: Kind, items: readonly Item[], wide: boolean): string {
  if (items.length === 0) return `no ${kind.plural}`;
  const { head, rows } = tableRows(kind, items, wide);
  return table(head, rows);
}

/**
 * What makes a row worth printing again under --watch: the object, its state, reason and each
 * node's condition — not its stats or ages, which change with every report.
 */
export function watchSignature(it: Item | undefined): string {
  if (!it) return '';
  const o = it.object;
  return JSON.stringify([o.revision, it.status.state, it.status.reason ?? '', it.status.nodes.map((c) => [c.node, c.state, c.reason ?? '', c.info ?? null])]);
}

/** An item as -o json/yaml prints it: the object, and its status beside it. */
export function itemValue(it: Item): Record<string, unknown> {
  return { ...it.object, status: it.status };
}

// ---------------------------------------------------------------------------------------------
// Capabilities (a node's meta info: `cap.<name>` = true, or the reason it is missing)

export interface Capability {
  name: string;
  available: boolean;
  /** why not, or a detail (a number, a version) */
  detail?: string;
}

export function capabilitiesOf(info: Record<string, string | number | boolean> | undefined): Capability[] {
  const out: Capability[] = [];
  for (const [k, v] of Object.entries(info ?? {})) {
    if (!k.startsWith('cap.')) continue;
    const name = k.slice(4);
    if (v === true) out.push({ name, available: true });
    else if (v === false) out.push({ name, available: false });
    else if (typeof v === 'number') out.push({ name, available: true, detail: String(v) });
    else out.push({ name, available: false, detail: v });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface NodeCapabilities {
  node: string;
  state: string;
  /** ms since the node's last report */
  age?: number;
  stale: boolean;
  capabilities: Capability[];
  /** the rest of the node's info */
  info: Record<string, string | number | boolean>;
}

/** A node's capabilities from its own report on node/<name>. */
export function nodeCapabilities(it: Item): NodeCapabilities {
  const own = it.status.nodes.find((c) => c.node === it.object.id);
  const info = own?.info ?? {};
  return {
    node: it.object.id,
    state: it.status.state,
    ...(own?.age !== undefined ? { age: own.age } : {}),
    stale: own?.stale ?? true,
    capabilities: capabilitiesOf(info),
    info: Object.fromEntries(Object.entries(info).filter(([k]) => !k.startsWith('cap.'))),
  };
}

export function renderCapabilities(list: readonly NodeCapabilities[], wide: boolean): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const n of list) {
    if (n.capabilities.length === 0) {
      notes.push(`${n.node}: no capabilities reported yet${n.age === undefined ? ' (the node has not reported)' : ''}`);
      continue;
    }
    const when = n.stale ? ` (stale: last report ${fmtAge(n.age)} ago)` : '';
    for (const c of n.capabilities) {
      const row = [n.node, c.name, c.available ? 'yes' : 'no', (c.detail ?? '') + when];
      rows.push(row);
    }
    if (wide && Object.keys(n.info).length > 0) notes.push(`${n.node}: ${pairs(n.info)}`);
  }
  const out: string[] = [];
  if (rows.length > 0) out.push(table(['NODE', 'CAPABILITY', 'AVAILABLE', 'REASON'], rows));
  if (notes.length > 0) out.push((rows.length > 0 ? '\n' : '') + notes.join('\n'));
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// describe

/** One write of the object, from the CDB's change history. */
export interface HistoryEntry {
  revision: number;
  op: 'created' | 'updated' | 'deleted';
  /** the spec fields that changed (updated) */
  fields?: string[];
}

/** Changes (as the CDB's watch returns them) → history entries, with the spec fields each update changed. */
export function historyOf(changes: readonly { revision: number; op: string; created?: boolean; object?: { spec?: unknown } }[]): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let prev: unknown;
  for (const c of changes) {
    if (c.op === 'delete') {
      out.push({ revision: c.revision, op: 'deleted' });
      prev = undefined;
      continue;
    }
    const spec = c.object?.spec;
    if (c.created || prev === undefined) out.push({ revision: c.revision, op: c.created ? 'created' : 'updated' });
    else out.push({ revision: c.revision, op: 'updated', fields: diffPaths(prev, spec, 'spec') });
    prev = spec;
  }
  return out;
}

/** The paths at which a and b differ (leaves; arrays compared whole). */
export function diffPaths(a: unknown, b: unknown, path: string): string[] {
  if (sameValue(a, b)) return [];
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffPaths(a[k], b[k], `${path}.${k}`));
  }
  return [path];
}

/** Deep equality of JSON values, whatever the order of object keys. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameValue(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A JSON value as indented `key: value` lines (arrays of scalars inline). */
export function indented(v: unknown, depth = 1): string[] {
  const pad = '  '.repeat(depth);
  if (v === null || typeof v !== 'object') return [`${pad}${fmtValue(v)}`];
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return [`${pad}[${v.map(fmtValue).join(', ')}]`];
    return v.flatMap((x) => {
      const inner = indented(x, depth + 1);
      return [`${pad}- ${inner[0]!.trimStart()}`, ...inner.slice(1)];
    });
  }
  const entries = Object.entries(v as Record<string, unknown>);
  const w = Math.max(0, ...entries.map(([k]) => k.length)) + 1;
  return entries.flatMap(([k, x]) => {
    if (x !== null && typeof x === 'object' && !(Array.isArray(x) && x.every((y) => y === null || typeof y !== 'object'))) return [`${pad}${k}:`, ...indented(x, depth + 1)];
    const val = Array.isArray(x) ? `[${x.map(fmtValue).join(', ')}]` : fmtValue(x);
    return [`${pad}${`${k}:`.padEnd(w + 1)}${val}`];
  });
}

function section(title: string, lines: string[]): string[] {
  return [`${title}:`, ...(lines.length > 0 ? lines : ['  <none>'])];
}

function indent(text: string): string[] {
  return text.split('\n').map((l) => `  ${l}`);
}

export interface Description {
  item: Item;
  history: HistoryEntry[];
  /** older history is gone (compacted) */
  historyTruncated?: boolean;
}

/** `acp describe TYPE/ID` as text: everything about one object. */
export function renderDescription(d: Description): string {
  const { object: o, status: s } = d.item;
  const label = o.subtype ? `${o.type}/${o.subtype}` : o.type;
  const lines: string[] = [
    `Name:       ${o.id}`,
    `Object:     ${o.type}/${o.id}`,
    `Type:       ${label}`,
    `State:      ${s.state}${s.nodes.length > 1 ? ` (worst of ${s.nodes.length} nodes)` : ''}`,
    ...(s.reason ? [`Reason:     ${s.reason}`] : []),
    `Revision:   ${o.revision} (created at revision ${o.createdRevision})`,
  ];
  lines.push(...section('Spec', indented(o.spec ?? {})));
  const condRows = s.nodes.map((c) => [c.node, c.state, c.reason ?? '', c.age === undefined ? 'never' : `${fmtAge(c.age)} ago${c.stale ? ' (stale)' : ''}`, c.updatedBy ?? '', c.expected ? 'yes' : 'no']);
  lines.push(...section('Conditions', condRows.length ? indent(table(['NODE', 'STATE', 'REASON', 'LAST REPORT', 'BY', 'EXPECTED'], condRows)) : []));
  const infoRows = s.nodes.flatMap((c) => Object.entries(c.info ?? {}).map(([k, v]) => [c.node, k, fmtValue(v)]));
  if (infoRows.length > 0) lines.push(...section('Info', indent(table(['NODE', 'KEY', 'VALUE'], infoRows))));
  const reporters = s.nodes.filter((c) => c.stats && Object.keys(c.stats).length > 0);
  const names = [...new Set([...Object.keys(s.stats), ...reporters.flatMap((c) => Object.keys(c.stats!))])].sort();
  if (names.length > 0) {
    const perNode = reporters.length > 1 || reporters.some((c) => c.stale);
    const head = ['STAT', 'MERGED', ...(perNode ? reporters.map((c) => (c.stale ? `${c.node} (stale)` : c.node)) : [])];
    const rows = names.map((n) => [n, s.stats[n] === undefined ? '-' : fmtStat(n, s.stats[n]!), ...(perNode ? reporters.map((c) => (c.stats![n] === undefined ? '-' : fmtStat(n, c.stats![n]!))) : [])]);
    lines.push(...section('Stats', indent(table(head, rows))));
  } else lines.push(...section('Stats', []));
  const hist = d.history.slice(-10);
  const histRows = hist.map((h) => [String(h.revision), h.op + (h.fields && h.fields.length ? `: ${h.fields.join(', ')}` : '')]);
  const older = d.history.length > hist.length || d.historyTruncated ? ['  (older changes are no longer kept)'] : [];
  lines.push(...section('History', histRows.length ? [...indent(table(['REVISION', 'CHANGE'], histRows)), ...older] : older));
  return lines.join('\n');
}
