// The generic Raft host: two groups with different state machines on three
// simulated nodes, sharing one transport per node (frames carry the group).
import test from 'ava';
import { ActorSystem } from '../../runtime/actor/index.ts';
import type { ActorRef } from '../../runtime/actor/types.ts';
import { SeededRng } from '../../runtime/env/random.ts';
import { raftHost } from '../../runtime/raft-host/host.ts';
import type { HostStatus, LeaderEvent, ProposeResponse, RaftHostMsg, ReadResponse, StateMachine } from '../../runtime/raft-host/protocol.ts';
import { MemoryDurableLog } from '../../runtime/raft/storage.ts';
import { Buggify } from '../../runtime/sim/buggify.ts';
import { SimNetwork } from '../../runtime/sim/network.ts';
import { SimNode } from '../../runtime/sim/node.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';
import { Trace } from '../../runtime/sim/trace.ts';

/** A counter: entries are decimal increments; apply returns the new total. */
class Counter implements StateMachine<number> {
  total = 0;
  applied = 0;
  apply(index: number, data: string): number {
    this.applied = index;
    this.total += Number(data);
    return this.total;
  }
  snapshot(): string {
    return String(this.total);
  }
  restore(data: string, index: number): void {
    this.total = data === '' ? 0 : Number(data);
    this.applied = index;
  }
}

/** A register of the last string written. */
class Register implements StateMachine<string> {
  value = '';
  apply(_index: number, data: string): string {
    const prev = this.value;
    this.value = data;
    return prev;
  }
  snapshot(): string {
    return this.value;
  }
  restore(data: string): void {
    this.value = data;
  }
}

/** Routes `{ group, msg }` frames to the host of their group (what a node's PeerPort does by channel). */
class RaftRouter {
  readonly #hosts = new Map<string, ActorRef<{ type: 'raft'; msg: never }>>();
  register(group: string, host: ActorRef<{ type: 'raft'; msg: never }>): void {
    this.#hosts.set(group, host);
  }
  deliverFrame(frame: unknown): void {
    const f = frame as { group: string; msg: never };
    this.#hosts.get(f.group)?.tell({ type: 'raft', msg: f.msg });
  }
}

interface Node {
  id: string;
  counter: Counter;
  register: Register;
  hosts: Map<string, ActorRef<RaftHostMsg<never>>>;
  system: ActorSystem;
}

function cluster(seed: number) {
  const sched = new Scheduler();
  const rng = new SeededRng(seed);
  const trace = new Trace(() => sched.now, false);
  const net = new SimNetwork(sched, rng.fork(), trace);
  const buggify = new Buggify(seed, rng.fork(), { enabled: false, siteShare: 0, fireProbability: 0 });
  const ids = ['n1', 'n2', 'n3'];
  const nodes = new Map<string, Node>();
  const framesPerGroup = new Map<string, number>();
  for (const id of ids) {
    const sim = new SimNode(id, sched, buggify, rng.fork());
    const system = new ActorSystem({ name: id, env: sim.env, inThreadOnly: true });
    const router = new RaftRouter();
    // One transport per node, shared by both groups.
    const transport = {
      send: (to: string, group: string, msg: unknown) => {
        framesPerGroup.set(group, (framesPerGroup.get(group) ?? 0) + 1);
        net.send(id, to, { group, msg });
      },
    };
    net.register(id, (_from, frame) => router.deliverFrame(frame), sim);
    const counter = new Counter();
    const register = new Register();
    const common = { id, peers: ids, transport, tickMs: 10, electionTick: 10, heartbeatTick: 1 };
    const c = system.spawn(raftHost<number>({ ...common, group: 'counter', storage: new MemoryDurableLog(), stateMachine: counter, snapshotEvery: 5, compactionMargin: 2 }), 'raft-counter');
    const r = system.spawn(raftHost<string>({ ...common, group: 'register', storage: new MemoryDurableLog(), stateMachine: register }), 'raft-register');
    router.register('counter', c);
    router.register('register', r);
    nodes.set(id, { id, counter, register, system, hosts: new Map<string, ActorRef<RaftHostMsg<never>>>([['counter', c as never], ['register', r as never]]) });
  }
  return { sched, net, nodes, framesPerGroup };
}

async function settle<T>(sched: Scheduler, p: Promise<T>, maxMs = 5000): Promise<T> {
  let done = false;
  let out: T | undefined;
  let err: unknown;
  p.then(
    (v) => ((done = true), (out = v)),
    (e) => ((done = true), (err = e)),
  );
  const until = sched.now + maxMs;
  while (!done && sched.now < until) await sched.runUntil(sched.now + 5);
  if (!done) throw new Error('did not settle');
  if (err) throw err;
  return out as T;
}

