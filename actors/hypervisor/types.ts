// What the Hypervisor's reconciler sees and asks for: the observed workloads on this node (as
// the driver reports them, from its ownership record checked against the kernel) and the
// actions a driver performs. Shared by the pure core (reconcile.ts), the Linux driver
// (linux.ts) and its in-memory twin (sim.ts).
import type { ObjectKey } from '../cdb/client.ts';
import type { SystemKind, SystemSpec } from '../cdb/schema.ts';

/** One end of a run. `requested`: we stopped it (a stop or restart action), not a crash. */
export interface ExitRecord {
  /** when the run started and ended (driver clock, ms) */
  startedAt: number;
  at: number;
  /** exit code, or null when killed by a signal or unknown */
  code: number | null;
  signal: string | null;
  /** the kernel's OOM killer ended it (the cgroup's oom_kill count went up during the run) */
  oom: boolean;
  requested: boolean;
}

export type WorkloadPhase = 'running' | 'paused' | 'exited';

/** A workload this node's Hypervisor owns (started, possibly by an earlier node process). */
export interface Workload {
  /** the system's id */
  id: string;
  kind: SystemKind;
  /** 1 for the first run, +1 per start */
  run: number;
  phase: WorkloadPhase;
  /** the workload's main process (the process, runc, or qemu) while running */
  pid?: number;
  startedAt: number;
  /** specHash() of the spec it was started with */
  specHash: string;
  /** recent exits, oldest first (bounded) */
  exits: ExitRecord[];
  /** held by this driver instance; false: found running from an earlier node process (adopt it) */
  attached: boolean;
  /** whether the CPU/memory limits are enforced; when not, why (cgroup controller missing…) */
  limits: { enforced: true; how: string } | { enforced: false; reason: string };
  /** VMs: the accelerator in use */
  accel?: 'kvm' | 'tcg';
}

/** What the Network service handed over for a system (netns for processes/containers, taps for VMs). */
export interface Attachment {
  netns?: string;
  taps?: string[];
}

export interface HypervisorObserved {
  /** the driver's clock when it observed (ms): back-off is computed against it, never read */
  now: number;
  workloads: ReadonlyMap<string, Workload>;
  /** network attachments by system id (from the Network service); absent: none known */
  attachments?: ReadonlyMap<string, Attachment>;
  /** share paths by share id (from the Storage service), for container mounts and VM disks */
  shares?: ReadonlyMap<string, string>;
}

interface Base {
  readonly key: ObjectKey;
  /** the system's id */
  readonly id: string;
}

/** Start a run (the first, or a restart after an exit once its back-off has passed). */
export interface StartAction extends Base {
  readonly kind: 'start';
  readonly spec: SystemSpec;
  readonly specHash: string;
  readonly run: number;
  readonly attachment?: Attachment;
  /** share id → path on this node */
  readonly shares?: Readonly<Record<string, string>>;
}
/** Stop gracefully (SIGTERM / ACPI powerdown), forced after graceMs. */
export interface StopAction extends Base {
  readonly kind: 'stop';
  readonly graceMs: number;
}
/** Stop and start again with a new spec (the spec changed under a running workload). */
export interface RestartAction extends Base {
  readonly kind: 'restart';
  readonly spec: SystemSpec;
  readonly specHash: string;
  readonly run: number;
  readonly graceMs: number;
  readonly attachment?: Attachment;
  readonly shares?: Readonly<Record<string, string>>;
}
/** Take over a workload an earlier node process started (reopen its handles, mark it ours). */
export interface AdoptAction extends Base {
  readonly kind: 'adopt';
}
/** Stop if running, then delete what the driver keeps for it (record, cgroup, bundle, logs). */
export interface RemoveAction extends Base {
  readonly kind: 'remove';
  readonly graceMs: number;
}

export type HypervisorAction = StartAction | StopAction | RestartAction | AdoptAction | RemoveAction;
