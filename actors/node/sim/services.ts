// The node services in a simulation: the scenario steps that concern them
// (put an object, attach a workload, a driver fault) and the check of the
// heal-and-converge phase — every machine's links are exactly what the CDB's
// objects ask for (one more reconcile pass on it would do nothing: nothing
// missing, nothing duplicated, nothing leaked), every network is ready on
// each of its nodes, every workload leased one address of its own.
import type { Fault } from '../../../runtime/sim/scenario.ts';
import type { Scheduler } from '../../../runtime/sim/scheduler.ts';
import type { CdbObject } from '../../cdb/client.ts';
import { describeAction, reconcileNetwork } from '../../network/reconcile.ts';
import { SimNetDriver, type SimNetMachine } from '../../network/sim.ts';
import type { NodeApi } from '../api.ts';

type Step = Extract<Fault, { kind: 'apply' | 'attach' }>;
type DriverStep = Extract<Fault, { kind: 'driver' }>;

/** What the steps need of the simulated cluster. */
export interface ServiceHost {
  sched: Scheduler;
  nodes: ReadonlyMap<string, { id: string; index: number; sim: { up: boolean }; api: NodeApi | undefined; net: SimNetMachine }>;
  leader(): string | undefined;
  crash(id: string): void;
  restart(id: string): void;
  fault(what: string, data?: unknown): void;
  /** Problems found by steps after they were applied (an attach that failed): run failures. */
  problems: string[];
}

type Answer = { ok?: boolean; code?: string; message?: string };

/**
 * A CDB put through `node`, re-sent through the leader on not-leader/unavailable or when no answer
 * comes within a second (the node it went to crashed), for up to 5 s.
 */
function put(h: ServiceHost, node: string, object: Record<string, unknown>, createOnly: boolean, done: (r: Answer) => void): void {
  const until = h.sched.now + 5000;
  let settled = false;
  let attemptNo = 0;
  const attempt = (via: string): void => {
    const me = ++attemptNo;
    const api = h.nodes.get(via)?.api;
    const retry = (): void => {
      if (settled || me !== attemptNo) return;
      if (h.sched.now >= until) {
        settled = true;
        return done({ ok: false, code: 'timeout', message: 'no leader took the put' });
      }
      h.sched.after(100, () => attempt(h.leader() ?? node));
    };
    if (!api) return retry();
    h.sched.after(1000, retry);
    api.call('cdb', { op: 'put', object, ...(createOnly ? { expectRevision: 0 } : {}) }, (r) => {
      if (settled || me !== attemptNo) return;
      const a = r as Answer;
      if (!a.ok && (a.code === 'not-leader' || a.code === 'unavailable' || a.code === 'indeterminate')) return retry();
      settled = true;
      done(a);
    });
  };
  attempt(node);
}

export function serviceStep(h: ServiceHost, node: string, f: Step): string | { check?: () => string | undefined } {
  const slot = h.nodes.get(node);
  if (!slot) return `no node ${node}`;
  switch (f.kind) {
    case 'apply': {
      let answer: Answer | undefined;
      put(h, node, f.object, f.createOnly, (r) => {
        answer = r;
        h.fault(`apply ${String(f.object.type)}/${String(f.object.id)} via ${node}: ${r.ok ? 'ok' : `${r.code}`}`);
        if (!r.ok && !(f.createOnly && r.code === 'conflict')) h.problems.push(`apply of ${String(f.object.type)}/${String(f.object.id)} via ${node} failed: ${r.code}: ${r.message}`);
      });
      return { check: () => (answer === undefined ? 'the put was never answered' : undefined) };
    }
    case 'attach': {
      if (!slot.sim.up || !slot.api) return `${node} is down`;
      slot.net.namespaces.add(f.netns);
      let answer: Answer | undefined;
      slot.api.call('network', { op: 'attach', network: f.network, netns: f.netns, timeoutMs: 10_000 }, (r) => {
        answer = r as Answer;
        h.fault(`attach ${f.netns} to ${f.network} on ${node}: ${answer.ok ? `ok ${(r as { address?: string }).address}` : answer.code}`);
        if (!answer.ok) h.problems.push(`attach of ${f.netns} to network ${f.network} on ${node} failed: ${answer.code}: ${answer.message}`);
      });
      return { check: () => (answer === undefined ? 'the attach was never answered' : undefined) };
    }
  }
}

