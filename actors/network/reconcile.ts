// The Network service's reconciler: pure, (node, desired, observed, caps) → plan.
//
// What a node realises for each network object that lists it:
//
//   network/vlan-bridge  a Linux bridge named spec.bridge (MTU spec.mtu, default 1500) and, when the
//                        network spans other nodes too, a segment that carries the VLAN between them,
//                        chosen from this node's capabilities:
//                          802.1Q   <uplink>.<vlan> sub-interface of the node's uplink, where the
//                                   kernel has 802.1Q and the node has an uplink;
//                          VXLAN    <prefix>vx<vlan>, VNI = the VLAN id, over the node's underlay
//                                   (unicast: a static flood list holding the underlay address of
//                                   every other node of the network; MACs are learnt);
//                        otherwise `unsupported` with both reasons.
//   network/lease        (a workload attached here) a veth pair: <prefix>w<hash> enslaved to the
//                        network's bridge, its peer in the workload's namespace with the address.
//   network/trunk        a bond of spec.interfaces (the only interfaces not created here that the
//                        service changes: the object names them) with an 802.1Q sub-interface per VLAN;
//                        `unsupported` where the kernel has no bonding or no 802.1Q.
//   network/vpp-vlan     through VPP where VPP is installed; `unsupported` with the reason elsewhere.
//
// Ownership: the plan only ever changes links in `observed.links` (the driver's ownership record)
// and creates links whose names are free. A name taken by an interface the service did not create
// (`observed.foreign`) fails the object with that reason instead: it is never touched. Owned links
// that no desired object needs any more are removed (deleting an object removes its resources).
//
// Determinism: objects are visited in (createdRevision, key) order, so when two networks want the
// same bridge name or VLAN on a node the older one wins on every node and every pass.
import type { CdbObject, ObjectKey } from '../cdb/client.ts';
import type { LeaseSpec, TrunkSpec, VlanBridgeSpec, VppVlanSpec } from '../cdb/schema.ts';
import type { Action, Capabilities, Condition, Desired, Plan } from '../reconciler/contract.ts';

export const NETWORK_CAPABILITIES = ['bridge', 'veth', 'vlan8021q', 'vxlan', 'bonding', 'macvlan', 'tap', 'netns', 'vpp'] as const;
export type NetworkCapability = (typeof NETWORK_CAPABILITIES)[number];

export type LinkKind = 'bridge' | 'vxlan' | 'vlan' | 'veth' | 'bond';

/** A link the service owns (listed in its ownership record), as the kernel has it now. */
export interface OwnedLink {
  name: string;
  kind: LinkKind;
  /** The object it serves: network/<id> (bridges, segments, bonds) or network/<lease id> (veths). */
  key: ObjectKey;
  /** false: recorded (created, or about to be when the node stopped) but not in the kernel. */
  present: boolean;
  mtu?: number;
  up?: boolean;
  /** The bridge (or bond) it is enslaved to. */
  master?: string;
  /** vxlan: VNI, local address, underlay device; its flood list (remote VTEP addresses). */
  vni?: number;
  local?: string;
  dev?: string;
  fdb?: string[];
  /** vlan: the VLAN id and its parent link. */
  vlan?: number;
  parent?: string;
}

export interface NetObserved {
  /** Prefix of the names the service generates (segments, veths, bonds). */
  prefix: string;
  links: OwnedLink[];
  /** Interfaces present that the service did not create: never touched. */
  foreign: string[];
  /** The node's underlay for VXLAN segments (absent: none). */
  underlay?: { dev: string; address: string };
  /** The node's uplink for 802.1Q sub-interfaces (absent: none). */
  uplink?: string;
}

