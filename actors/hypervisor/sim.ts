// The Hypervisor driver's in-memory twin, for `acp sim` scenarios and tests: the same
// observe/apply/stats contract as the Linux driver, on the caller's (virtual) clock, with faults
// a scenario injects:
//
//   failNext(kind, …)   the next actions of a kind fail (transient or permanent)
//   exit(id, …)         a running workload ends by itself (crash, exit code, OOM kill)
//   nodeRestart()       the node process dies and comes back: workloads keep running, the new
//                       driver instance holds none of them until it adopts them
//   vanish(id)          a workload disappears without a trace (the machine was reset)
//
// Every start is counted per system, so a scenario can assert that no system ever ran twice
// at once on this node, and that adoption never started a second copy.
import type { ObjectKey, Stats } from '../cdb/client.ts';
import type { SystemSpec } from '../cdb/schema.ts';
import { DriverError, type Capabilities } from '../reconciler/contract.ts';
import type { HypervisorDriver } from './client.ts';
import type { Attachment, ExitRecord, HypervisorAction, HypervisorObserved, Workload } from './types.ts';

interface SimWorkload {
  w: Workload;
  spec: SystemSpec;
  paused: boolean;
  pid: number;
}

export interface SimHypervisorOptions {
  node: string;
  now: () => number;
  capabilities?: Capabilities;
}

export const SIM_CAPABILITIES: Capabilities = {
  busybox: { ok: true, detail: 'simulated' },
  process: { ok: true, detail: 'simulated' },
  cgroup: { ok: true, detail: 'simulated' },
  runc: { ok: true, detail: 'simulated' },
  qemu: { ok: true, detail: 'tcg' },
  kvm: { ok: false, reason: 'simulated: VMs run under TCG' },
};

export class SimHypervisor implements HypervisorDriver {
  readonly node: string;
  private readonly now: () => number;
  caps: Capabilities;
  private readonly ws = new Map<string, SimWorkload>();
  private readonly attached = new Set<string>();
  private failures: { kind: HypervisorAction['kind']; times: number; permanent: boolean; reason: string }[] = [];
  private nextPid = 1000;
  /** every action applied, as "kind id" (for assertions) */
  readonly applied: string[] = [];
  /** starts per system id */
  readonly starts = new Map<string, number>();
  /** the most workloads of one system ever running at once here (must stay ≤ 1) */
  readonly maxConcurrent = new Map<string, number>();
  readonly attachments = new Map<string, Attachment>();
  readonly shares = new Map<string, string>();

  constructor(o: SimHypervisorOptions) {
    this.node = o.node;
    this.now = o.now;
    this.caps = o.capabilities ?? SIM_CAPABILITIES;
  }

  async capabilities(): Promise<Capabilities> {
    return this.caps;
  }

  async observe(): Promise<HypervisorObserved> {
    const workloads = new Map<string, Workload>();
    for (const [id, s] of this.ws) workloads.set(id, { ...s.w, phase: s.w.phase === 'running' && s.paused ? 'paused' : s.w.phase, exits: [...s.w.exits], attached: this.attached.has(id) });
    return { now: this.now(), workloads, attachments: new Map(this.attachments), shares: new Map(this.shares) };
  }

  private fault(kind: HypervisorAction['kind']): void {
    const f = this.failures.find((x) => x.kind === kind && x.times > 0);
    if (!f) return;
    f.times--;
    this.failures = this.failures.filter((x) => x.times > 0);
    throw new DriverError(f.reason, f.permanent);
  }

  private end(s: SimWorkload, e: Omit<ExitRecord, 'startedAt' | 'at'>): void {
    if (s.w.phase === 'exited') return;
    s.w.exits = [...s.w.exits, { startedAt: s.w.startedAt, at: this.now(), ...e }].slice(-16);
    s.w.phase = 'exited';
    delete s.w.pid;
    s.paused = false;
  }

