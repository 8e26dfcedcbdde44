// The Network driver's simulated twin, used by `acp sim` and the tests. A
// SimNetMachine is one simulated machine's networking: its kernel's links and
// the service's ownership record (kept on the machine's disk). Both outlive
// the node process, so a node restarted on the same machine adopts what its
// previous life created, exactly as on Linux. The driver follows the Linux
// driver's rules (the record is written before a link is created, only owned
// links are ever changed, the kernel's refusals are errors) and can be told
// to fail: an action that fails, a link that vanishes behind its back.
import type { ObjectKey, Stats } from '../cdb/client.ts';
import { DriverError, type Capabilities, type Driver } from '../reconciler/contract.ts';
import { NETWORK_CAPABILITIES, type LinkKind, type NetAction, type NetObserved, type NetworkCapability, type OwnedLink } from './reconcile.ts';
import { StatsKeeper, type Counters, type StatLink } from './stats.ts';

export interface SimLink {
  name: string;
  /** 'ether' for a link the service did not create (an uplink, an underlay port). */
  kind: LinkKind | 'ether';
  mtu: number;
  up: boolean;
  master?: string;
  vni?: number;
  local?: string;
  dev?: string;
  vlan?: number;
  parent?: string;
  fdb: Set<string>;
  netns?: string;
  peer?: string;
  address?: string;
  members?: string[];
  counters: Counters;
}

const zero = (): Counters => ({ rxBytes: 0, rxPackets: 0, rxErrors: 0, rxDrops: 0, txBytes: 0, txPackets: 0, txErrors: 0, txDrops: 0 });

/** This kernel's capabilities (no 802.1Q, no bonding, no VPP), the default of a simulated machine. */
export const SIM_DEFAULT_CAPS: Capabilities = {
  bridge: { ok: true },
  veth: { ok: true },
  vxlan: { ok: true },
  netns: { ok: true },
  macvlan: { ok: true },
  tap: { ok: true },
  vlan8021q: { ok: false, reason: 'the kernel has no 802.1Q support (ip link add type vlan: Unknown device type)' },
  bonding: { ok: false, reason: 'the kernel has no bonding support (ip link add type bond: Unknown device type)' },
  vpp: { ok: false, reason: 'VPP is not installed (no vppctl, no /run/vpp/cli.sock)' },
};

export class SimNetMachine {
  readonly links = new Map<string, SimLink>();
  /** The ownership record: name → what it is and the object it serves (on the machine's disk). */
  readonly record = new Map<string, { kind: LinkKind; key: ObjectKey; network?: ObjectKey }>();
  /** Workload network namespaces that exist. */
  readonly namespaces = new Set<string>();
  readonly faults: { kind: string; remaining: number; reason: string }[] = [];
  /** Links created and deleted over the machine's life, and injected failures that fired. */
  created = 0;
  deleted = 0;
  failuresFired = 0;
  vanished = 0;
  crashes = 0;
  /** Crash the node in the middle of its next action (of `kind`, if given): after the record, before the kernel. */
  crashIn: { kind?: string; fire: (what: string) => void } | undefined;

  constructor(o: { foreign?: string[] } = {}) {
    for (const name of o.foreign ?? []) this.addForeign(name);
  }

  addForeign(name: string): void {
    this.links.set(name, { name, kind: 'ether', mtu: 9000, up: true, fdb: new Set(), counters: zero() });
  }

  /** The next `count` actions of `kind` ('*': any) fail with `reason`. */
  failNext(kind: string, count = 1, reason = 'injected driver failure'): void {
    this.faults.push({ kind, remaining: count, reason });
  }

  /** A link disappears from the kernel behind the service's back (its record stays). */
  vanish(name: string): boolean {
    const l = this.links.get(name);
    if (!l) return false;
    this.#remove(name);
    this.vanished++;
    return true;
  }

