// Control groups for workloads: CPU and memory limits, accounting, OOM-kill counts, freezing.
// Three drivers behind one interface, chosen by probing (never assumed):
//
//   v2    a cgroup2 mount whose root offers the memory and cpu controllers
//   v1    the legacy hierarchies (memory, cpu, cpuacct, pids, freezer, blkio mounted apart)
//   none  neither: workloads run without limits, and say so (`unsupported` in meta)
//
// This machine has v1 plus an almost empty v2 mount (no controllers): the probe picks v1.
// Workload groups live under `<parent>/<group>/<id>`, the group named by the driver
// (acp-<node>-<hash of its data dir>: two local clusters with a node n1 each do not share one). For v1 the parent is, per controller,
// the cgroup the node process itself is in (so a node inside a limited cgroup nests its
// workloads under that limit); for v2 it is the mount's root (the no-internal-process rule
// forbids enabling controllers below a group that holds processes).
//
// Everything here is plain file I/O on the cgroup file systems: no process is spawned.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupKind = 'v2' | 'v1' | 'none';

/** Where one workload's group is: per controller (v1) or one directory (v2). */
export interface CgroupRef {
  kind: CgroupKind;
  /** v1: controller → directory; v2: { unified: directory } */
  dirs: Record<string, string>;
}

export interface CgroupLimits {
  vcpus: number;
  memoryMb: number;
}

export interface CgroupSample {
  /** CPU time used, µs */
  cpuUsec?: number;
  memoryBytes?: number;
  memoryPeakBytes?: number;
  memoryLimitBytes?: number;
  oomKills?: number;
  ioReadBytes?: number;
  ioWriteBytes?: number;
  frozen?: boolean;
}

export interface CgroupDriver {
  readonly kind: CgroupKind;
  /** how it was found, or why there is none */
  readonly detail: string;
  /** Create (or reuse) the group `<group>/<name>` with the limits; say what is enforced. */
  create(name: string, limits: CgroupLimits): { ref: CgroupRef; enforced: true; how: string } | { ref: CgroupRef; enforced: false; reason: string };
  /** The group as a path relative to the node's own cgroups (what runc's cgroupsPath takes). */
  relative(name: string): string;
  /** The files a process writes its pid to in order to join the group. */
  procsFiles(ref: CgroupRef): string[];
  read(ref: CgroupRef): CgroupSample;
  /** Pids in the group (any controller). */
  pids(ref: CgroupRef): number[];
  freeze(ref: CgroupRef, frozen: boolean): boolean;
  /** Remove the (empty) group; true when gone. */
  remove(ref: CgroupRef): boolean;
  /** Remove the node's parent group once it holds no workload group (`acp down --purge`, tests). */
  removeBase(): boolean;
}

const CPU_PERIOD_US = 100_000;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readNum(path: string): number | undefined {
  const s = readText(path)?.trim();
  if (s === undefined || s === '' || s === 'max') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines → map */
function keyed(text: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) m.set(k, Number(v));
  }
  return m;
}

function tryWrite(path: string, value: string): boolean {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
}

interface Mount {
  type: string;
  dir: string;
  options: string[];
}

function mounts(): Mount[] {
  return (readText('/proc/self/mountinfo') ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre!.split(' ');
      const g = (post ?? '').split(' ');
      return { type: g[0] ?? '', dir: f[4]!.replace(/\\040/g, ' '), options: (g[2] ?? '').split(',') };
    });
}

/** The node process's own cgroup per v1 controller, and its v2 path ("" key). */
function ownCgroups(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of (readText('/proc/self/cgroup') ?? '').split('\n')) {
    const [, ctrls, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (ctrls === undefined || path === undefined) continue;
    for (const c of ctrls === '' ? [''] : ctrls.split(',')) m.set(c, path);
  }
  return m;
}