interface Base {
  readonly key: ObjectKey;
}
export type NetAction =
  | (Base & { kind: 'create-bridge'; name: string; mtu: number })
  | (Base & { kind: 'create-vxlan'; name: string; vni: number; local: string; dev: string; mtu: number; bridge: string })
  | (Base & { kind: 'create-vlan'; name: string; parent: string; vlan: number; mtu: number; bridge?: string })
  | (Base & { kind: 'create-veth'; name: string; bridge: string; mtu: number; netns: string; peer: string; address: string; network: ObjectKey })
  | (Base & { kind: 'create-bond'; name: string; members: string[]; mtu: number })
  | (Base & { kind: 'set-link'; name: string; mtu?: number; up?: true; master?: string })
  /** Add/remove remote VTEPs of a VXLAN segment's flood list (all of them in one command). */
  | (Base & { kind: 'fdb-add'; dev: string; dsts: string[] })
  | (Base & { kind: 'fdb-del'; dev: string; dsts: string[] })
  | (Base & { kind: 'delete-link'; name: string })
  /** Drop a record entry whose link is gone and no longer wanted (no kernel change). */
  | (Base & { kind: 'forget'; name: string })
  /** Several link changes of one object done together: one record write, one `ip -batch`, one `bridge -batch`. */
  | (Base & { kind: 'batch'; actions: NetAction[] });

// Satisfies the contract's Action.
export type _Check = NetAction extends Action ? true : never;

export const DEFAULT_MTU = 1500;
export const VXLAN_PORT = 4789;

/** 32-bit FNV-1a of a string, as 8 hex digits: short stable names for generated links. */
export function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function vxlanName(prefix: string, vlan: number): string {
  return `${prefix}vx${vlan}`;
}

export function vlanName(prefix: string, uplink: string, vlan: number): string {
  const n = `${uplink}.${vlan}`;
  return n.length <= 15 ? n : `${prefix}vl${vlan}`;
}

export function vethName(prefix: string, leaseId: string): string {
  return `${prefix}w${shortHash(leaseId)}`;
}

export function bondName(prefix: string, trunkId: string): string {
  return `${prefix}t${shortHash(trunkId).slice(0, 5)}`;
}

/** The VNI a VLAN's VXLAN segment uses (the VLAN id: 1-4094 fit a VNI's 24 bits). */
export function vniOf(vlan: number): number {
  return vlan;
}

// ---------------------------------------------------------------------------------------------
// Address pools