  /** Owned links by kind, e.g. to check that a restart created no duplicates. */
  owned(): { name: string; kind: LinkKind; key: ObjectKey; present: boolean }[] {
    return [...this.record].map(([name, r]) => ({ name, kind: r.kind, key: r.key, present: this.links.has(name) })).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Some traffic through a link (for stats). */
  traffic(name: string, rxBytes: number, txBytes: number): void {
    const c = this.links.get(name)?.counters;
    if (!c) return;
    c.rxBytes += rxBytes;
    c.txBytes += txBytes;
    c.rxPackets += Math.ceil(rxBytes / 1500);
    c.txPackets += Math.ceil(txBytes / 1500);
  }

  /** Whether the node dies now, in the middle of an action of `kind` (the crash itself is `fire`'s business). */
  crashNow(kind: string, what: string): boolean {
    const c = this.crashIn;
    if (!c || (c.kind !== undefined && c.kind !== kind)) return false;
    this.crashIn = undefined;
    this.crashes++;
    c.fire(what);
    return true;
  }

  /** The heal of a run's converge phase: injected failures and pending crashes dropped (vanished links stay gone: the service puts them back). */
  heal(): void {
    this.faults.length = 0;
    this.crashIn = undefined;
  }

  takeFault(kind: string): string | undefined {
    const f = this.faults.find((x) => x.remaining > 0 && (x.kind === kind || x.kind === '*'));
    if (!f) return undefined;
    f.remaining--;
    this.failuresFired++;
    return f.reason;
  }

  #remove(name: string): void {
    const l = this.links.get(name);
    if (!l) return;
    this.links.delete(name);
    // Deleting a bridge or bond releases its ports; deleting a link removes its VLANs.
    for (const x of this.links.values()) {
      if (x.master === name) x.master = undefined;
    }
    for (const x of [...this.links.values()]) if (x.parent === name) this.links.delete(x.name);
  }

  kernelDelete(name: string): void {
    this.#remove(name);
  }
}

export interface SimNetOptions {
  machine: SimNetMachine;
  prefix?: string;
  underlay?: { dev: string; address: string };
  uplink?: string;
  caps?: Capabilities;
  /** Virtual time an action takes (so that a crash can land in the middle of a pass). */
  actionMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** A clock for rates (virtual ms). */
  now?: () => number;
}

const CRASHED = new Error('the simulated node crashed in the middle of an action');

export class SimNetDriver implements Driver<NetObserved, NetAction> {
  readonly #o: SimNetOptions;
  readonly #m: SimNetMachine;
  readonly #prefix: string;
  readonly #stats = new StatsKeeper();

  constructor(o: SimNetOptions) {
    this.#o = o;
    this.#m = o.machine;
    this.#prefix = o.prefix ?? 'acp';
  }

  async capabilities(): Promise<Capabilities> {
    const caps = this.#o.caps ?? SIM_DEFAULT_CAPS;
    for (const c of NETWORK_CAPABILITIES) if (!caps[c]) throw new Error(`simulated capabilities lack ${c}`);
    return caps;
  }

