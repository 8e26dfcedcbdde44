// The Network service's Linux driver: bridges, VXLAN and 802.1Q segments, veth
// pairs into workload namespaces, bonds — in the node's data-plane namespace
// (`acp up` as root gives each node one) or, without one, in the host's.
//
// Actions run `ip`/`bridge` commands (iproute2, JSON output where read back):
// the npm registry has no maintained netlink library (`netlink` is an
// unmaintained native addon), and a create is one command carrying MTU,
// master and up in one netlink request. Stats never spawn a process: one read
// of /proc/thread-self/net/dev per sample, inside the data-plane namespace by
// setns(2) on this thread and straight back (koffi), ~0.1 ms.
//
// Ownership: every link the driver creates is written to its ownership record
// (<dataDir>/network/owned.json, replaced atomically by rename) BEFORE the
// kernel is asked, and removed after the kernel deleted it. So whatever a
// crash interrupts, a link the driver created is in the record: a restarted
// node adopts it (observe reports it) instead of creating a duplicate, and
// anything not in the record is never changed (the driver refuses, whatever
// the plan says). Generated names carry the configured prefix.
//
// The record is not fsynced: what it describes lives in the kernel and dies
// with it, so the only loss fsync guards against (power loss, kernel crash)
// takes the links too — while a process crash (kill -9), the case adoption is
// for, keeps the page cache. An fsync cost up to ~200 ms per creation on this
// loaded machine, on the way to ready. The record carries the kernel's boot
// id instead: after a reboot its entries are stale (their links are gone) and
// are dropped, never adopted, even if something else reuses a name.
import { execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ObjectKey, Stats } from '../cdb/client.ts';
import { DriverError, type Capabilities, type Driver } from '../reconciler/contract.ts';
import { NETWORK_CAPABILITIES, VXLAN_PORT, describeAction, type LinkKind, type NetAction, type NetObserved, type OwnedLink } from './reconcile.ts';
import { StatsKeeper, parseProcNetDev, type StatLink } from './stats.ts';

export interface LinuxNetConfig {
  node: string;
  /** The node's data directory: the ownership record is <dataDir>/network/owned.json. */
  dataDir: string;
  /** The node's data-plane network namespace (/run/netns/NAME); absent: the host's. */
  netns?: string;
  /** Prefix of generated link names (default "acp"). */
  prefix?: string;
  /** Where VXLAN segments start: a link in the data-plane namespace and its address. */
  underlay?: { dev: string; address: string };
  /** The uplink 802.1Q sub-interfaces hang off (where the kernel has 802.1Q). */
  uplink?: string;
}

// ---------------------------------------------------------------------------------------------
// Commands