  async apply(a: HypervisorAction): Promise<void> {
    this.fault(a.kind);
    this.applied.push(`${a.kind} ${a.id}`);
    const s = this.ws.get(a.id);
    switch (a.kind) {
      case 'start':
      case 'restart': {
        if (a.kind === 'restart' && s) this.end(s, { code: null, signal: 'SIGTERM', oom: false, requested: true });
        if (s && s.w.phase !== 'exited') throw new DriverError(`already running (pid ${s.w.pid}): not starting a second copy`);
        const pid = this.nextPid++;
        const w: Workload = {
          id: a.id,
          kind: a.spec.kind!,
          run: a.run,
          phase: 'running',
          pid,
          startedAt: this.now(),
          specHash: a.specHash,
          exits: s?.w.exits ?? [],
          attached: true,
          limits: { enforced: true, how: 'simulated' },
          ...(a.spec.kind === 'vm' ? { accel: 'tcg' as const } : {}),
        };
        this.ws.set(a.id, { w, spec: a.spec, paused: false, pid });
        this.attached.add(a.id);
        this.starts.set(a.id, (this.starts.get(a.id) ?? 0) + 1);
        const running = [...this.ws.values()].filter((x) => x.w.id === a.id && x.w.phase !== 'exited').length;
        this.maxConcurrent.set(a.id, Math.max(this.maxConcurrent.get(a.id) ?? 0, running));
        return;
      }
      case 'stop':
        if (s) this.end(s, { code: null, signal: 'SIGTERM', oom: false, requested: true });
        return;
      case 'adopt':
        if (!s) throw new DriverError('no ownership record: not ours to adopt', true);
        this.attached.add(a.id);
        return;
      case 'remove':
        if (s) this.end(s, { code: null, signal: 'SIGTERM', oom: false, requested: true });
        this.ws.delete(a.id);
        this.attached.delete(a.id);
        return;
    }
  }

  async stats(): Promise<Map<ObjectKey, Stats>> {
    const out = new Map<ObjectKey, Stats>();
    const now = this.now();
    for (const [id, s] of this.ws) {
      const st: Stats = { restarts: Math.max(0, s.w.run - 1), exits: s.w.exits.length };
      if (s.w.phase === 'running') {
        const up = Math.max(0, (now - s.w.startedAt) / 1000);
        st.uptimeSeconds = up;
        st.cpuSeconds = s.paused ? 0 : up * 0.01 * s.spec.vcpus;
        st.memoryBytes = Math.floor(s.spec.memoryMb * 1024 * 1024 * 0.25);
        st.memoryLimitBytes = s.spec.memoryMb * 1024 * 1024;
      }
      out.set(`system/${id}`, st);
    }
    return out;
  }

  async pause(id: string, paused: boolean): Promise<void> {
    const s = this.ws.get(id);
    if (!s || s.w.phase === 'exited') throw new DriverError(`${id} is not running`);
    s.paused = paused;
  }

  logs(id: string): { stdout: string; stderr: string } {
    return { stdout: `sim://${this.node}/${id}/stdout`, stderr: `sim://${this.node}/${id}/stderr` };
  }

  // ---- faults ------------------------------------------------------------------------------

  /** The next `times` actions of `kind` fail with `reason`. */
  failNext(kind: HypervisorAction['kind'], times = 1, permanent = false, reason = 'simulated failure'): void {
    this.failures.push({ kind, times, permanent, reason });
  }

  /** A running workload ends by itself. */
  exit(id: string, how: { code?: number | null; signal?: string | null; oom?: boolean } = {}): void {
    const s = this.ws.get(id);
    if (!s) throw new Error(`sim: no workload ${id}`);
    const oom = how.oom ?? false;
    this.end(s, { code: how.code === undefined ? (oom ? null : 1) : how.code, signal: how.signal ?? (oom ? 'SIGKILL' : null), oom, requested: false });
  }

  /** The node process died and came back: workloads run on, held by nobody until adopted. */
  nodeRestart(): void {
    this.attached.clear();
  }

  /** A workload is gone without a trace (no record, no process). */
  vanish(id: string): void {
    this.ws.delete(id);
    this.attached.delete(id);
  }

  /** Ids of the workloads running (or paused) here. */
  running(): string[] {
    return [...this.ws.values()].filter((s) => s.w.phase !== 'exited').map((s) => s.w.id);
  }
}
