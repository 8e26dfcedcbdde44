// Scenario scripts: a cluster, a workload, a fault schedule (or a nemesis that
// derives faults from the seed), and the checks. Scripts in
// fixtures/scenarios/*.ts default-export `defineScenario({...})`.
//
// Validation happens here, at definition time, and produces ONE clear line per
// problem (ScenarioError) — never a stack trace — because the author of a
// script is a user of the product.
import { z } from 'zod';

/** Who a fault targets: a node id ("n3"), or a role resolved when the fault fires. */
const nodeRef = z.string().regex(/^(n\d+|leader|follower|any)$/, 'a node id like "n2", or "leader" / "follower" / "any"');
const nodeId = z.string().regex(/^n\d+$/, 'a node id like "n2"');
const prob = z.number().min(0).max(1);

const faultSchemas = [
  z.object({ kind: z.literal('crash'), node: nodeRef }),
  z.object({ kind: z.literal('restart'), node: nodeId.or(z.literal('all')) }),
  z.object({ kind: z.literal('partition'), groups: z.array(z.array(nodeId).min(1)).min(2) }),
  z.object({ kind: z.literal('partition-one-way'), from: nodeRef, to: nodeRef }),
  /** Cut a minority (containing the leader when `leader` is true) from the majority. */
  z.object({ kind: z.literal('partition-minority'), withLeader: z.boolean().default(true) }),
  /** Two halves that can talk only through one bridge node. */
  z.object({ kind: z.literal('partition-bridge'), bridge: nodeRef.optional() }),
  z.object({ kind: z.literal('isolate'), node: nodeRef }),
  z.object({ kind: z.literal('heal') }),
  z.object({ kind: z.literal('clog'), node: nodeRef }),
  z.object({ kind: z.literal('clog-link'), from: nodeRef, to: nodeRef }),
  z.object({ kind: z.literal('unclog'), node: nodeRef.optional() }),
  z.object({ kind: z.literal('loss'), probability: prob }),
  z.object({ kind: z.literal('duplication'), probability: prob }),
  z.object({ kind: z.literal('reorder'), probability: prob }),
  z.object({ kind: z.literal('clock-jump'), node: nodeRef, deltaMs: z.number() }),
  z.object({ kind: z.literal('clock-drift'), node: nodeRef, drift: z.number().min(-0.5).max(0.5) }),
  z.object({ kind: z.literal('pause'), node: nodeRef }),
  z.object({ kind: z.literal('resume'), node: nodeId.or(z.literal('all')) }),
  z.object({ kind: z.literal('disk-full'), node: nodeRef }),
  z.object({ kind: z.literal('disk-ok'), node: nodeId.or(z.literal('all')) }),
  z.object({ kind: z.literal('disk-corrupt-reads'), node: nodeRef, probability: prob }),
  /** Crash the node the next time it starts persisting a snapshot received from the leader; reboot it after restartAfterMs. */
  z.object({ kind: z.literal('crash-during-snapshot-install'), node: nodeRef, restartAfterMs: z.number().min(0).default(200) }),
  z.object({ kind: z.literal('add-voter'), node: nodeId }),
  z.object({ kind: z.literal('add-learner'), node: nodeId }),
  z.object({ kind: z.literal('remove'), node: nodeRef }),
  z.object({ kind: z.literal('transfer-leader'), to: nodeRef.optional() }),
  // ---- the node services (objects they realise, workloads, their drivers' faults)
  /** Put a CDB object through `node` (retried on not-leader); `createOnly`: expectRevision 0, so a race has one winner. */
  z.object({ kind: z.literal('apply'), node: nodeRef, object: z.record(z.string(), z.unknown()), createOnly: z.boolean().default(false) }),
  /** Attach a workload (a namespace on that machine) to a network through `node`'s Network service; it must succeed. */
  z.object({ kind: z.literal('attach'), node: nodeRef, network: z.string().min(1), netns: z.string().min(1) }),
  /**
   * A fault of a node service's driver (its simulated machine): `fault` names it, e.g. for
   * storage: `vanish` (device `target` disappears), `fail` (the next `times` actions of kind
   * `target` fail), `crash-mid-action` (the node crashes right after the next action — of kind
   * `target`, if given — took effect, before the service learns it; rebooted after restartAfterMs).
   */
  z.object({
    kind: z.literal('driver'),
    node: nodeId,
    service: z.string().regex(/^[a-z]+$/, 'a service name like "storage"'),
    fault: z.string().min(1),
    target: z.string().min(1).optional(),
    times: z.number().int().min(1).default(1),
    restartAfterMs: z.number().min(0).default(200),
  }),
] as const;

export const FAULT_KINDS: readonly string[] = faultSchemas.map((s) => s.shape.kind.value);

const faultSchema = z.discriminatedUnion('kind', faultSchemas);

export type Fault = z.infer<typeof faultSchema>;
export type FaultKind = Fault['kind'];

const stepSchema = z.intersection(z.object({ at: z.number().min(0) }), faultSchema);
export type FaultStep = z.infer<typeof stepSchema>;

export const NEMESIS_KINDS = [
  'crash',
  'partition',
  'partition-one-way',
  'partition-minority',
  'partition-bridge',
  'clog',
  'loss',
  'duplication',
  'clock-jump',
  'pause',
  'disk-full',
  'transfer-leader',
] as const;

const latencySchema = z.object({
  minMs: z.number().min(0),
  jitterMs: z.number().min(0),
  tailProbability: prob,
  tailMs: z.number().min(0),
});