function findTool(name: string): string | undefined {
  for (const d of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (existsSync(join(d, name))) return join(d, name);
  return undefined;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const TRACE = process.env.ACP_NET_TRACE === '1';
function run(file: string, args: string[], input?: string): Promise<Ran> {
  const t0 = performance.now();
  if (TRACE) process.stderr.write(`net ${Date.now() % 100000} start ${args.join(' ').slice(0, 60)}\n`);
  return new Promise((resolve0) => {
    const resolve = (r: Ran): void => {
      if (TRACE) process.stderr.write(`net ${Date.now() % 100000} done ${(performance.now() - t0).toFixed(1)}ms ${args.join(' ').slice(0, 60)}\n`);
      resolve0(r);
    };
    const child = execFile(file, args, { env: { ...process.env, LC_ALL: 'C' }, timeout: 15_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === 1 && !stderr ? err.message : '') });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.trim() ?? '';
}

// ---------------------------------------------------------------------------------------------
// Capabilities

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

const hasCap = (caps: bigint, bit: number): boolean => ((caps >> BigInt(bit)) & 1n) === 1n;

/** One probe line per kernel capability: a link of that type, created in a throwaway namespace. */
const PROBES: { cap: (typeof NETWORK_CAPABILITIES)[number]; line: string; what: string }[] = [
  { cap: 'bridge', line: 'link add name p0 type bridge', what: 'bridge' },
  { cap: 'veth', line: 'link add name p1 type veth peer name p2', what: 'veth' },
  { cap: 'vlan8021q', line: 'link add link p1 name p3 type vlan id 3', what: '802.1Q' },
  { cap: 'bonding', line: 'link add name p4 type bond', what: 'bonding' },
  { cap: 'vxlan', line: `link add name p5 type vxlan id 5 dstport ${VXLAN_PORT}`, what: 'VXLAN' },
  { cap: 'macvlan', line: 'link add name p6 link p1 type macvlan', what: 'macvlan' },
  { cap: 'tap', line: 'tuntap add mode tap name p7', what: 'tap' },
];

/**
 * What this machine can do for the Network service: each kernel link type tried in a private
 * network namespace that dies with the probe (`unshare -n ip -force -batch -`: one process, nothing
 * left behind even if killed), root (CAP_NET_ADMIN) checked first, the node's data-plane namespace
 * checked to exist, VPP looked for. Never throws: a missing capability carries its reason.
 */
export async function probeNetworkCapabilities(o: { netns?: string } = {}): Promise<Capabilities> {
  const out: Capabilities = {};
  const all = (reason: string): void => {
    for (const c of NETWORK_CAPABILITIES) if (c !== 'vpp') out[c] = { ok: false, reason };
  };
  const ip = findTool('ip');
  const eff = effectiveCaps();
  if (!ip) all('iproute2 is not installed (apt-get install iproute2)');
  else if (!hasCap(eff, CAP_NET_ADMIN)) all('not running as root: creating interfaces needs CAP_NET_ADMIN');
  else if (o.netns !== undefined && !existsSync(`/run/netns/${o.netns}`)) all(`the node's data-plane namespace ${o.netns} does not exist (acp up as root creates it)`);
  else {
    const unshare = findTool('unshare');
    const r = unshare && hasCap(eff, CAP_SYS_ADMIN) ? await run(unshare, ['-n', ip, '-force', '-batch', '-'], PROBES.map((p) => p.line).join('\n') + '\n') : undefined;
    if (!r) all('cannot probe: unshare (util-linux) or CAP_SYS_ADMIN missing');
    else {
      // Each failed line: its error, then "Command failed -:N".
      const failed = new Map<number, string>();
      const lines = r.stderr.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const m = /^Command failed -:(\d+)/.exec(lines[i]!);
        if (m) failed.set(Number(m[1]), (lines[i - 1] ?? '').replace(/^Error:\s*/, '').replace(/\.$/, '').trim());
      }
      PROBES.forEach((p, i) => {
        const err = failed.get(i + 1);
        const type = /type (\w+)|mode (\w+)/.exec(p.line);
        out[p.cap] = err === undefined ? { ok: true } : { ok: false, reason: `the kernel has no ${p.what} support (ip link add type ${type?.[1] ?? type?.[2]}: ${err || 'failed'})` };
      });
      out.netns = o.netns !== undefined ? { ok: true, detail: `data plane in namespace ${o.netns}` } : { ok: true, detail: 'data plane in the host namespace' };
    }
  }
  const vppctl = findTool('vppctl');
  out.vpp = vppctl || existsSync('/run/vpp/cli.sock') ? { ok: true, detail: vppctl ?? '/run/vpp/cli.sock' } : { ok: false, reason: 'VPP is not installed (no vppctl, no /run/vpp/cli.sock)' };
  return out;
}

// ---------------------------------------------------------------------------------------------
// The ownership record

export interface RecordEntry {
  kind: LinkKind;
  key: ObjectKey;
  /** For a lease's veth: its network (stats count there too). */
  network?: ObjectKey;
}

export interface OwnershipFile {
  v: 1;
  node: string;
  netns: string | null;
  /** The kernel boot the links were created in (/proc/sys/kernel/random/boot_id). */
  boot?: string;
  links: Record<string, RecordEntry>;
}

/** Replace a file atomically (temp file, rename): a reader sees the old or the new text, never a mix. */
let tmpSeq = 0;
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${++tmpSeq}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/** This kernel's boot (changes on every reboot). */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export function recordPath(dataDir: string): string {
  return join(dataDir, 'network', 'owned.json');
}

export class OwnershipRecord {
  readonly file: string;
  readonly #node: string;
  readonly #netns: string | null;
  readonly #boot = bootId();
  readonly links = new Map<string, RecordEntry>();

  constructor(file: string, node: string, netns: string | undefined) {
    this.file = file;
    this.#node = node;
    this.#netns = netns ?? null;
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new DriverError(`cannot read the ownership record ${file}: ${(e as Error).message}`);
    }
    if (text === undefined) return;
    let f: OwnershipFile;
    try {
      f = JSON.parse(text) as OwnershipFile;
    } catch (e) {
      throw new DriverError(`the ownership record ${file} is not valid JSON (${(e as Error).message}): refusing to guess what this node created`);
    }
    if (f.v !== 1 || typeof f.links !== 'object' || f.links === null) throw new DriverError(`the ownership record ${file} has an unknown format`);
    if (f.netns !== this.#netns) throw new DriverError(`the ownership record ${file} is for namespace ${f.netns ?? '(host)'}, this node's data plane is ${this.#netns ?? '(host)'}`);
    // Written in an earlier boot: those links died with that kernel; nothing here is ours now.
    if (f.boot !== undefined && f.boot !== this.#boot) return;
    for (const [name, e] of Object.entries(f.links)) this.links.set(name, e);
  }

  /** Record links (durably, before the kernel is asked to create them). */
  async set(entries: [string, RecordEntry][]): Promise<void> {
    for (const [name, e] of entries) this.links.set(name, e);
    await this.#save();
  }

  async delete(names: string[]): Promise<void> {
    let changed = false;
    for (const n of names) changed = this.links.delete(n) || changed;
    if (changed) await this.#save();
  }

  #saving: Promise<void> = Promise.resolve();

  /** Saves one after the other (each writes the record as it is when its turn comes). */
  #save(): Promise<void> {
    const next = this.#saving.then(() => this.#write());
    this.#saving = next.catch(() => {});
    return next;
  }

  #write(): Promise<void> {
    const f: OwnershipFile = { v: 1, node: this.#node, netns: this.#netns, boot: this.#boot, links: Object.fromEntries([...this.links].sort(([a], [b]) => (a < b ? -1 : 1))) };
    return writeFileAtomic(this.file, JSON.stringify(f, null, 1) + '\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Reading /proc/net/dev of another namespace without a process

const CLONE_NEWNET = 0x40000000;
type Setns = (fd: number, nstype: number) => number;
let setnsFn: Setns | null | undefined;

async function loadSetns(): Promise<Setns | null> {
  if (setnsFn !== undefined) return setnsFn;
  try {
    const koffi = (await import('koffi')).default;
    const lib = koffi.load('libc.so.6');
    setnsFn = lib.func('int setns(int fd, int nstype)') as Setns;
  } catch {
    setnsFn = null;
  }
  return setnsFn;
}

/** /proc/net/dev of a named namespace (or this thread's), read in this thread; holds no descriptor between reads. */
export class NetDevReader {
  readonly #netns: string | undefined;
  #setns: Setns | null = null;

  constructor(netns: string | undefined) {
    this.#netns = netns;
  }

  async open(): Promise<void> {
    if (this.#netns === undefined) return;
    this.#setns = await loadSetns();
    if (!this.#setns) throw new DriverError('cannot enter the data-plane namespace for stats: koffi/libc not available');
  }

  read(): string {
    if (this.#netns === undefined) return readFileSync('/proc/thread-self/net/dev', 'latin1');
    const setns = this.#setns!;
    const home = openSync('/proc/thread-self/ns/net', 'r');
    let fd = -1;
    try {
      fd = openSync(`/run/netns/${this.#netns}`, 'r');
      if (setns(fd, CLONE_NEWNET) !== 0) throw new DriverError(`setns into ${this.#netns} failed`);
      try {
        return readFileSync('/proc/thread-self/net/dev', 'latin1');
      } finally {
        // Back home before anything else runs on this thread; if that fails, nothing here is safe.
        if (setns(home, CLONE_NEWNET) !== 0) {
          process.stderr.write("acp: network: cannot return to the node thread's own namespace after reading stats\n");
          process.exit(70);
        }
      }
    } finally {
      if (fd >= 0) closeSync(fd);
      closeSync(home);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The driver

interface IpLink {
  ifname: string;
  mtu?: number;
  flags?: string[];
  master?: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; link?: string; protocol?: string } };
}

const ZERO_MAC = '00:00:00:00:00:00';

export class LinuxNetDriver implements Driver<NetObserved, NetAction> {
  readonly #c: LinuxNetConfig;
  readonly #prefix: string;
  readonly #ip: string;
  readonly #bridge: string;
  #record: OwnershipRecord | undefined;
  #caps: Promise<Capabilities> | undefined;
  readonly #stats = new StatsKeeper();
  #dev: NetDevReader | undefined;

  constructor(c: LinuxNetConfig) {
    this.#c = c;
    this.#prefix = c.prefix ?? 'acp';
    this.#ip = findTool('ip') ?? 'ip';
    this.#bridge = findTool('bridge') ?? 'bridge';
  }

  get config(): LinuxNetConfig {
    return this.#c;
  }

  /** Probed once per driver (the node agent publishes the same answer). */
  capabilities(): Promise<Capabilities> {
    this.#caps ??= probeNetworkCapabilities(this.#c.netns !== undefined ? { netns: this.#c.netns } : {});
    return this.#caps;
  }

  #rec(): OwnershipRecord {
    this.#record ??= new OwnershipRecord(recordPath(this.#c.dataDir), this.#c.node, this.#c.netns);
    return this.#record;
  }

  #ns(args: string[]): string[] {
    return this.#c.netns !== undefined ? ['-n', this.#c.netns, ...args] : args;
  }

  async #ipRun(args: string[], what: string): Promise<string> {
    const r = await run(this.#ip, this.#ns(args));
    if (r.code !== 0) throw new DriverError(`${what}: ${firstLine(r.stderr) || `ip exited with ${r.code}`}`);
    return r.stdout;
  }

  async #bridgeRun(args: string[], what: string): Promise<string> {
    const r = await run(this.#bridge, this.#ns(args));
    if (r.code !== 0) throw new DriverError(`${what}: ${firstLine(r.stderr) || `bridge exited with ${r.code}`}`);
    return r.stdout;
  }

  async observe(): Promise<NetObserved> {
    const rec = this.#rec();
    if (this.#c.netns !== undefined && !existsSync(`/run/netns/${this.#c.netns}`)) throw new DriverError(`the node's data-plane namespace ${this.#c.netns} does not exist`);
    const wantFdb = [...rec.links.values()].some((e) => e.kind === 'vxlan');
    const [linksJson, fdbJson] = await Promise.all([this.#ipRun(['-j', '-d', 'link', 'show'], 'listing links'), wantFdb ? this.#bridgeRun(['-j', 'fdb', 'show'], 'listing the flood lists') : Promise.resolve('[]')]);
    const kernel = new Map<string, IpLink>();
    for (const l of JSON.parse(linksJson || '[]') as IpLink[]) kernel.set(l.ifname, l);
    const fdb = new Map<string, string[]>();
    for (const e of JSON.parse(fdbJson || '[]') as { mac?: string; ifname?: string; dst?: string }[]) {
      if (e.mac !== ZERO_MAC || !e.ifname || !e.dst) continue;
      const xs = fdb.get(e.ifname) ?? [];
      xs.push(e.dst);
      fdb.set(e.ifname, xs);
    }
    const links: OwnedLink[] = [];
    for (const [name, e] of rec.links) {
      const k = kernel.get(name);
      const kind = k?.linkinfo?.info_kind;
      // A link of another type under a recorded name is not the one we created.
      if (!k || (kind !== e.kind && !(e.kind === 'vlan' && kind === 'vlan'))) {
        links.push({ name, kind: e.kind, key: e.key, present: false });
        continue;
      }
      const d = k.linkinfo?.info_data ?? {};
      links.push({
        name,
        kind: e.kind,
        key: e.key,
        present: true,
        ...(k.mtu !== undefined ? { mtu: k.mtu } : {}),
        up: k.flags?.includes('UP') ?? false,
        ...(k.master !== undefined ? { master: k.master } : {}),
        ...(e.kind === 'vxlan' ? { vni: d.id, local: d.local, dev: d.link, fdb: (fdb.get(name) ?? []).sort() } : {}),
        ...(e.kind === 'vlan' ? { vlan: d.id, parent: k.link } : {}),
      });
    }
    const foreign = [...kernel.keys()].filter((n) => !rec.links.has(n) || !links.find((l) => l.name === n)?.present).sort();
    return {
      prefix: this.#prefix,
      links,
      foreign,
      ...(this.#c.underlay ? { underlay: this.#c.underlay } : {}),
      ...(this.#c.uplink ? { uplink: this.#c.uplink } : {}),
    };
  }

  /** `ip` arguments of a link action (creates, set-link, delete-link). */
  #linkArgs(a: NetAction): string[] | undefined {
    const mtu = (m: number): string[] => ['mtu', String(m)];
    switch (a.kind) {
      case 'create-bridge':
        return ['link', 'add', a.name, ...mtu(a.mtu), 'up', 'type', 'bridge'];
      case 'create-vxlan':
        return ['link', 'add', a.name, ...mtu(a.mtu), 'master', a.bridge, 'up', 'type', 'vxlan', 'id', String(a.vni), 'local', a.local, 'dev', a.dev, 'dstport', String(VXLAN_PORT)];
      case 'create-vlan':
        return ['link', 'add', 'link', a.parent, 'name', a.name, ...mtu(a.mtu), ...(a.bridge ? ['master', a.bridge] : []), 'up', 'type', 'vlan', 'id', String(a.vlan)];
      case 'set-link':
        return ['link', 'set', a.name, ...(a.mtu !== undefined ? mtu(a.mtu) : []), ...(a.master !== undefined ? ['master', a.master] : []), ...(a.up ? ['up'] : [])];
      case 'delete-link':
        return ['link', 'del', a.name];
      default:
        return undefined;
    }
  }

  #applying: Promise<unknown> = Promise.resolve();

  /**
   * One action at a time, also across incarnations of the service: an actor restarted while an
   * action of its previous life still runs must not interleave its own with it.
   */
  apply(a: NetAction): Promise<void> {
    const next = this.#applying.then(() => this.#apply(a));
    this.#applying = next.catch(() => {});
    return next;
  }

  async #apply(a: NetAction): Promise<void> {
    if (TRACE) process.stderr.write(`net ${Date.now() % 100000} apply ${describeAction(a).slice(0, 200)}\n`);
    const rec = this.#rec();
    const ours = (name: string): void => {
      if (!rec.links.has(name)) throw new DriverError(`refusing to change ${name}: it was not created by this service`, true);
    };
    switch (a.kind) {
      case 'batch':
        return this.#batch(a.actions);
      case 'create-bridge':
      case 'create-vxlan':
      case 'create-vlan':
        return this.#batch([a]);
      case 'create-bond': {
        await this.#create(a.name, 'bond', ['link', 'add', a.name, 'mtu', String(a.mtu), 'up', 'type', 'bond', 'mode', 'active-backup'], a.key);
        // The trunk object names its members: the one change to links the service did not create.
        for (const m of a.members) {
          await this.#ipRun(['link', 'set', m, 'down'], `enslaving ${m}`);
          await this.#ipRun(['link', 'set', m, 'master', a.name, 'up'], `enslaving ${m}`);
        }
        return;
      }
      case 'create-veth': {
        if (!existsSync(`/run/netns/${a.netns}`)) throw new DriverError(`network namespace ${a.netns} does not exist`);
        await this.#create(a.name, 'veth', ['link', 'add', a.name, 'mtu', String(a.mtu), 'master', a.bridge, 'up', 'type', 'veth', 'peer', 'name', a.peer, 'netns', a.netns, 'mtu', String(a.mtu)], a.key, { network: a.network });
        // The workload's end: its address, up. All or nothing: a veth without its address is removed again.
        const r = await run(this.#ip, ['-n', a.netns, '-batch', '-'], `addr add ${a.address} dev ${a.peer}\nlink set ${a.peer} up\nlink set lo up\n`);
        if (r.code !== 0) {
          await run(this.#ip, this.#ns(['link', 'del', a.name]));
          await rec.delete([a.name]);
          throw new DriverError(`configuring ${a.peer} in ${a.netns}: ${firstLine(r.stderr)}`);
        }
        return;
      }
      case 'set-link':
      case 'delete-link':
      case 'fdb-add':
      case 'fdb-del':
        ours(a.kind.startsWith('fdb') ? (a as { dev: string }).dev : (a as { name: string }).name);
        return this.#batch([a]);
      case 'forget':
        await rec.delete([a.name]);
        return;
    }
  }

  /** Create one link: recorded first (write-ahead), then the kernel; a name someone else took is not recorded. */
  async #create(name: string, kind: LinkKind, args: string[], key: ObjectKey, extra: Partial<RecordEntry> = {}): Promise<void> {
    if (name.length > 15) throw new DriverError(`"${name}" is too long for an interface name`, true);
    const rec = this.#rec();
    await rec.set([[name, { kind, key, ...extra }]]);
    try {
      await this.#ipRun(args, `creating ${kind} ${name}`);
    } catch (e) {
      // Someone else's link took the name first: it is not ours, whatever the record said a moment ago.
      if (e instanceof DriverError && /File exists/.test(e.reason)) await rec.delete([name]);
      throw e;
    }
  }

  /**
   * Link changes of one object together: the creations recorded in one write, the link commands
   * in one `ip -force -batch`, the flood-list changes in one `bridge -force -batch`, the deletions
   * dropped from the record in one write. Every line runs; the first real failure is thrown.
   */
  async #batch(actions: NetAction[]): Promise<void> {
    const rec = this.#rec();
    const created = new Set<string>();
    const ipLines: { a: NetAction; line: string }[] = [];
    const brLines: { a: NetAction; line: string }[] = [];
    const kinds: Record<string, LinkKind> = { 'create-bridge': 'bridge', 'create-vxlan': 'vxlan', 'create-vlan': 'vlan' };
    const toRecord: [string, RecordEntry][] = [];
    for (const a of actions) {
      const args = this.#linkArgs(a);
      if (a.kind.startsWith('create-')) {
        const name = (a as { name: string }).name;
        if (name.length > 15) throw new DriverError(`"${name}" is too long for an interface name`, true);
        toRecord.push([name, { kind: kinds[a.kind]!, key: a.key }]);
        created.add(name);
      } else {
        const name = a.kind === 'fdb-add' || a.kind === 'fdb-del' ? a.dev : (a as { name: string }).name;
        if (!rec.links.has(name) && !created.has(name)) throw new DriverError(`refusing to change ${name}: it was not created by this service`, true);
      }
      if (args) ipLines.push({ a, line: args.join(' ') });
      else if (a.kind === 'fdb-add') for (const d of a.dsts) brLines.push({ a, line: `fdb append ${ZERO_MAC} dev ${a.dev} dst ${d}` });
      else if (a.kind === 'fdb-del') for (const d of a.dsts) brLines.push({ a, line: `fdb del ${ZERO_MAC} dev ${a.dev} dst ${d}` });
      else throw new DriverError(`${a.kind} cannot be batched`, true);
    }
    if (toRecord.length) await rec.set(toRecord);
    const failures: string[] = [];
    const unrecord: string[] = [];
    const batch = async (tool: string, lines: { a: NetAction; line: string }[]): Promise<void> => {
      if (!lines.length) return;
      const r = await run(tool, this.#ns(['-force', '-batch', '-']), lines.map((l) => l.line).join('\n') + '\n');
      const failed = new Map<number, string>();
      const err = r.stderr.split('\n');
      for (let i = 0; i < err.length; i++) {
        const m = /^Command failed -:(\d+)/.exec(err[i]!);
        if (m) failed.set(Number(m[1]) - 1, (err[i - 1] ?? '').trim());
      }
      if (r.code !== 0 && failed.size === 0) failed.set(0, firstLine(r.stderr) || `exited with ${r.code}`);
      lines.forEach((l, i) => {
        const e = failed.get(i);
        const a = l.a;
        if (a.kind === 'delete-link') {
          if (e === undefined || /Cannot find device/.test(e)) unrecord.push(a.name);
          else failures.push(`deleting ${a.name}: ${e}`);
          return;
        }
        if (e === undefined) return;
        if (a.kind.startsWith('create-') && /File exists/.test(e)) unrecord.push((a as { name: string }).name);
        failures.push(`${describeAction(a)}: ${e}`);
      });
    };
    await batch(this.#ip, ipLines);
    await batch(this.#bridge, brLines);
    if (unrecord.length) await rec.delete(unrecord);
    if (failures.length) throw new DriverError(failures[0]!);
  }

  async stats(): Promise<Map<ObjectKey, Stats>> {
    if (!this.#dev) {
      const d = new NetDevReader(this.#c.netns);
      await d.open();
      this.#dev = d;
    }
    const rec = this.#rec();
    const links: StatLink[] = [];
    for (const [name, e] of rec.links) links.push({ name, kind: e.kind, key: e.key, ...(e.network ? { network: e.network } : {}) });
    if (links.length === 0) return new Map();
    return this.#stats.sample(links, parseProcNetDev(this.#dev.read()), performance.now());
  }

}
