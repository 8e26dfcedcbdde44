// The Hypervisor's Linux driver: processes, runc containers and QEMU VMs, each under the
// workload shim (process.ts) in its own cgroup (cgroups.ts), with an ownership record on disk.
//
//   <dataDir>/hypervisor/
//     workloads/<system id>/record.json   what we started: run, spec hash, shim + main identity
//                                          (pid, start time, boot id), cgroup, exit history
//     workloads/<system id>/stdout.log, stderr.log, console.log (VMs), qmp.sock, bundle/
//     runc/                                this node's runc state root (its containers only)
//     images/busybox/rootfs                the busybox image, built once
//
// The record is written before a workload is launched and updated after, so a node killed at
// any moment finds every workload it started on its next start (the shim's pid files fill in
// what the record missed). observe() checks each record against /proc: a workload whose main
// process is alive with the recorded start time is running; a new driver instance reports it
// `attached: false`, the reconciler answers `adopt`, and nothing is started twice. Exits are
// read from the shim's status file and folded into the record's history (OOM kills from the
// cgroup's oom_kill count). Only recorded processes are ever signalled, and only through
// signalProcess (pidfd, identity re-checked).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsc, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { ObjectKey, Stats } from '../cdb/client.ts';
import type { SystemKind, SystemSpec } from '../cdb/schema.ts';
import { DriverError, type Capabilities } from '../reconciler/contract.ts';
import type { HypervisorDriver } from './client.ts';
import { probeCgroups, type CgroupDriver, type CgroupKind, type CgroupRef } from './cgroups.ts';
import { alive, bootId, CLK_TCK, identify, procStat, signalMethod, signalProcess, type ProcIdentity } from './proc.ts';
import { decodeStatus, launch, readExit, readPids } from './process.ts';
import { consoleLog, probeKvm, qemuArgv, qmpPath, Qmp, type Accel } from './qemu.ts';
import { busyboxImage, runcRunArgv, writeBundle } from './runc.ts';
import type { ExitRecord, HypervisorAction, HypervisorObserved, Attachment, Workload } from './types.ts';

const run = promisify(execFile);

/** Exits kept per workload (back-off needs only the recent ones). */
const MAX_EXITS = 16;
/** Memory a VM's cgroup gets beyond its guest RAM (QEMU itself, TCG's translation cache). */
const VM_OVERHEAD_MB = 256;

interface WorkloadRecord {
  v: 1;
  id: string;
  kind: SystemKind;
  run: number;
  specHash: string;
  phase: 'running' | 'exited';
  startedAt: number;
  shim?: ProcIdentity;
  main?: ProcIdentity;
  cgroup: CgroupRef;
  limits: Workload['limits'];
  /** the cgroup's oom_kill count when the run started */
  oomBase: number;
  exits: ExitRecord[];
  /** the run a stop was asked for (its exit is `requested`) */
  stopRequested?: number;
  accel?: Accel;
  netns?: string;
  taps?: string[];
  /** runc container id */
  cid?: string;
}

export interface LinuxHypervisorOptions {
  node: string;
  /** the node's data directory; the driver keeps its state under <dataDir>/hypervisor */
  dataDir: string;
  busybox?: string;
  runc?: string;
  qemu?: string;
  /** force a cgroup driver instead of probing */
  cgroups?: CgroupKind;
  /** force TCG even where KVM works */
  noKvm?: boolean;
  /** the driver's clock (default Date.now) */
  now?: () => number;
}

function which(name: string): string | undefined {
  if (name.includes('/')) return existsSync(name) ? name : undefined;
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    const p = join(d, name);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** "uid", "uid:gid" or a name from /etc/passwd → numbers. */
function resolveUser(u: string | undefined): { uid: number; gid: number } | undefined {
  if (u === undefined) return undefined;
  const m = u.match(/^(\d+)(?::(\d+))?$/);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === u) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new DriverError(`user ${u} does not exist on this node`, true);
}