export function ipToInt(a: string): number {
  return a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A network's lease pool: spec.subnet, else 172.(16 + vlan/256).(vlan % 256).0/24. */
export function subnetOf(spec: Pick<VlanBridgeSpec, 'vlan' | 'subnet'>): { base: number; len: number; cidr: string } {
  const cidr = spec.subnet ?? `172.${16 + (spec.vlan >> 8)}.${spec.vlan & 255}.0/24`;
  const [a, l] = cidr.split('/') as [string, string];
  return { base: ipToInt(a), len: Number(l), cidr };
}

/** Host addresses of a pool, lowest first (network and broadcast addresses excluded). */
export function* poolAddresses(spec: Pick<VlanBridgeSpec, 'vlan' | 'subnet'>): Generator<string> {
  const { base, len } = subnetOf(spec);
  const size = 2 ** (32 - len);
  for (let i = 1; i < size - 1; i++) yield intToIp(base + i);
}

export function inSubnet(addr: string, spec: Pick<VlanBridgeSpec, 'vlan' | 'subnet'>): boolean {
  const { base, len } = subnetOf(spec);
  const n = ipToInt(addr);
  const size = 2 ** (32 - len);
  return n > base && n < base + size - 1;
}

/** A lease's object id: `<network>.<a-b-c-d>` (the key makes an address unique per network). */
export function leaseId(network: string, address: string): string {
  const ip = address.replaceAll('.', '-');
  const head = network.length + 1 + ip.length <= 63 ? network : `${network.slice(0, 63 - 1 - ip.length - 9)}-${shortHash(network)}`;
  return `${head}.${ip}`;
}

// ---------------------------------------------------------------------------------------------
// The reconciler

type Obj<S> = CdbObject & { spec: S };

function order(a: CdbObject, b: CdbObject): number {
  return a.createdRevision - b.createdRevision || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function capReason(caps: Capabilities, name: NetworkCapability): string | undefined {
  const c = caps[name];
  if (c === undefined) return `capability ${name} was not probed`;
  return c.ok ? undefined : c.reason;
}

interface Want {
  name: string;
  kind: LinkKind;
  key: ObjectKey;
}

export function reconcileNetwork(node: string, desired: Desired, observed: NetObserved, caps: Capabilities): Plan<NetAction> {
  const status = new Map<ObjectKey, Condition>();
  const creates: NetAction[] = [];
  const fixes: NetAction[] = [];
  const late: NetAction[] = []; // veths: after bridges exist
  const owned = new Map<string, OwnedLink>();
  for (const l of observed.links) owned.set(l.name, l);
  const foreign = new Set(observed.foreign);
  /** Names this pass keeps, by the key they serve. */
  const keep = new Map<string, Want>();
  const prefix = observed.prefix;

  const nodes = new Map<string, CdbObject>();
  const nets: Obj<VlanBridgeSpec>[] = [];
  const leases: Obj<LeaseSpec>[] = [];
  const trunks: Obj<TrunkSpec>[] = [];
  const vpps: Obj<VppVlanSpec>[] = [];
  for (const o of desired.values()) {
    if (o.type === 'node') nodes.set(o.id, o);
    else if (o.type !== 'network') continue;
    else if (o.subtype === 'vlan-bridge') nets.push(o as Obj<VlanBridgeSpec>);
    else if (o.subtype === 'lease') leases.push(o as Obj<LeaseSpec>);
    else if (o.subtype === 'trunk') trunks.push(o as Obj<TrunkSpec>);
    else if (o.subtype === 'vpp-vlan') vpps.push(o as Obj<VppVlanSpec>);
  }
  nets.sort(order);
  leases.sort(order);
  trunks.sort(order);
  vpps.sort(order);

  /**
   * Claim `name` for `key`: undefined when it can be had (free, or already ours for this key, or
   * ours for an object that lets go of it this pass), else why not.
   */
  const claim = (name: string, kind: LinkKind, key: ObjectKey): string | undefined => {
    const k = keep.get(name);
    if (k && k.key !== key) return `interface ${name} is already used by ${k.key}`;
    if (foreign.has(name)) return `interface ${name} exists and was not created by ACP: refusing to touch it`;
    keep.set(name, { name, kind, key });
    return undefined;
  };

  /** Plan a link into its wanted shape; returns what is still to do (for the condition). */
  const link = (w: Want, create: () => NetAction, shape: { mtu: number; master?: string; same?: (l: OwnedLink) => boolean }): string | undefined => {
    const l = owned.get(w.name);
    if (!l || !l.present || l.key !== w.key || l.kind !== w.kind || (shape.same && !shape.same(l))) {
      // Ours for this object but of the wrong shape: recreated. (Ours for another object: removed with what is gone.)
      if (l && l.present && l.key === w.key) fixes.push({ kind: 'delete-link', key: l.key, name: l.name });
      (w.kind === 'veth' ? late : creates).push(create());
      return `creating ${w.kind} ${w.name}`;
    }
    const fix: { mtu?: number; up?: true; master?: string } = {};
    if (l.mtu !== shape.mtu) fix.mtu = shape.mtu;
    if (shape.master !== undefined && l.master !== shape.master) fix.master = shape.master;
    if (l.up !== true) fix.up = true;
    if (Object.keys(fix).length === 0) return undefined;
    fixes.push({ kind: 'set-link', key: w.key, name: w.name, ...fix });
    return `setting ${Object.keys(fix).join(', ')} of ${w.name}`;
  };

  // ---- vlan-bridge networks
  const bridgeOf = new Map<string, { bridge: string; mtu: number; ready: boolean; why?: string; spec: VlanBridgeSpec }>();
  const vlanUsed = new Map<number, ObjectKey>();
  for (const o of nets) {
    const key = `network/${o.id}`;
    const s = o.spec;
    if (!s.nodes.includes(node)) continue;
    const mtu = s.mtu ?? DEFAULT_MTU;
    const fail = (state: Condition['state'], reason: string): void => {
      status.set(key, { state, reason });
      bridgeOf.set(o.id, { bridge: s.bridge, mtu, ready: false, why: reason, spec: s });
    };
    const br = capReason(caps, 'bridge');
    if (br) {
      fail('unsupported', `cannot create bridges: ${br}`);
      continue;
    }
    const other = vlanUsed.get(s.vlan);
    if (other) {
      fail('failed', `VLAN ${s.vlan} is already realised on ${node} by ${other}`);
      continue;
    }
    const peers = s.nodes.filter((n) => n !== node);
    let mode: 'local' | 'vlan' | 'vxlan' = 'local';
    let segment: string | undefined;
    if (peers.length > 0) {
      const q = capReason(caps, 'vlan8021q') ?? (observed.uplink ? undefined : 'this node has no uplink configured');
      const x = capReason(caps, 'vxlan') ?? (observed.underlay ? undefined : 'this node has no underlay configured');
      if (!q) {
        mode = 'vlan';
        segment = vlanName(prefix, observed.uplink!, s.vlan);
      } else if (!x) {
        mode = 'vxlan';
        segment = vxlanName(prefix, s.vlan);
      } else {
        fail('unsupported', `VLAN ${s.vlan} cannot reach ${peers.join(', ')}: no 802.1Q (${q}) and no VXLAN (${x})`);
        continue;
      }
    }
    const taken = claim(s.bridge, 'bridge', key) ?? (segment ? claim(segment, mode === 'vlan' ? 'vlan' : 'vxlan', key) : undefined);
    if (taken) {
      keep.forEach((w, n) => w.key === key && keep.delete(n));
      fail('failed', taken);
      continue;
    }
    vlanUsed.set(s.vlan, key);
    const todo: string[] = [];
    const add = (x: string | undefined): void => void (x && todo.push(x));
    add(link({ name: s.bridge, kind: 'bridge', key }, () => ({ kind: 'create-bridge', key, name: s.bridge, mtu }), { mtu }));
    const missing: string[] = [];
    const info: Record<string, string | number | boolean> = { mode, bridge: s.bridge, mtu };
    if (mode === 'vxlan') {
      const u = observed.underlay!;
      const vni = vniOf(s.vlan);
      const name = segment!;
      Object.assign(info, { segment: name, vni, underlay: u.address });
      const r = link(
        { name, kind: 'vxlan', key },
        () => ({ kind: 'create-vxlan', key, name, vni, local: u.address, dev: u.dev, mtu, bridge: s.bridge }),
        { mtu, master: s.bridge, same: (l) => l.vni === vni && l.local === u.address && l.dev === u.dev },
      );
      add(r);
      // The flood list: every other node of the network, by its underlay address.
      const want = new Set<string>();
      for (const p of peers) {
        const a = (nodes.get(p)?.spec as { dataAddress?: string } | undefined)?.dataAddress;
        if (a === undefined) missing.push(p);
        else if (a !== u.address) want.add(a);
      }
      const recreated = creates.some((x) => x.kind === 'create-vxlan' && x.name === name);
      const have = recreated ? new Set<string>() : new Set(owned.get(name)?.fdb ?? []);
      const adds = [...want].sort().filter((d) => !have.has(d));
      const dels = [...have].sort().filter((d) => !want.has(d));
      if (dels.length) fixes.push({ kind: 'fdb-del', key, dev: name, dsts: dels });
      // Right after the segment's creation when it is created now (one batch with it), else with the late work.
      if (adds.length) (recreated ? creates : late).push({ kind: 'fdb-add', key, dev: name, dsts: adds });
      if (adds.length || dels.length) todo.push(`updating the flood list of ${name}`);
      info.peers = want.size;
    } else if (mode === 'vlan') {
      const name = segment!;
      const up = observed.uplink!;
      Object.assign(info, { segment: name, uplink: up });
      add(
        link({ name, kind: 'vlan', key }, () => ({ kind: 'create-vlan', key, name, parent: up, vlan: s.vlan, mtu, bridge: s.bridge }), {
          mtu,
          master: s.bridge,
          same: (l) => l.vlan === s.vlan && l.parent === up,
        }),
      );
    }
    const bridgePresent = owned.get(s.bridge)?.present === true && owned.get(s.bridge)?.key === key;
    bridgeOf.set(o.id, { bridge: s.bridge, mtu, ready: bridgePresent, spec: s });
    if (todo.length) status.set(key, { state: 'pending', reason: todo.join('; '), info });
    else if (missing.length)
      status.set(key, { state: 'degraded', reason: `VLAN ${s.vlan} does not reach ${missing.join(', ')}: no data-plane address known (node object without spec.dataAddress)`, info });
    else status.set(key, { state: 'ready', info });
  }

  // ---- leases: workloads attached on this node
  for (const o of leases) {
    const s = o.spec;
    if (s.node !== node) continue;
    const key = `network/${o.id}`;
    const net = bridgeOf.get(s.network);
    if (!net) {
      status.set(key, { state: 'failed', reason: desired.has(`network/${s.network}`) ? `network/${s.network} is not on ${node}` : `network/${s.network} does not exist` });
      continue;
    }
    if (!inSubnet(s.address, net.spec)) {
      status.set(key, { state: 'failed', reason: `address ${s.address} is outside network/${s.network}'s pool ${subnetOf(net.spec).cidr}` });
      continue;
    }
    if (net.why !== undefined) {
      status.set(key, { state: 'failed', reason: `network/${s.network} is not realised on ${node}: ${net.why}` });
      continue;
    }
    const v = capReason(caps, 'veth') ?? capReason(caps, 'netns');
    if (v) {
      status.set(key, { state: 'unsupported', reason: `cannot attach workloads: ${v}` });
      continue;
    }
    const name = vethName(prefix, o.id);
    const taken = claim(name, 'veth', key);
    if (taken) {
      status.set(key, { state: 'failed', reason: taken });
      continue;
    }
    const info = { veth: name, bridge: net.bridge, netns: s.netns, address: s.address };
    if (!net.ready && owned.get(name)?.present !== true) {
      status.set(key, { state: 'pending', reason: `waiting for bridge ${net.bridge}`, info });
      continue;
    }
    const peer = s.ifname ?? 'eth0';
    const address = `${s.address}/${subnetOf(net.spec).len}`;
    const r = link({ name, kind: 'veth', key }, () => ({ kind: 'create-veth', key, name, bridge: net.bridge, mtu: net.mtu, netns: s.netns, peer, address, network: `network/${s.network}` }), { mtu: net.mtu, master: net.bridge });
    status.set(key, r ? { state: 'pending', reason: r, info } : { state: 'ready', info });
  }

  // ---- trunks: a bond of named interfaces, 802.1Q sub-interfaces per VLAN
  for (const o of trunks) {
    const s = o.spec;
    if (s.nodes !== undefined && !s.nodes.includes(node)) continue;
    const key = `network/${o.id}`;
    const b = capReason(caps, 'bonding');
    if (b) {
      status.set(key, { state: 'unsupported', reason: `no bonding on ${node}: ${b}` });
      continue;
    }
    const q = capReason(caps, 'vlan8021q');
    if (q) {
      status.set(key, { state: 'unsupported', reason: `no 802.1Q on ${node} for the trunk's VLANs: ${q}` });
      continue;
    }
    const absent = s.interfaces.filter((i) => !foreign.has(i));
    if (absent.length) {
      status.set(key, { state: 'failed', reason: `interface${absent.length > 1 ? 's' : ''} ${absent.join(', ')} not found on ${node}` });
      continue;
    }
    const bond = bondName(prefix, o.id);
    const taken = claim(bond, 'bond', key) ?? s.vlans.map((v) => claim(`${bond}.${v}`, 'vlan', key)).find((x) => x !== undefined);
    if (taken) {
      keep.forEach((w, n) => w.key === key && keep.delete(n));
      status.set(key, { state: 'failed', reason: taken });
      continue;
    }
    const todo: string[] = [];
    const members = [...s.interfaces];
    const r = link({ name: bond, kind: 'bond', key }, () => ({ kind: 'create-bond', key, name: bond, members, mtu: DEFAULT_MTU }), { mtu: DEFAULT_MTU });
    if (r) todo.push(r);
    for (const v of s.vlans) {
      const name = `${bond}.${v}`;
      const x = link({ name, kind: 'vlan', key }, () => ({ kind: 'create-vlan', key, name, parent: bond, vlan: v, mtu: DEFAULT_MTU }), { mtu: DEFAULT_MTU, same: (l) => l.vlan === v && l.parent === bond });
      if (x) todo.push(x);
    }
    const info = { bond, members: members.join(','), vlans: s.vlans.join(',') };
    status.set(key, todo.length ? { state: 'pending', reason: todo.join('; '), info } : { state: 'ready', info });
  }

  // ---- VPP VLAN devices
  for (const o of vpps) {
    if (!o.spec.nodes.includes(node)) continue;
    const v = capReason(caps, 'vpp');
    status.set(
      `network/${o.id}`,
      v
        ? { state: 'unsupported', reason: `VPP not installed on ${node}: ${v}` }
        : { state: 'unsupported', reason: `VPP is installed on ${node}, but its Network service cannot drive VPP yet (VLAN ${o.spec.vlan} on ${o.spec.interface})` },
    );
  }

  // ---- what no desired object needs any more: removed (segments and veths before bridges)
  const removals: NetAction[] = [];
  const rank: Record<LinkKind, number> = { veth: 0, vxlan: 1, vlan: 1, bond: 2, bridge: 3 };
  // By object (one batch each), within it segments and ports before their bridge.
  const gone = observed.links.filter((l) => keep.get(l.name)?.key !== l.key).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || rank[a.kind] - rank[b.kind] || (a.name < b.name ? -1 : 1));
  for (const l of gone) {
    removals.push(l.present ? { kind: 'delete-link', key: l.key, name: l.name } : { kind: 'forget', key: l.key, name: l.name });
    // An object this node no longer realises but that still exists: say so while its links go.
    if (l.present && desired.has(l.key) && !status.has(l.key)) status.set(l.key, { state: 'removing', reason: `removing ${l.kind} ${l.name}` });
  }
  // fixes may hold deletions of links recreated below: they run before the creations
  return { actions: [...removals, ...fixes, ...creates, ...late], status };
}

const BATCHABLE = new Set<NetAction['kind']>(['create-bridge', 'create-vxlan', 'create-vlan', 'set-link', 'delete-link', 'fdb-add', 'fdb-del']);

/**
 * Runs of consecutive actions of one object that the driver can do together (creating a bridge,
 * its segment and the segment's flood list; removing a network's links) become one `batch`
 * action: fewer processes and record writes on the way to ready. The order inside is kept.
 */
export function batchActions(actions: readonly NetAction[]): NetAction[] {
  const out: NetAction[] = [];
  let run: NetAction[] = [];
  const flush = (): void => {
    if (run.length === 1) out.push(run[0]!);
    else if (run.length > 1) out.push({ kind: 'batch', key: run[0]!.key, actions: run });
    run = [];
  };
  for (const a of actions) {
    if (!BATCHABLE.has(a.kind)) {
      flush();
      out.push(a);
      continue;
    }
    if (run.length && run[0]!.key !== a.key) flush();
    run.push(a);
  }
  flush();
  return out;
}

/** The reconciler the service runs: reconcileNetwork with its actions batched per object. */
export function reconcileNetworkBatched(node: string, desired: Desired, observed: NetObserved, caps: Capabilities): Plan<NetAction> {
  const p = reconcileNetwork(node, desired, observed, caps);
  return { actions: batchActions(p.actions), status: p.status };
}

/** An action in a few words ("create-vxlan acpvx10", "fdb-add acpvx10 10.77.0.2 10.77.0.3"). */
export function describeAction(a: NetAction): string {
  if (a.kind === 'batch') return `batch[${a.actions.map(describeAction).join(', ')}]`;
  if (a.kind === 'fdb-add' || a.kind === 'fdb-del') return `${a.kind} ${a.dev} ${a.dsts.join(' ')}`;
  return `${a.kind} ${a.name}`;
}
