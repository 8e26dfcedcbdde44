// The shape every node service that makes cluster objects real shares
// (Network, Storage, later the Hypervisor), as Kubernetes controllers do it:
// level-triggered, desired state in, actions out.
//
//   CDB objects (desired) ──┐
//   driver.observe()        ├─► reconcile() ─► Plan { actions, status } ─► driver.apply(action)…
//   driver capabilities ────┘      (pure)                                    (the only I/O)
//
// The reconciler is a pure function: the same (desired, observed, capabilities)
// always yields the same plan, and a world that already matches yields no
// action (idempotent), so the shell can run it again after every change, every
// failure and every restart. The driver is the thin edge: the Linux driver
// touches the kernel, its simulated twin (used by `acp sim`) keeps the same
// resources in memory and can be told to fail. The shell
// (actors/reconciler/service.ts) wires them to the CDB: it watches the
// objects, runs observe → reconcile → apply until nothing is left to do, and
// reports each object's state and stats on this node through the meta/stats
// channel.
import type { CdbObject, ObjectKey, Stats } from '../cdb/client.ts';

/** The state of one object on one node (its meta `state`). */
export const OBJECT_STATES = ['pending', 'ready', 'degraded', 'failed', 'unsupported', 'removing'] as const;
export type ObjectState = (typeof OBJECT_STATES)[number];

/** What a node says about one object: a state and, unless ready, why (for humans: names the thing). */
export interface Condition {
  state: ObjectState;
  reason?: string;
  /** Small facts worth showing beside the state (e.g. how a VLAN was realised: "vxlan", the VNI). */
  info?: Record<string, string | number | boolean>;
}

/** Something the driver does; `key` is the object it serves (a failure is reported on it). */
export interface Action {
  readonly kind: string;
  readonly key: ObjectKey;
}

/**
 * The reconciler's answer: what to do, and the state of every object that concerns this node as
 * the world is now (before the actions run: an object with pending actions is usually `pending`).
 */
export interface Plan<A extends Action> {
  actions: A[];
  status: Map<ObjectKey, Condition>;
  /**
   * Look again after this many ms even if nothing changes: the world will need an action then
   * (a restart whose back-off ends). Level-triggered resyncs would get there too, but late.
   */
  wakeInMs?: number;
}

/** What the node can do, probed once at start: capability name → available or why not. */
export type Capabilities = Record<string, { ok: true; detail?: string } | { ok: false; reason: string }>;

/** The objects of this service's types that exist in the CDB, by key. */
export type Desired = ReadonlyMap<ObjectKey, CdbObject>;

/** A pure reconciler. `node` is this node's name: a service realises only what concerns it. */
export type Reconcile<O, A extends Action> = (node: string, desired: Desired, observed: O, caps: Capabilities) => Plan<A>;

/** A driver failed to perform an action: `reason` is for humans and goes into the object's meta. */
export class DriverError extends Error {
  readonly reason: string;
  /** true when retrying cannot help (the object is then `failed`, not retried until it changes). */
  readonly permanent: boolean;
  constructor(reason: string, permanent = false) {
    super(reason);
    this.name = 'DriverError';
    this.reason = reason;
    this.permanent = permanent;
  }
}

/**
 * The edge between a service and its machine. Every method may be slow (it runs commands or
 * system calls) and returns a promise; the shell never runs two of them at once.
 */
export interface Driver<O, A extends Action> {
  /** What the machine can do for this service (cached by the caller; probing may spawn tools). */
  capabilities(): Promise<Capabilities>;
  /**
   * The resources this service owns on the machine, as they are now: what its ownership record
   * (kept on the node's disk) lists, checked against the kernel. A restarted node adopts them.
   */
  observe(): Promise<O>;
  /** Perform one action. Throws DriverError with a reason on failure. Records what it creates/removes. */
  apply(action: A): Promise<void>;
  /** Latest stats per object key (cheap: sysfs, /proc, netlink; no process per sample). */
  stats(): Promise<Map<ObjectKey, Stats>>;
  /** Release what the driver holds open (not the resources: they outlive the node process). */
  close?(): Promise<void>;
}
