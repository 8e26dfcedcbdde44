// The Hypervisor's pure reconciler as a table: (desired systems, observed workloads, caps, now)
// → (actions, condition). Back-off comes from the exit history and the observed time only.
import test from 'ava';
import type { CdbObject } from '../../actors/cdb/client.ts';
import type { SystemSpec } from '../../actors/cdb/schema.ts';
import type { Capabilities, Desired } from '../../actors/reconciler/contract.ts';
import { reconcile, restartDecision, specHash } from '../../actors/hypervisor/reconcile.ts';
import type { ExitRecord, HypervisorObserved, Workload } from '../../actors/hypervisor/types.ts';

const CAPS: Capabilities = { process: { ok: true }, runc: { ok: true }, qemu: { ok: true, detail: 'tcg' }, busybox: { ok: true } };
const proc = (over: Partial<SystemSpec> = {}): SystemSpec => ({ name: 'p', vcpus: 1, memoryMb: 64, kind: 'process', process: { command: '/bin/sleep', args: ['100'] }, node: 'n1', ...over }) as SystemSpec;

function desired(specs: Record<string, SystemSpec>): Desired {
  return new Map(Object.entries(specs).map(([id, spec]) => [`system/${id}`, { type: 'system', id, spec, revision: 1, createdRevision: 1 } as CdbObject]));
}
const exit = (startedAt: number, at: number, over: Partial<ExitRecord> = {}): ExitRecord => ({ startedAt, at, code: 1, signal: null, oom: false, requested: false, ...over });
function wl(id: string, spec: SystemSpec, over: Partial<Workload> = {}): Workload {
  return { id, kind: spec.kind!, run: 1, phase: 'running', pid: 100, startedAt: 0, specHash: specHash(spec), exits: [], attached: true, limits: { enforced: true, how: 'cgroup v1' }, ...over };
}
function obs(now: number, ws: Workload[], more: Partial<HypervisorObserved> = {}): HypervisorObserved {
  return { now, workloads: new Map(ws.map((w) => [w.id, w])), ...more };
}

interface Case {
  name: string;
  specs: Record<string, SystemSpec>;
  observed: HypervisorObserved;
  caps?: Capabilities;
  actions: string[];
  state?: Record<string, string>;
  reason?: Record<string, RegExp>;
}