const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    cluster: z.object({
      /** Initial voters n1..nN. */
      nodes: z.number().int().min(1).max(15),
      /** Extra machines n(N+1).. started empty, not members until added. */
      spares: z.number().int().min(0).max(10).default(0),
      tickMs: z.number().positive().default(10),
      electionTicks: z.number().int().min(2).default(10),
      heartbeatTicks: z.number().int().min(1).default(1),
      /** Take a snapshot (and compact) every N applied entries. */
      snapshotEvery: z.number().int().min(1).default(200),
      /** Entries kept after compaction so slightly lagging followers avoid a snapshot. */
      compactionMargin: z.number().int().min(0).default(20),
      /** Initial random clock offset per node, up to ± this (ms). */
      maxClockSkewMs: z.number().min(0).default(0),
    }),
    network: z
      .object({
        latency: latencySchema.optional(),
        loss: prob.default(0),
        duplication: prob.default(0),
        reorder: prob.default(0),
      })
      .default({ loss: 0, duplication: 0, reorder: 0 }),
    buggify: z.boolean().default(true),
    workload: z.object({
      clients: z.number().int().min(0).max(100),
      keys: z.number().int().min(1).default(3),
      /** Per-operation deadline: past it the outcome is unknown (pending in the history). */
      opTimeoutMs: z.number().positive().default(1000),
      /** Pause between a client's operations. */
      thinkMs: z.number().min(0).default(5),
      /** Operation mix on CDB objects: read = linearizable get, write = put, cas = put with expectRevision, delete. */
      mix: z
        .object({ read: z.number().min(0), write: z.number().min(0), cas: z.number().min(0), delete: z.number().min(0).default(0.05) })
        .default({ read: 0.4, write: 0.4, cas: 0.2, delete: 0.05 }),
    }),
    /**
     * CDB objects (as `acp apply` takes them) put create-only once the cluster takes writes: the
     * desired state of the node services. After the heal each must reach the state `expect`
     * gives for its key ("type/id"), by default `ready`.
     */
    objects: z.array(z.record(z.string(), z.unknown())).max(1000).default([]),
    expect: z.record(z.string(), z.string()).default({}),
    /** Length of the faulty (safety) phase, in virtual ms. */
    durationMs: z.number().positive(),
    faults: z.array(stepSchema).default([]),
    nemesis: z
      .object({
        /** Mean time between nemesis actions (ms). */
        intervalMs: z.number().positive(),
        kinds: z.array(z.enum(NEMESIS_KINDS)).min(1).default([...NEMESIS_KINDS]),
        /** How long a nemesis fault lasts before it is undone (ms). */
        faultMs: z.number().positive().default(1000),
      })
      .optional(),
    /** Heal-and-converge phase: everything is repaired, then the cluster must converge within this time. */
    converge: z.object({ timeoutMs: z.number().positive().default(20_000), writes: z.number().int().min(1).default(3) }).default({ timeoutMs: 20_000, writes: 3 }),
    /** Check the Raft safety invariants every this many virtual ms (they are also checked on every event they concern). */
    invariantEveryMs: z.number().positive().default(500),
  })
  .strict();

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema> & { readonly $scenario: true };

/** A problem with a scenario script or its arguments: reported as one line, exit code 2. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

export function nodeIds(s: Pick<Scenario, 'cluster'>): string[] {
  const ids: string[] = [];
  for (let i = 1; i <= s.cluster.nodes + s.cluster.spares; i++) ids.push('n' + i);
  return ids;
}

/** Validate and fill defaults. Throws ScenarioError with one line naming the first problem. */
export function defineScenario(input: ScenarioInput): Scenario {
  const parsed = scenarioSchema.safeParse(input);
  const name = typeof (input as { name?: unknown })?.name === 'string' ? (input as { name: string }).name : '(unnamed)';
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    let msg = issue.message;
    if (issue.code === 'invalid_union' || /discriminator/i.test(msg)) {
      const kindPath = issue.path.at(-1) === 'kind' ? issue.path : issue.path.concat('kind');
      const kind = lookup(input, kindPath);
      msg = `unknown fault kind ${kind === undefined ? '(missing)' : JSON.stringify(kind)} (known: ${FAULT_KINDS.join(', ')})`;
    }
    throw new ScenarioError(`scenario "${name}": ${where}: ${msg}`);
  }
  const s = parsed.data;
  const ids = new Set(nodeIds(s));
  const check = (ref: unknown, where: string): void => {
    if (typeof ref === 'string' && /^n\d+$/.test(ref) && !ids.has(ref)) {
      throw new ScenarioError(`scenario "${name}": ${where}: node ${ref} does not exist (cluster has ${[...ids].join(', ')})`);
    }
  };
  s.faults.forEach((f, i) => {
    const where = `faults.${i} (${f.kind} at ${f.at}ms)`;
    if (f.at > s.durationMs) throw new ScenarioError(`scenario "${name}": ${where}: time is after the end of the run (durationMs ${s.durationMs})`);
    for (const [k, v] of Object.entries(f)) {
      if (k === 'groups') (v as string[][]).forEach((g) => g.forEach((n) => check(n, where)));
      else if (k === 'node' || k === 'from' || k === 'to' || k === 'bridge') check(v, where);
    }
    if (f.kind === 'partition') {
      const seen = new Set<string>();
      for (const g of f.groups) for (const n of g) {
        if (seen.has(n)) throw new ScenarioError(`scenario "${name}": ${where}: node ${n} is in two partition groups`);
        seen.add(n);
      }
    }
  });
  const mix = s.workload.mix;
  if (mix.read + mix.write + mix.cas + mix.delete <= 0) throw new ScenarioError(`scenario "${name}": workload.mix: at least one of read/write/cas/delete must be positive`);
  return Object.assign(s, { $scenario: true as const });
}

function lookup(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

export function isScenario(x: unknown): x is Scenario {
  return typeof x === 'object' && x !== null && (x as { $scenario?: unknown }).$scenario === true;
}