/**
 * A network driver fault (scenario `driver` steps with service "network"): `fail` the next
 * `times` actions of kind `target`; `vanish` link `target` behind the service's back;
 * `crash-mid-action` — the node dies in the middle of its next action (of kind `target`, if
 * given): its ownership record written, the kernel not yet asked — and reboots `restartAfterMs`
 * later. A string is why the fault cannot be applied, else its effect check.
 */
export function networkDriverFault(h: ServiceHost, f: DriverStep, label: string): string | { check: () => string | undefined } {
  const slot = h.nodes.get(f.node);
  if (!slot) return `no node ${f.node}`;
  const m = slot.net;
  switch (f.fault) {
    case 'fail': {
      if (!f.target) return 'fail needs a target action kind (create-bridge, create-vxlan, …)';
      const before = m.failuresFired;
      m.failNext(f.target, f.times, `injected failure of ${f.target}`);
      h.fault(label, f);
      return { check: () => (m.failuresFired >= before + f.times ? undefined : `only ${m.failuresFired - before} of ${f.times} injected ${f.target} failures fired on ${f.node}`) };
    }
    case 'vanish': {
      if (!f.target) return 'vanish needs a target link';
      if (!m.record.has(f.target)) return `link ${f.target} is not the Network service's on ${f.node}`;
      if (!m.vanish(f.target)) return `${f.node} has no link ${f.target}`;
      h.fault(label, f);
      return { check: () => (m.links.has(f.target!) ? undefined : `${f.target} was not put back on ${f.node}`) };
    }
    case 'crash-mid-action': {
      let crashed = '';
      m.crashIn = {
        ...(f.target ? { kind: f.target } : {}),
        // Not from inside the node's own call stack: at the same instant, as the next event.
        fire: (what) => {
          crashed = what;
          h.sched.after(0, () => {
            if (!slot.sim.up) return;
            h.fault(`crash ${f.node} in the middle of ${what}`);
            h.crash(f.node);
            h.sched.after(f.restartAfterMs, () => {
              if (!slot.sim.up) h.restart(f.node);
            });
          });
        },
      };
      h.fault(label, f);
      return { check: () => (crashed ? undefined : `no ${f.target ?? 'network'} action ran on ${f.node} to crash in`) };
    }
    default:
      return `unknown network driver fault "${f.fault}" (fail, vanish, crash-mid-action)`;
  }
}

/** A machine's own invariants: every link is either the service's (recorded) or was there before it (never leaked). */
export function networkInvariants(m: SimNetMachine): string[] {
  const leaked = [...m.links.keys()].filter((n) => !m.record.has(n) && n !== 'lo' && n !== 'ul0');
  return leaked.length ? [`links no record owns: ${leaked.join(', ')}`] : [];
}

/**
 * The converge check: for every running node, its machine's links against the CDB's objects.
 * Returns undefined when settled, else what is not.
 */
export async function servicesUnsettled(h: ServiceHost, objects: CdbObject[]): Promise<string | undefined> {
  const desired = new Map(objects.map((o) => [`${o.type}/${o.id}`, o]));
  for (const slot of h.nodes.values()) {
    if (!slot.sim.up) continue;
    const m = slot.net;
    const d = new SimNetDriver({ machine: m, underlay: { dev: 'ul0', address: `10.77.0.${slot.index}` } });
    const plan = reconcileNetwork(slot.id, desired, await d.observe(), await d.capabilities());
    if (plan.actions.length) return `${slot.id}'s links do not match the objects yet: ${plan.actions.map(describeAction).join(', ')}`;
    for (const [key, c] of plan.status) if (c.state !== 'ready') return `${key} is ${c.state} on ${slot.id}${c.reason ? `: ${c.reason}` : ''}`;
    const leaked = [...m.links.keys()].filter((n) => !m.record.has(n) && n !== 'lo' && n !== 'ul0');
    if (leaked.length) return `${slot.id} has links no record owns: ${leaked.join(', ')}`;
  }
  const addrs = new Map<string, string>();
  for (const o of objects) {
    if (o.type !== 'network' || o.subtype !== 'lease') continue;
    const k = `${o.spec.network} ${o.spec.address}`;
    if (addrs.has(k)) return `address ${o.spec.address} on ${o.spec.network} leased twice: ${addrs.get(k)} and ${o.id}`;
    addrs.set(k, o.id);
  }
  return undefined;
}