function ask<R>(sched: Scheduler, ref: ActorRef<RaftHostMsg<never>>, make: (replyTo: never) => RaftHostMsg<never>): Promise<R> {
  return settle(sched, (ref as ActorRef<RaftHostMsg<unknown>>).ask<R>(make as never, { timeoutMs: 2000 }));
}

async function leaderOf(c: ReturnType<typeof cluster>, group: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    for (const n of c.nodes.values()) {
      const st = await ask<HostStatus>(c.sched, n.hosts.get(group)!, (replyTo) => ({ type: 'status', replyTo }) as never);
      if (st.role === 'leader') return n.id;
    }
    await c.sched.runUntil(c.sched.now + 50);
  }
  throw new Error(`no leader for ${group}`);
}

test('two groups with their own state machines share one transport', async (t) => {
  const c = cluster(7);
  const lc = await leaderOf(c, 'counter');
  const lr = await leaderOf(c, 'register');
  const ch = c.nodes.get(lc)!.hosts.get('counter')!;
  let last = 0;
  for (let i = 1; i <= 12; i++) {
    const r = await ask<ProposeResponse<number>>(c.sched, ch, (replyTo) => ({ type: 'propose', data: String(i), replyTo }) as never);
    t.true('ok' in r, JSON.stringify(r));
    if ('ok' in r) {
      t.is(r.result, last + i);
      last = r.result;
    }
  }
  const rh = c.nodes.get(lr)!.hosts.get('register')!;
  const w = await ask<ProposeResponse<string>>(c.sched, rh, (replyTo) => ({ type: 'propose', data: 'hello', replyTo }) as never);
  t.deepEqual('ok' in w && w.result, '');
  // A follower refuses proposals with a leader hint.
  const follower = [...c.nodes.keys()].find((id) => id !== lc)!;
  const nl = await ask<ProposeResponse<number>>(c.sched, c.nodes.get(follower)!.hosts.get('counter')!, (replyTo) => ({ type: 'propose', data: '1', replyTo }) as never);
  t.deepEqual(nl, { error: 'not-leader', leader: lc });
  // A linearizable read on a follower: once it answers, the follower's state machine has every acknowledged write.
  const rd = await ask<ReadResponse>(c.sched, c.nodes.get(follower)!.hosts.get('counter')!, (replyTo) => ({ type: 'read', replyTo }) as never);
  t.true('ok' in rd, JSON.stringify(rd));
  t.is(c.nodes.get(follower)!.counter.total, 78);
  const rr = await ask<ReadResponse>(c.sched, c.nodes.get(follower)!.hosts.get('register')!, (replyTo) => ({ type: 'read', replyTo }) as never);
  t.true('ok' in rr);
  t.is(c.nodes.get(follower)!.register.value, 'hello');
  // Status, per group.
  const st = await ask<HostStatus>(c.sched, ch, (replyTo) => ({ type: 'status', replyTo }) as never);
  t.is(st.group, 'counter');
  t.is(st.role, 'leader');
  t.deepEqual(st.voters, ['n1', 'n2', 'n3']);
  t.true(st.applied >= 13);
  // Both groups' frames went over the one transport.
  t.true((c.framesPerGroup.get('counter') ?? 0) > 0 && (c.framesPerGroup.get('register') ?? 0) > 0);
  // Empty proposals are refused (empty entries are Raft no-ops).
  const empty = await ask<ProposeResponse<number>>(c.sched, ch, (replyTo) => ({ type: 'propose', data: '', replyTo }) as never);
  t.is('error' in empty && empty.error, 'unavailable');
});

test('leadership watchers see every (lead, term) change; the term only grows', async (t) => {
  const c = cluster(11);
  const events: LeaderEvent[] = [];
  const n3 = c.nodes.get('n3')!;
  const watcher = n3.system.spawn<LeaderEvent, void>(
    (await import('../../runtime/actor/behavior.ts')).receive<LeaderEvent>((_ctx, ev) => {
      events.push(ev);
    }),
    'watcher',
  );
  n3.hosts.get('counter')!.tell({ type: 'watch-leader', ref: watcher } as never);
  const l1 = await leaderOf(c, 'counter');
  await c.sched.runUntil(c.sched.now + 50);
  t.true(events.some((e) => e.lead === l1 && e.group === 'counter'), JSON.stringify(events));
  // Move leadership away; the watcher hears about the new leader at a higher term.
  const other = ['n1', 'n2', 'n3'].find((x) => x !== l1)!;
  const termBefore = events[events.length - 1].term;
  await ask(c.sched, c.nodes.get(l1)!.hosts.get('counter')!, (replyTo) => ({ type: 'admin', req: { kind: 'transfer-leader', to: other }, replyTo }) as never);
  await c.sched.runUntil(c.sched.now + 500);
  const last = events[events.length - 1];
  t.is(last.lead, other);
  t.true(last.term > termBefore);
  for (let i = 1; i < events.length; i++) t.true(events[i].term >= events[i - 1].term);
});