function rmTree(dir: string): boolean {
  if (!existsSync(dir)) return true;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

function pidsOf(file: string): number[] {
  return (readText(file) ?? '')
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

class V2 implements CgroupDriver {
  readonly kind = 'v2' as const;
  readonly detail: string;
  readonly base: string;
  readonly root: string;
  readonly controllers: string[];
  constructor(root: string, group: string, controllers: string[]) {
    this.root = root;
    this.controllers = controllers;
    this.base = join(root, group);
    this.detail = `cgroup v2 at ${root} (${controllers.join(' ')})`;
  }
  relative(name: string): string {
    return `${this.base.slice(this.root.length)}/${name}`;
  }
  create(name: string, l: CgroupLimits) {
    const want = ['cpu', 'memory', 'io', 'pids'].filter((c) => this.controllers.includes(c));
    mkdirSync(this.base, { recursive: true });
    tryWrite(join(this.root, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    tryWrite(join(this.base, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    const dir = join(this.base, name);
    mkdirSync(dir, { recursive: true });
    const ref: CgroupRef = { kind: 'v2', dirs: { unified: dir } };
    const mem = tryWrite(join(dir, 'memory.max'), String(l.memoryMb * 1024 * 1024));
    tryWrite(join(dir, 'memory.swap.max'), '0');
    const cpu = tryWrite(join(dir, 'cpu.max'), `${l.vcpus * CPU_PERIOD_US} ${CPU_PERIOD_US}`);
    if (mem && cpu) return { ref, enforced: true as const, how: 'cgroup v2' };
    return { ref, enforced: false as const, reason: `cgroup v2 refused the ${!mem ? 'memory' : 'cpu'} limit` };
  }
  procsFiles(ref: CgroupRef): string[] {
    return [join(ref.dirs.unified!, 'cgroup.procs')];
  }
  read(ref: CgroupRef): CgroupSample {
    const d = ref.dirs.unified!;
    const cpu = keyed(readText(join(d, 'cpu.stat')));
    const ev = keyed(readText(join(d, 'memory.events')));
    let r = 0;
    let w = 0;
    for (const line of (readText(join(d, 'io.stat')) ?? '').split('\n')) {
      r += Number(line.match(/rbytes=(\d+)/)?.[1] ?? 0);
      w += Number(line.match(/wbytes=(\d+)/)?.[1] ?? 0);
    }
    return {
      cpuUsec: cpu.get('usage_usec'),
      memoryBytes: readNum(join(d, 'memory.current')),
      memoryPeakBytes: readNum(join(d, 'memory.peak')),
      memoryLimitBytes: readNum(join(d, 'memory.max')),
      oomKills: ev.get('oom_kill'),
      ioReadBytes: r,
      ioWriteBytes: w,
      frozen: readText(join(d, 'cgroup.freeze'))?.trim() === '1',
    };
  }
  pids(ref: CgroupRef): number[] {
    return pidsOf(join(ref.dirs.unified!, 'cgroup.procs'));
  }
  freeze(ref: CgroupRef, frozen: boolean): boolean {
    return tryWrite(join(ref.dirs.unified!, 'cgroup.freeze'), frozen ? '1' : '0');
  }
  remove(ref: CgroupRef): boolean {
    return rmTree(ref.dirs.unified!);
  }
  removeBase(): boolean {
    return rmTree(this.base);
  }
}

/** The v1 controllers we use and what for. */
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'blkio'] as const;

class V1 implements CgroupDriver {
  readonly kind = 'v1' as const;
  readonly detail: string;
  /** controller → the directory under which workload groups go */
  readonly bases: Map<string, string>;
  readonly group: string;
  /** the group in every hierarchy runc may create groups in (cpuset, devices, name=systemd, unified…) */
  readonly allBases: string[];
  constructor(hier: Map<string, string>, own: Map<string, string>, group: string, others: { key: string; dir: string }[]) {
    this.group = group;
    this.bases = new Map();
    for (const [c, mount] of hier) this.bases.set(c, join(mount, own.get(c) ?? '/', group));
    this.allBases = [...this.bases.values(), ...others.map((o) => join(o.dir, own.get(o.key) ?? '/', group))];
    this.detail = `cgroup v1 (${[...hier.keys()].join(' ')})`;
  }
  relative(name: string): string {
    return `${this.group}/${name}`;
  }
  create(name: string, l: CgroupLimits) {
    const dirs: Record<string, string> = {};
    for (const [c, base] of this.bases) {
      const dir = join(base, name);
      try {
        mkdirSync(dir, { recursive: true });
        dirs[c] = dir;
      } catch {
        /* a controller we cannot use: left out */
      }
    }
    const ref: CgroupRef = { kind: 'v1', dirs };
    if (dirs.cpuset) {
      // A new cpuset group starts empty: inherit the parent's CPUs and memory nodes.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) tryWrite(join(dirs.cpuset, f), readText(join(dirs.cpuset, '..', f))?.trim() ?? '');
    }
    const mem = dirs.memory !== undefined && tryWrite(join(dirs.memory, 'memory.limit_in_bytes'), String(l.memoryMb * 1024 * 1024));
    if (mem && existsSync(join(dirs.memory!, 'memory.memsw.limit_in_bytes'))) tryWrite(join(dirs.memory!, 'memory.memsw.limit_in_bytes'), String(l.memoryMb * 1024 * 1024));
    const cpu =
      dirs.cpu !== undefined && tryWrite(join(dirs.cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US)) && tryWrite(join(dirs.cpu, 'cpu.cfs_quota_us'), String(l.vcpus * CPU_PERIOD_US));
    if (mem && cpu) return { ref, enforced: true as const, how: 'cgroup v1' };
    return { ref, enforced: false as const, reason: `cgroup v1 ${!mem ? 'memory' : 'cpu'} controller unavailable or refused the limit` };
  }
  procsFiles(ref: CgroupRef): string[] {
    return Object.values(ref.dirs).map((d) => join(d, 'cgroup.procs'));
  }
  read(ref: CgroupRef): CgroupSample {
    const d = ref.dirs;
    const s: CgroupSample = {};
    if (d.memory) {
      s.memoryBytes = readNum(join(d.memory, 'memory.usage_in_bytes'));
      s.memoryPeakBytes = readNum(join(d.memory, 'memory.max_usage_in_bytes'));
      const lim = readNum(join(d.memory, 'memory.limit_in_bytes'));
      if (lim !== undefined && lim < 2 ** 62) s.memoryLimitBytes = lim;
      s.oomKills = keyed(readText(join(d.memory, 'memory.oom_control'))).get('oom_kill');
    }
    const acct = d.cpuacct ?? d.cpu;
    if (acct) {
      const ns = readNum(join(acct, 'cpuacct.usage'));
      if (ns !== undefined) s.cpuUsec = Math.floor(ns / 1000);
    }
    if (d.blkio) {
      let r = 0;
      let w = 0;
      for (const line of (readText(join(d.blkio, 'blkio.throttle.io_service_bytes')) ?? '').split('\n')) {
        const [, op, v] = line.split(' ');
        if (op === 'Read') r += Number(v);
        else if (op === 'Write') w += Number(v);
      }
      s.ioReadBytes = r;
      s.ioWriteBytes = w;
    }
    if (d.freezer) s.frozen = readText(join(d.freezer, 'freezer.state'))?.trim() === 'FROZEN';
    return s;
  }
  pids(ref: CgroupRef): number[] {
    const d = ref.dirs.memory ?? ref.dirs.pids ?? Object.values(ref.dirs)[0];
    return d ? pidsOf(join(d, 'cgroup.procs')) : [];
  }
  freeze(ref: CgroupRef, frozen: boolean): boolean {
    return ref.dirs.freezer !== undefined && tryWrite(join(ref.dirs.freezer, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
  }
  remove(ref: CgroupRef): boolean {
    let ok = true;
    for (const d of Object.values(ref.dirs)) ok = rmTree(d) && ok;
    return ok;
  }
  removeBase(): boolean {
    let ok = true;
    for (const d of this.allBases) ok = rmTree(d) && ok;
    return ok;
  }
}

class None implements CgroupDriver {
  readonly kind = 'none' as const;
  readonly detail: string;
  constructor(detail: string) {
    this.detail = detail;
  }
  relative(name: string): string {
    return name;
  }
  create(_name: string, _l: CgroupLimits) {
    return { ref: { kind: 'none' as const, dirs: {} }, enforced: false as const, reason: this.detail };
  }
  procsFiles(): string[] {
    return [];
  }
  read(): CgroupSample {
    return {};
  }
  pids(): number[] {
    return [];
  }
  freeze(): boolean {
    return false;
  }
  remove(): boolean {
    return true;
  }
  removeBase(): boolean {
    return true;
  }
}

/**
 * Probe the machine and return the cgroup driver to use. `prefer` forces one (tests, or an
 * operator who knows better); a forced driver the machine lacks falls back to `none` with why.
 */
export function probeCgroups(group: string, prefer?: CgroupKind): CgroupDriver {
  if (prefer === 'none') return new None('cgroups disabled by configuration');
  const ms = mounts();
  const own = ownCgroups();
  const v2 = ms.find((m) => m.type === 'cgroup2');
  const v2ctrls = v2 ? (readText(join(v2.dir, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean) : [];
  const v2ok = v2 !== undefined && v2ctrls.includes('memory') && v2ctrls.includes('cpu');
  const hier = new Map<string, string>();
  for (const m of ms) {
    if (m.type !== 'cgroup') continue;
    for (const c of V1_CONTROLLERS) if (m.options.includes(c) && !hier.has(c)) hier.set(c, m.dir);
  }
  const v1ok = hier.has('memory') && hier.has('cpu');
  if ((prefer === undefined || prefer === 'v2') && v2ok) return new V2(v2.dir, group, v2ctrls);
  if ((prefer === undefined || prefer === 'v1') && v1ok) {
    // The other hierarchies (runc also makes groups there): cpuset, devices, name=…, a hybrid cgroup2.
    const others: { key: string; dir: string }[] = [];
    for (const m of ms) {
      if (m.type === 'cgroup2') others.push({ key: '', dir: m.dir });
      else if (m.type === 'cgroup') {
        const key = m.options.find((o) => !V1_CONTROLLERS.includes(o as never) && (/^name=/.test(o) || ['cpuset', 'devices', 'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc'].includes(o)));
        if (key && !m.options.some((o) => hier.get(o) === m.dir)) others.push({ key, dir: m.dir });
      }
    }
    return new V1(hier, own, group, others);
  }
  const why: string[] = [];
  why.push(v2 ? `the cgroup2 mount at ${v2.dir} offers ${v2ctrls.length ? v2ctrls.join(' ') : 'no controllers'} (needs memory and cpu)` : 'no cgroup2 mount');
  why.push(hier.size ? `cgroup v1 has ${[...hier.keys()].join(' ')} (needs memory and cpu)` : 'no cgroup v1 hierarchies');
  return new None(`no usable cgroups: ${why.join('; ')}`);
}