export class LinuxHypervisor implements HypervisorDriver {
  readonly node: string;
  readonly root: string;
  readonly workloadsDir: string;
  readonly runcRoot: string;
  readonly imagesDir: string;
  readonly cg: CgroupDriver;
  private readonly opts: LinuxHypervisorOptions;
  private readonly now: () => number;
  private readonly busybox: string | undefined;
  private readonly runc: string | undefined;
  private readonly qemu: string | undefined;
  private readonly kvm: { ok: true } | { ok: false; reason: string };
  /** workloads this driver instance holds (started or adopted) */
  private readonly attached = new Set<string>();
  private readonly qmps = new Map<string, Qmp>();
  /** VM run state from QMP (paused or not) */
  private readonly vmPaused = new Map<string, boolean>();
  private readonly lastCpu = new Map<string, { usec: number; at: number }>();
  /** Network attachments handed over by the Network service (system id → netns/taps). */
  readonly attachments = new Map<string, Attachment>();
  /** Share paths handed over by the Storage service. */
  readonly shares = new Map<string, string>();

  constructor(o: LinuxHypervisorOptions) {
    this.opts = o;
    this.node = o.node;
    this.root = join(o.dataDir, 'hypervisor');
    this.workloadsDir = join(this.root, 'workloads');
    this.runcRoot = join(this.root, 'runc');
    this.imagesDir = join(this.root, 'images');
    mkdirSync(this.workloadsDir, { recursive: true, mode: 0o700 });
    this.now = o.now ?? Date.now;
    this.busybox = which(o.busybox ?? 'busybox');
    this.runc = which(o.runc ?? 'runc');
    this.qemu = which(o.qemu ?? 'qemu-system-x86_64');
    this.kvm = o.noKvm ? { ok: false, reason: 'KVM disabled by configuration' } : probeKvm();
    // One parent group per node and data dir: two local clusters' n1 never share a group.
    this.cg = probeCgroups(`acp-${o.node}-${createHash('sha256').update(this.root).digest('hex').slice(0, 8)}`, o.cgroups);
  }

  get accel(): Accel {
    return this.kvm.ok ? 'kvm' : 'tcg';
  }

  dirOf(id: string): string {
    return join(this.workloadsDir, id);
  }

  async capabilities(): Promise<Capabilities> {
    const caps: Capabilities = {};
    caps.busybox = this.busybox ? { ok: true, detail: this.busybox } : { ok: false, reason: 'busybox not found (apt-get install busybox-static)' };
    caps.process = this.busybox ? { ok: true, detail: `shim: ${this.busybox} sh; signals: ${await signalMethod()}` } : { ok: false, reason: 'the workload shim needs busybox (apt-get install busybox-static)' };
    caps.cgroup = this.cg.kind === 'none' ? { ok: false, reason: this.cg.detail } : { ok: true, detail: this.cg.detail };
    if (this.runc) {
      try {
        const { stdout } = await run(this.runc, ['--version']);
        caps.runc = this.busybox ? { ok: true, detail: stdout.split('\n')[0]! } : { ok: false, reason: 'the workload shim needs busybox (apt-get install busybox-static)' };
      } catch (e) {
        caps.runc = { ok: false, reason: `runc --version failed: ${(e as Error).message}` };
      }
    } else caps.runc = { ok: false, reason: 'runc not found (apt-get install runc)' };
    caps.qemu = this.qemu && this.busybox ? { ok: true, detail: this.accel } : { ok: false, reason: this.qemu ? 'the workload shim needs busybox (apt-get install busybox-static)' : 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)' };
    caps.kvm = this.kvm.ok ? { ok: true } : { ok: false, reason: `${this.kvm.reason}: VMs run under TCG (emulation)` };
    return caps;
  }

  // ------------------------------------------------------------------------------------------
  // The ownership record

  private readRecord(id: string): WorkloadRecord | undefined {
    try {
      const r = JSON.parse(readFileSync(join(this.dirOf(id), 'record.json'), 'utf8')) as WorkloadRecord;
      return r.v === 1 && r.id === id ? r : undefined;
    } catch {
      return undefined;
    }
  }