const S = proc();
const cases: Case[] = [
  { name: 'a new process system is started', specs: { a: S }, observed: obs(0, []), actions: ['start a run=1'], state: { a: 'pending' } },
  { name: 'a running one with the same spec: nothing to do', specs: { a: S }, observed: obs(0, [wl('a', S)]), actions: [], state: { a: 'ready' } },
  { name: 'a system placed on another node is not ours', specs: { a: proc({ node: 'n2' }) }, observed: obs(0, []), actions: [], state: {} },
  { name: 'placement counts like a pin', specs: { a: proc({ node: undefined, placement: { node: 'n1', term: 2 } }) }, observed: obs(0, []), actions: ['start a run=1'] },
  { name: 'unplaced: nothing here', specs: { a: proc({ node: undefined }) }, observed: obs(0, []), actions: [] },
  { name: 'running from an earlier node process: adopted, never started twice', specs: { a: S }, observed: obs(0, [wl('a', S, { attached: false })]), actions: ['adopt a'], state: { a: 'pending' }, reason: { a: /adopting/ } },
  { name: 'spec changed under a running workload: restart', specs: { a: proc({ memoryMb: 128 }) }, observed: obs(0, [wl('a', S)]), actions: ['restart a run=2'] },
  { name: 'autostart false stops a running one', specs: { a: proc({ autostart: false }) }, observed: obs(0, [wl('a', S)]), actions: ['stop a'] },
  { name: 'autostart false and stopped: ready, nothing to do', specs: { a: proc({ autostart: false }) }, observed: obs(0, [wl('a', S, { phase: 'exited', exits: [exit(0, 5, { requested: true })] })]), actions: [], state: { a: 'ready' } },
  { name: 'stopped on request, autostart back on: started at once', specs: { a: S }, observed: obs(6, [wl('a', S, { phase: 'exited', exits: [exit(0, 5, { requested: true, code: 0 })] })]), actions: ['start a run=2'] },
  { name: 'the system was deleted: its workload is removed', specs: {}, observed: obs(0, [wl('a', S)]), actions: ['remove a'] },
  { name: 'moved to another node: removed here, shown removing', specs: { a: proc({ node: 'n2' }) }, observed: obs(0, [wl('a', S)]), actions: ['remove a'], state: { a: 'removing' } },
  { name: 'no kind: unsupported, nothing started', specs: { a: { name: 'r', vcpus: 1, memoryMb: 16, node: 'n1' } }, observed: obs(0, []), actions: [], state: { a: 'unsupported' }, reason: { a: /record only/ } },
  { name: 'no runc on the node: a container is unsupported with the reason', specs: { c: proc({ kind: 'container', process: undefined, container: { image: 'busybox', command: ['true'] } }) }, observed: obs(0, []), caps: { ...CAPS, runc: { ok: false, reason: 'runc not found (apt-get install runc)' } }, actions: [], state: { c: 'unsupported' }, reason: { c: /apt-get install runc/ } },
  { name: 'no qemu: a VM is unsupported', specs: { v: proc({ kind: 'vm', process: undefined, vm: { kernel: '/k' } }) }, observed: obs(0, []), caps: { ...CAPS, qemu: { ok: false, reason: 'qemu-system-x86_64 not found' } }, actions: [], state: { v: 'unsupported' } },
  { name: 'networks not attached yet: waits for the Network service', specs: { a: proc({ networks: ['v100'] }) }, observed: obs(0, []), actions: [], state: { a: 'pending' }, reason: { a: /Network service to attach v100/ } },
  { name: 'networks attached: started in the namespace given', specs: { a: proc({ networks: ['v100'] }) }, observed: obs(0, [], { attachments: new Map([['a', { netns: '/run/netns/acp-a' }]]) }), actions: ['start a run=1 netns=/run/netns/acp-a'] },
  { name: 'a share missing: waits for Storage', specs: { c: proc({ kind: 'container', process: undefined, container: { image: 'busybox', command: ['true'], mounts: [{ share: 'data', target: '/d' }] } }) }, observed: obs(0, []), actions: [], state: { c: 'pending' }, reason: { c: /share data/ } },
  { name: 'limits unsupported: running but degraded, with why', specs: { a: S }, observed: obs(0, [wl('a', S, { limits: { enforced: false, reason: 'no cgroup memory controller' } })]), actions: [], state: { a: 'degraded' }, reason: { a: /no cgroup memory controller/ } },
  // Restart policy and back-off.
  { name: 'always: first failure waits initialMs (1 s)', specs: { a: S }, observed: obs(10_500, [wl('a', S, { phase: 'exited', exits: [exit(10_000, 10_100)] })]), actions: [], state: { a: 'pending' }, reason: { a: /exited with code 1; restarting in 1 s \(back-off 1000 ms after the 1st/ } },
  { name: 'always: started again once the back-off has passed', specs: { a: S }, observed: obs(11_100, [wl('a', S, { phase: 'exited', exits: [exit(10_000, 10_100)] })]), actions: ['start a run=2'] },
  { name: 'back-off doubles per consecutive short run', specs: { a: S }, observed: obs(13_000, [wl('a', S, { run: 3, phase: 'exited', exits: [exit(0, 100), exit(1100, 1200), exit(9000, 9100)] })]), actions: [], reason: { a: /back-off 4000 ms after the 3rd/ } },
  { name: 'a long run resets the back-off', specs: { a: S }, observed: obs(100_001, [wl('a', S, { run: 3, phase: 'exited', exits: [exit(0, 100), exit(1100, 1200), exit(2000, 100_000)] })]), actions: ['start a run=4'] },
  { name: 'back-off is capped at maxMs', specs: { a: proc({ backoff: { initialMs: 100, maxMs: 300 } }) }, observed: obs(10_250, [wl('a', S, { phase: 'exited', exits: Array.from({ length: 8 }, (_, i) => exit(i * 1000, i * 1000 + 10)).concat([exit(10_000, 10_010)]) })]), actions: [], reason: { a: /back-off 300 ms/ } },
  { name: 'on-failure: exit 0 completes, not restarted', specs: { a: proc({ restart: 'on-failure' }) }, observed: obs(99_999, [wl('a', S, { phase: 'exited', exits: [exit(0, 10, { code: 0 })] })]), actions: [], state: { a: 'ready' }, reason: { a: /completed/ } },
  { name: 'on-failure: an OOM kill is restarted after back-off', specs: { a: proc({ restart: 'on-failure' }) }, observed: obs(2000, [wl('a', S, { phase: 'exited', exits: [exit(0, 10, { code: null, signal: 'SIGKILL', oom: true })] })]), actions: ['start a run=2'] },
  { name: 'never: a failure is final', specs: { a: proc({ restart: 'never' }) }, observed: obs(99_999, [wl('a', S, { phase: 'exited', exits: [exit(0, 10, { code: 3 })] })]), actions: [], state: { a: 'failed' }, reason: { a: /exited with code 3; not restarted: restart policy is never/ } },
  { name: 'never, but the spec changed: started at once', specs: { a: proc({ restart: 'never', memoryMb: 100 }) }, observed: obs(20, [wl('a', proc({ restart: 'never' }), { phase: 'exited', exits: [exit(0, 10, { code: 3 })] })]), actions: ['start a run=2'] },
  { name: 'OOM reported as such', specs: { a: proc({ restart: 'never' }) }, observed: obs(99, [wl('a', S, { phase: 'exited', exits: [exit(0, 10, { code: null, signal: 'SIGKILL', oom: true })] })]), actions: [], state: { a: 'failed' }, reason: { a: /OOM killer/ } },
];

function show(a: ReturnType<typeof reconcile>['actions'][number]): string {
  let s = `${a.kind} ${a.id}`;
  if (a.kind === 'start' || a.kind === 'restart') s += ` run=${a.run}` + (a.attachment?.netns ? ` netns=${a.attachment.netns}` : '');
  return s;
}

for (const c of cases) {
  test(c.name, (t) => {
    const plan = reconcile('n1', desired(c.specs), c.observed, c.caps ?? CAPS);
    t.deepEqual(plan.actions.map(show), c.actions);
    for (const [id, state] of Object.entries(c.state ?? {})) t.is(plan.status.get(`system/${id}`)?.state as string | undefined, state, plan.status.get(`system/${id}`)?.reason);
    if (c.state && Object.keys(c.state).length === 0) t.is(plan.status.size, 0);
    for (const [id, re] of Object.entries(c.reason ?? {})) t.regex(plan.status.get(`system/${id}`)?.reason ?? '', re);
  });
}

test('idempotent: once every action has taken effect, a pass plans nothing', (t) => {
  const specs = { a: S, b: proc({ memoryMb: 32 }) };
  const after = obs(0, [wl('a', S), wl('b', specs.b)]);
  t.deepEqual(reconcile('n1', desired(specs), after, CAPS).actions, []);
  t.deepEqual(reconcile('n1', desired(specs), after, CAPS).actions, []);
});

test('restartDecision: no exits means start now; a requested stop restarts at once', (t) => {
  t.like(restartDecision(S, []), { restart: true, at: 0 });
  t.like(restartDecision(S, [exit(0, 10, { requested: true })]), { restart: true, delayMs: 0 });
});

test('specHash ignores name, placement, autostart and restart policy, not the command', (t) => {
  t.is(specHash(S), specHash(proc({ name: 'other', restart: 'never', autostart: false, node: 'n9' })));
  t.not(specHash(S), specHash(proc({ process: { command: '/bin/sleep', args: ['5'] } })));
});