  async observe(): Promise<NetObserved> {
    const m = this.#m;
    const links: OwnedLink[] = [];
    for (const [name, r] of m.record) {
      const l = m.links.get(name);
      if (!l || l.kind === 'ether') {
        links.push({ name, kind: r.kind, key: r.key, present: false });
        continue;
      }
      links.push({
        name,
        kind: r.kind,
        key: r.key,
        present: true,
        mtu: l.mtu,
        up: l.up,
        ...(l.master !== undefined ? { master: l.master } : {}),
        ...(l.vni !== undefined ? { vni: l.vni, local: l.local!, dev: l.dev!, fdb: [...l.fdb].sort() } : {}),
        ...(l.vlan !== undefined ? { vlan: l.vlan, parent: l.parent! } : {}),
      });
    }
    const foreign = [...m.links.keys()].filter((n) => !m.record.has(n)).sort();
    return {
      prefix: this.#prefix,
      links,
      foreign,
      ...(this.#o.underlay ? { underlay: this.#o.underlay } : {}),
      ...(this.#o.uplink ? { uplink: this.#o.uplink } : {}),
    };
  }

  async apply(a: NetAction): Promise<void> {
    if (this.#o.sleep && this.#o.actionMs) await this.#o.sleep(this.#o.actionMs);
    try {
      this.#apply(a);
    } catch (e) {
      // The node died in the middle of the action: nothing of it ever answers.
      if (e === CRASHED) return new Promise<void>(() => {});
      throw e;
    }
  }

  #apply(a: NetAction): void {
    const m = this.#m;
    if (!a.kind.startsWith('create-') && a.kind !== 'batch' && m.crashNow(a.kind, a.kind)) throw CRASHED;
    const injected = m.takeFault(a.kind);
    if (injected !== undefined) throw new DriverError(injected);
    const ours = (name: string): SimLink => {
      if (!m.record.has(name)) throw new DriverError(`refusing to change ${name}: not created by this service`, true);
      const l = m.links.get(name);
      if (!l) throw new DriverError(`Cannot find device "${name}"`);
      return l;
    };
    const create = (l: Omit<SimLink, 'fdb' | 'counters' | 'up'>, master?: string): void => {
      if (m.links.has(l.name)) throw new DriverError(`RTNETLINK answers: File exists (${l.name})`);
      if (l.name.length > 15) throw new DriverError(`"${l.name}" is not a valid interface name`, true);
      if (master !== undefined && m.links.get(master)?.kind !== 'bridge') throw new DriverError(`Cannot find device "${master}"`);
      // Write-ahead: the record first, so a crash after the kernel call cannot leave an unowned link.
      m.record.set(l.name, { kind: l.kind as LinkKind, key: a.key, ...(a.kind === 'create-veth' ? { network: a.network } : {}) });
      if (m.crashNow(a.kind, `${a.kind} ${l.name}, recorded, before the kernel made it`)) throw CRASHED;
      m.links.set(l.name, { ...l, fdb: new Set(), counters: zero(), up: true, ...(master !== undefined ? { master } : {}) });
      m.created++;
    };
    switch (a.kind) {
      case 'batch':
        for (const x of a.actions) this.#apply(x);
        return;
      case 'create-bridge':
        return create({ name: a.name, kind: 'bridge', mtu: a.mtu });
      case 'create-vxlan':
        if (!m.links.has(a.dev)) throw new DriverError(`Cannot find device "${a.dev}"`);
        return create({ name: a.name, kind: 'vxlan', mtu: a.mtu, vni: a.vni, local: a.local, dev: a.dev }, a.bridge);
      case 'create-vlan':
        if (!m.links.has(a.parent)) throw new DriverError(`Cannot find device "${a.parent}"`);
        return create({ name: a.name, kind: 'vlan', mtu: a.mtu, vlan: a.vlan, parent: a.parent }, a.bridge);
      case 'create-bond':
        return create({ name: a.name, kind: 'bond', mtu: a.mtu, members: a.members });
      case 'create-veth':
        if (!m.namespaces.has(a.netns)) throw new DriverError(`network namespace ${a.netns} does not exist`);
        return create({ name: a.name, kind: 'veth', mtu: a.mtu, netns: a.netns, peer: a.peer, address: a.address }, a.bridge);
      case 'set-link': {
        const l = ours(a.name);
        if (a.master !== undefined) {
          if (m.links.get(a.master)?.kind !== 'bridge') throw new DriverError(`Cannot find device "${a.master}"`);
          l.master = a.master;
        }
        if (a.mtu !== undefined) l.mtu = a.mtu;
        if (a.up) l.up = true;
        return;
      }
      case 'fdb-add':
        for (const d of a.dsts) ours(a.dev).fdb.add(d);
        return;
      case 'fdb-del':
        for (const d of a.dsts) ours(a.dev).fdb.delete(d);
        return;
      case 'delete-link':
        ours(a.name);
        m.kernelDelete(a.name);
        m.record.delete(a.name);
        m.deleted++;
        return;
      case 'forget':
        if (m.links.has(a.name) && m.record.has(a.name)) throw new DriverError(`refusing to forget ${a.name}: it exists`);
        m.record.delete(a.name);
        return;
    }
  }

  async stats(): Promise<Map<ObjectKey, Stats>> {
    const m = this.#m;
    const links: StatLink[] = [];
    for (const [name, r] of m.record) links.push({ name, kind: r.kind, key: r.key, ...(r.network ? { network: r.network } : {}) });
    const counters = new Map<string, Counters>();
    for (const [name, l] of m.links) counters.set(name, l.counters);
    return this.#stats.sample(links, counters, this.#o.now?.() ?? 0);
  }
}

/** Capabilities as this kernel's, with some overridden (tests): name → true or the reason it is missing. */
export function simCaps(over: Partial<Record<NetworkCapability, true | string>> = {}): Capabilities {
  const c: Capabilities = { ...SIM_DEFAULT_CAPS };
  for (const [k, v] of Object.entries(over)) c[k] = v === true ? { ok: true } : { ok: false, reason: v as string };
  return c;
}