  private writeRecord(r: WorkloadRecord): void {
    const dir = this.dirOf(r.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, 'record.json.tmp');
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, join(dir, 'record.json'));
  }

  private recordIds(): string[] {
    try {
      return readdirSync(this.workloadsDir).filter((n) => existsSync(join(this.workloadsDir, n, 'record.json')));
    } catch {
      return [];
    }
  }

  /** Bring a record up to date with the machine: fill in pids, fold a finished run into its exits. */
  private refresh(r: WorkloadRecord): WorkloadRecord {
    if (r.phase !== 'running') return r;
    const dir = this.dirOf(r.id);
    let changed = false;
    if (r.main === undefined || r.shim === undefined) {
      // The node died between launching and recording: the shim's pid files say who it started.
      const p = readPids(dir, r.run);
      if (r.shim === undefined && p.shim !== undefined) {
        const id = identify(p.shim);
        if (id) (r.shim = id), (changed = true);
      }
      if (r.main === undefined && p.main !== undefined) {
        const st = procStat(p.main);
        if (st && (r.shim === undefined || st.ppid === r.shim.pid)) (r.main = identify(p.main)), (changed = true);
      }
    }
    const ex = readExit(dir, r.run);
    let end: ExitRecord | undefined;
    if (ex) {
      const { code, signal } = decodeStatus(ex.status);
      end = { startedAt: r.startedAt, at: Math.max(ex.at, r.startedAt), code, signal, oom: false, requested: r.stopRequested === r.run };
    } else if (!alive(r.main) && !alive(r.shim)) {
      // Both gone without a status (killed together, or the machine rebooted): exit unknown.
      end = { startedAt: r.startedAt, at: this.now(), code: null, signal: null, oom: false, requested: r.stopRequested === r.run };
    }
    if (end) {
      const oomNow = this.oomCount(r);
      end.oom = oomNow !== undefined && oomNow > r.oomBase;
      if (end.oom && end.signal === null && end.code === null) end.signal = 'SIGKILL';
      r.exits = [...r.exits, end].slice(-MAX_EXITS);
      r.phase = 'exited';
      delete r.main;
      delete r.shim;
      for (const f of [`exit.${r.run}`, `shim.${r.run}`, `main.${r.run}`]) rmSync(join(dir, f), { force: true });
      this.closeQmp(r.id);
      changed = true;
    }
    if (changed) this.writeRecord(r);
    return r;
  }

  /** OOM kills in the workload's group, and for a container in runc's leaf below it (kept by --keep). */
  private oomCount(r: WorkloadRecord): number | undefined {
    const own = this.cg.read(r.cgroup).oomKills;
    if (r.kind !== 'container') return own;
    const leaf = this.cg.read(leafRef(r.cgroup)).oomKills;
    return own === undefined && leaf === undefined ? undefined : (own ?? 0) + (leaf ?? 0);
  }

  private toWorkload(r: WorkloadRecord): Workload {
    let phase: Workload['phase'] = r.phase;
    if (phase === 'running') {
      if (r.kind === 'vm' && this.vmPaused.get(r.id)) phase = 'paused';
      else if (r.kind !== 'vm' && this.cg.read(r.cgroup).frozen) phase = 'paused';
    }
    return {
      id: r.id,
      kind: r.kind,
      run: r.run,
      phase,
      ...(r.main ? { pid: r.main.pid } : {}),
      startedAt: r.startedAt,
      specHash: r.specHash,
      exits: r.exits,
      attached: this.attached.has(r.id),
      limits: r.limits,
      ...(r.accel ? { accel: r.accel } : {}),
    };
  }

  async observe(): Promise<HypervisorObserved> {
    const workloads = new Map<string, Workload>();
    for (const id of this.recordIds()) {
      const r = this.readRecord(id);
      if (!r) continue;
      workloads.set(id, this.toWorkload(this.refresh(r)));
    }
    return { now: this.now(), workloads, attachments: new Map(this.attachments), shares: new Map(this.shares) };
  }

  // ------------------------------------------------------------------------------------------
  // Actions

  async apply(a: HypervisorAction): Promise<void> {
    switch (a.kind) {
      case 'start':
        return this.start(a.id, a.spec, a.specHash, a.run, a.attachment, a.shares);
      case 'stop':
        return this.stop(a.id, a.graceMs);
      case 'restart':
        await this.stop(a.id, a.graceMs);
        return this.start(a.id, a.spec, a.specHash, a.run, a.attachment, a.shares);
      case 'adopt':
        return this.adopt(a.id);
      case 'remove':
        return this.remove(a.id, a.graceMs);
    }
  }

  private async start(id: string, spec: SystemSpec, specHash: string, runNo: number, att: Attachment | undefined, shares: Readonly<Record<string, string>> | undefined): Promise<void> {
    const kind = spec.kind;
    if (kind === undefined) throw new DriverError('no kind: nothing to run', true);
    if (!this.busybox) throw new DriverError('busybox not found (apt-get install busybox-static)', true);
    const prev = this.refresh(this.readRecord(id) ?? ({ phase: 'exited', exits: [] } as unknown as WorkloadRecord));
    if (prev.phase === 'running' && alive(prev.main)) throw new DriverError(`already running (pid ${prev.main!.pid}): not starting a second copy`);
    const dir = this.dirOf(id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of [`exit.${runNo}`, `shim.${runNo}`, `main.${runNo}`]) rmSync(join(dir, f), { force: true });

    // The cgroup: for processes and VMs the shim joins it; runc joins it itself (cgroupsPath).
    const limitMb = kind === 'vm' ? spec.memoryMb + VM_OVERHEAD_MB : spec.memoryMb;
    const cg = this.cg.create(id, { vcpus: spec.vcpus, memoryMb: limitMb });
    const limits: Workload['limits'] = cg.enforced ? { enforced: true, how: cg.how } : { enforced: false, reason: cg.reason };
    const user = resolveUser(kind === 'process' ? spec.process?.user : kind === 'container' ? spec.container?.user : undefined);

    let argv: string[];
    let env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
    let cwd: string | undefined;
    let joinCgroup = true;
    const rec: WorkloadRecord = {
      v: 1,
      id,
      kind,
      run: runNo,
      specHash,
      phase: 'running',
      startedAt: this.now(),
      cgroup: cg.ref,
      limits,
      // runc's leaf of an earlier run is deleted before the launch: only our group's count remains.
      oomBase: this.cg.read(cg.ref).oomKills ?? 0,
      exits: prev.exits ?? [],
      ...(att?.netns ? { netns: att.netns } : {}),
      ...(att?.taps ? { taps: [...att.taps] } : {}),
    };
    try {
      if (kind === 'process') {
        const p = spec.process!;
        argv = [p.command, ...(p.args ?? [])];
        env = { ...env, ...(p.env ?? {}) };
        cwd = p.cwd;
      } else if (kind === 'container') {
        if (!this.runc) throw new DriverError('runc not found (apt-get install runc)', true);
        const c = spec.container!;
        const image = c.image === 'busybox';
        const rootfs = image ? busyboxImage(this.imagesDir, this.busybox) : c.rootfs!;
        if (!existsSync(rootfs)) throw new DriverError(`root file system ${rootfs} does not exist`, true);
        const bundle = join(dir, 'bundle');
        rmSync(bundle, { recursive: true, force: true });
        // runc gets a leaf below our group (limits and OOM count stay on ours, which outlives the container).
        writeBundle({ id, spec, rootfs, bundle, cgroupsPath: this.cg.kind === 'none' ? undefined : this.cg.relative(`${id}/ctr`), runcLimits: !cg.enforced, ...(att?.netns ? { netns: att.netns } : {}), ...(shares ? { shares } : {}), ...(user ? { uid: user.uid, gid: user.gid } : {}) }, image);
        rec.cid = id;
        // A container of that id left in runc's state (a crash mid-stop): ours, remove it first.
        if (existsSync(join(this.runcRoot, id))) await run(this.runc, ['--root', this.runcRoot, 'delete', '--force', id]).catch(() => undefined);
        argv = runcRunArgv(this.runc, this.runcRoot, bundle, id);
        joinCgroup = false;
      } else {
        if (!this.qemu) throw new DriverError('qemu-system-x86_64 not found (apt-get install qemu-system-x86)', true);
        for (const f of ['qmp.sock', 'console.sock']) rmSync(join(dir, f), { force: true });
        try {
          argv = qemuArgv({ qemu: this.qemu, id, dir, accel: this.accel, spec, ...(att?.taps ? { taps: att.taps } : {}), ...(shares ? { shares } : {}) });
        } catch (e) {
          throw new DriverError((e as Error).message, true);
        }
        for (const f of [spec.vm?.kernel, spec.vm?.initramfs]) if (f !== undefined && !existsSync(f)) throw new DriverError(`${f} does not exist on this node`, true);
        rec.accel = this.accel;
      }
    } catch (e) {
      if (e instanceof DriverError) throw e;
      throw new DriverError((e as Error).message);
    }
    // Recorded before the launch: a node killed right after still owns what it started.
    this.writeRecord(rec);
    try {
      const l = await launch({
        busybox: this.busybox,
        dir,
        run: runNo,
        argv,
        env,
        ...(cwd ? { cwd } : {}),
        ...(kind === 'process' && user ? { user } : {}),
        ...(kind === 'process' && att?.netns ? { netns: att.netns } : {}),
        cgroupProcs: joinCgroup ? this.cg.procsFiles(cg.ref) : [],
        stdout: join(dir, 'stdout.log'),
        stderr: join(dir, 'stderr.log'),
      });
      rec.shim = l.shim;
      rec.main = l.main;
    } catch (e) {
      this.writeRecord({ ...rec, phase: 'exited', exits: [...rec.exits, { startedAt: rec.startedAt, at: this.now(), code: null, signal: null, oom: false, requested: false }].slice(-MAX_EXITS) });
      throw new DriverError(`launch failed: ${(e as Error).message}`);
    }
    this.writeRecord(rec);
    this.attached.add(id);
    if (kind === 'vm') void this.connectQmp(id).catch(() => undefined);
  }

  private async adopt(id: string): Promise<void> {
    const r = this.readRecord(id);
    if (!r) throw new DriverError('no ownership record: not ours to adopt', true);
    const now = this.refresh(r);
    if (now.phase !== 'running') return; // it ended meanwhile: the next pass decides
    this.attached.add(id);
    if (r.kind === 'vm') await this.connectQmp(id).catch(() => undefined);
  }

  /** Graceful stop (SIGTERM; VMs: ACPI power-down), forced (SIGKILL; VMs: quit) after graceMs. */
  private async stop(id: string, graceMs: number): Promise<void> {
    let r = this.readRecord(id);
    if (!r) return;
    r = this.refresh(r);
    if (r.phase !== 'running') return;
    r.stopRequested = r.run;
    this.writeRecord(r);
    const main = r.main;
    const ended = (): boolean => this.refresh(this.readRecord(id)!).phase !== 'running';
    const waitEnd = async (ms: number): Promise<boolean> => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (ended()) return true;
        await sleep(20);
      }
      return ended();
    };
    if (r.kind === 'vm') {
      const q = await this.connectQmp(id).catch(() => undefined);
      await q?.powerdown().catch(() => undefined);
      if (await waitEnd(graceMs)) return;
      await q?.quit().catch(() => undefined);
      if (await waitEnd(2000)) return;
    } else if (main) {
      // runc forwards SIGTERM to the container's init (which, as PID 1, may ignore it).
      await signalProcess(main, 'SIGTERM');
      if (await waitEnd(graceMs)) return;
    }
    if (r.kind === 'container' && this.runc && r.cid) await run(this.runc, ['--root', this.runcRoot, 'kill', r.cid, 'KILL']).catch(() => undefined);
    if (main) await signalProcess(main, 'SIGKILL');
    await this.killCgroup(r);
    if (await waitEnd(5000)) return;
    throw new DriverError(`${r.kind} ${id} did not stop within ${graceMs + 7000} ms`);
  }

  /** SIGKILL what is left in the workload's cgroup (children that outlived the main process). */
  private async killCgroup(r: WorkloadRecord): Promise<void> {
    for (const pid of this.cg.pids(r.cgroup)) {
      if (r.shim && pid === r.shim.pid) continue;
      const id = identify(pid);
      // Membership was read from our own cgroup: the process is ours if it is still in it.
      if (id && this.cg.pids(r.cgroup).includes(pid)) await signalProcess(id, 'SIGKILL');
    }
  }

  private async remove(id: string, graceMs: number): Promise<void> {
    const r = this.readRecord(id);
    if (r) {
      await this.stop(id, graceMs);
      // The stopped container runc kept (and its cgroup leaf) goes first.
      if (r.kind === 'container' && this.runc && r.cid && existsSync(join(this.runcRoot, r.cid))) await run(this.runc, ['--root', this.runcRoot, 'delete', '--force', r.cid]).catch(() => undefined);
      const deadline = Date.now() + 3000;
      // The shim exits right after the workload; the cgroup can go once it is empty.
      while (!this.cg.remove(r.cgroup) && Date.now() < deadline) await sleep(20);
    }
    this.closeQmp(id);
    this.attached.delete(id);
    this.lastCpu.delete(id);
    rmSync(this.dirOf(id), { recursive: true, force: true });
  }

  // ------------------------------------------------------------------------------------------
  // VMs: QMP

  private async connectQmp(id: string): Promise<Qmp> {
    const have = this.qmps.get(id);
    if (have?.isOpen) return have;
    const q = await Qmp.connect(qmpPath(this.dirOf(id)), 5000);
    this.qmps.set(id, q);
    q.onEvent = (ev) => {
      if (ev === 'STOP') this.vmPaused.set(id, true);
      else if (ev === 'RESUME') this.vmPaused.set(id, false);
    };
    q.onClose = () => {
      if (this.qmps.get(id) === q) this.qmps.delete(id);
    };
    const st = await q.queryStatus().catch(() => undefined);
    if (st) this.vmPaused.set(id, st.status === 'paused');
    return q;
  }

  private closeQmp(id: string): void {
    this.qmps.get(id)?.close();
    this.qmps.delete(id);
    this.vmPaused.delete(id);
  }

  /** The QMP connection of a running VM (for migration and tests). */
  qmp(id: string): Promise<Qmp> {
    return this.connectQmp(id);
  }

  /** Pause (VMs: QMP stop; others: cgroup freezer) or resume. */
  async pause(id: string, paused: boolean): Promise<void> {
    const r = this.readRecord(id);
    if (!r || this.refresh(r).phase !== 'running') throw new DriverError(`${id} is not running`);
    if (r.kind === 'vm') {
      const q = await this.connectQmp(id);
      await (paused ? q.stop() : q.cont());
      this.vmPaused.set(id, paused);
      return;
    }
    if (!this.cg.freeze(r.cgroup, paused)) throw new DriverError(`cannot ${paused ? 'pause' : 'resume'} a ${r.kind} without a cgroup freezer (${this.cg.detail})`, true);
  }

  /** Where a workload's logs are (stdout, stderr; the serial console for VMs). */
  logs(id: string): { stdout: string; stderr: string; console?: string } {
    const dir = this.dirOf(id);
    return { stdout: join(dir, 'stdout.log'), stderr: join(dir, 'stderr.log'), ...(existsSync(consoleLog(dir)) ? { console: consoleLog(dir) } : {}) };
  }

  // ------------------------------------------------------------------------------------------
  // Stats: cgroup files and /proc only (no process spawned, no QMP round trip per sample)

  async stats(): Promise<Map<ObjectKey, Stats>> {
    const out = new Map<ObjectKey, Stats>();
    const now = this.now();
    for (const id of this.recordIds()) {
      const r = this.readRecord(id);
      if (!r) continue;
      const s: Stats = { restarts: Math.max(0, r.run - 1), exits: r.exits.length };
      if (r.phase === 'running' && alive(r.main)) {
        s.uptimeSeconds = Math.max(0, (now - r.startedAt) / 1000);
        const c = this.cg.read(r.cgroup);
        let cpuUsec = c.cpuUsec;
        if (cpuUsec === undefined && r.main) {
          const st = procStat(r.main.pid);
          if (st) cpuUsec = ((st.utime + st.stime) * 1e6) / CLK_TCK;
        }
        if (cpuUsec !== undefined) {
          s.cpuSeconds = cpuUsec / 1e6;
          const prev = this.lastCpu.get(id);
          if (prev && now > prev.at) s.cpuPercent = Math.max(0, ((cpuUsec - prev.usec) / 1000 / (now - prev.at)) * 100);
          this.lastCpu.set(id, { usec: cpuUsec, at: now });
        }
        if (c.memoryBytes !== undefined) s.memoryBytes = c.memoryBytes;
        else if (r.main) s.memoryBytes = (procStat(r.main.pid)?.rssPages ?? 0) * 4096;
        if (c.memoryPeakBytes !== undefined) s.memoryPeakBytes = c.memoryPeakBytes;
        if (c.memoryLimitBytes !== undefined) s.memoryLimitBytes = c.memoryLimitBytes;
        if (c.ioReadBytes !== undefined) s.ioReadBytes = c.ioReadBytes;
        if (c.ioWriteBytes !== undefined) s.ioWriteBytes = c.ioWriteBytes;
        if (c.oomKills !== undefined) s.oomKills = c.oomKills;
        const net = this.netBytes(r);
        if (net) {
          s.netRxBytes = net.rx;
          s.netTxBytes = net.tx;
        }
      }
      out.set(`system/${id}`, s);
    }
    return out;
  }

  /** Network bytes: the workload's namespace (/proc/<pid>/net/dev) or its taps (host side). */
  private netBytes(r: WorkloadRecord): { rx: number; tx: number } | undefined {
    if (r.taps?.length) {
      let rx = 0;
      let tx = 0;
      for (const t of r.taps) {
        // Host-side tap counters are the guest's reversed.
        const n = (f: string) => Number(readFileSafe(`/sys/class/net/${t}/statistics/${f}`) ?? 0);
        rx += n('tx_bytes');
        tx += n('rx_bytes');
      }
      return { rx, tx };
    }
    if (r.netns && r.main && r.kind === 'process') {
      const text = readFileSafe(`/proc/${r.main.pid}/net/dev`);
      if (!text) return undefined;
      let rx = 0;
      let tx = 0;
      for (const line of text.split('\n').slice(2)) {
        const [name, rest] = line.split(':');
        if (!rest || name!.trim() === 'lo') continue;
        const f = rest.trim().split(/\s+/).map(Number);
        rx += f[0]!;
        tx += f[8]!;
      }
      return { rx, tx };
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const id of [...this.qmps.keys()]) this.closeQmp(id);
  }

  /** For tests: the boot id and identities recorded for a workload. */
  record(id: string): { main?: ProcIdentity; shim?: ProcIdentity; bootId: string; cgroup: CgroupRef } | undefined {
    const r = this.readRecord(id);
    return r ? { ...(r.main ? { main: r.main } : {}), ...(r.shim ? { shim: r.shim } : {}), bootId: bootId(), cgroup: r.cgroup } : undefined;
  }
}

/** runc's group below a container workload's own (see runc.ts: the driver's limits, runc's leaf). */
function leafRef(ref: CgroupRef): CgroupRef {
  return { kind: ref.kind, dirs: Object.fromEntries(Object.entries(ref.dirs).map(([k, d]) => [k, join(d, 'ctr')])) };
}

function readFileSafe(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}
