// npm run bench:runtime [-- --json FILE]
//
// Measures the actor runtime against its anchors in the same run, because
// these machines are shared and noisy: in-thread tell (nact, xstate),
// cross-worker tell and ask (raw postMessage), spawn rate (nact) and memory
// per actor. Every message is a distinct object (structured clone would
// deduplicate a repeated one and flatter the numbers).
import { Worker, MessageChannel } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { createActor, createMachine, assign } from 'xstate';
import { ActorSystem, receive, setup, type ActorRef, type ReplyTo } from '../runtime/actor/index.ts';
import { driver, sink } from './behaviors.ts';

const require = createRequire(import.meta.url);
const nact = require('nact') as typeof import('nact');

const { values } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' } } });
const QUICK = values.quick === true;
const TELL_N = QUICK ? 200_000 : 1_000_000;
const CROSS_N = QUICK ? 200_000 : 1_000_000;
const RAW_N = QUICK ? 50_000 : 200_000;
const ASK_N = QUICK ? 2_000 : 10_000;
/** Round trips before measuring, the same for both (JIT warm-up of the whole path). */
const ASK_WARMUP = QUICK ? 1_000 : 5_000;
const SPAWN_N = QUICK ? 20_000 : 100_000;
const ROUNDS = QUICK ? 1 : 3;

type CounterMsg = { type: 'inc'; by: number } | { type: 'get'; replyTo: ReplyTo<number> };

function best(xs: number[]): number {
  return Math.max(...xs);
}

async function rounds(f: () => Promise<number>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) out.push(await f());
  return best(out);
}

// ---- in-thread tell ------------------------------------------------------

async function acpInThread(): Promise<number> {
  const sys = new ActorSystem();
  const c = sys.spawn(
    setup<CounterMsg>(() => {
      let n = 0;
      return receive<CounterMsg>((ctx, m) => {
        if (m.type === 'inc') n += m.by;
        else ctx.reply(m.replyTo, n);
      });
    }),
    'counter',
    { mailbox: { capacity: TELL_N + 10 } },
  );
  const t0 = performance.now();
  for (let i = 0; i < TELL_N; i++) c.tell({ type: 'inc', by: 1 });
  const n = await c.ask<number>((r) => ({ type: 'get', replyTo: r }), { timeoutMs: 60_000 });
  const ms = performance.now() - t0;
  if (n !== TELL_N) throw new Error(`acp counted ${n}`);
  await sys.shutdown();
  return (TELL_N / ms) * 1000;
}

async function nactInThread(): Promise<number> {
  const system = nact.start();
  const counter = nact.spawn(system, (state: number = 0, msg: { type: string; by?: number; sender?: unknown }, ctx) => {
    if (msg.type === 'inc') return state + (msg.by ?? 1);
    nact.dispatch(msg.sender as never, state);
    return state;
  });
  const t0 = performance.now();
  for (let i = 0; i < TELL_N; i++) nact.dispatch(counter, { type: 'inc', by: 1 });
  const n = (await nact.query(counter, (sender) => ({ type: 'get', sender }), 120_000)) as number;
  const ms = performance.now() - t0;
  if (n !== TELL_N) throw new Error(`nact counted ${n}`);
  nact.stop(system);
  return (TELL_N / ms) * 1000;
}

async function xstateInThread(): Promise<number> {
  const machine = createMachine({
    types: {} as { context: { n: number }; events: { type: 'inc'; by: number } },
    context: { n: 0 },
    on: { inc: { actions: assign({ n: ({ context, event }) => context.n + event.by }) } },
  });
  const actor = createActor(machine).start();
  const t0 = performance.now();
  for (let i = 0; i < TELL_N; i++) actor.send({ type: 'inc', by: 1 });
  const n = actor.getSnapshot().context.n;
  const ms = performance.now() - t0;
  if (n !== TELL_N) throw new Error(`xstate counted ${n}`);
  actor.stop();
  return (TELL_N / ms) * 1000;
}

// ---- cross-worker: ACP ---------------------------------------------------------

async function acpCross(): Promise<{ tell: number; p50: number; p99: number }> {
  const sys = new ActorSystem();
  const s = sys.spawn(sink, 'sink', { placement: { worker: 'b' }, mailbox: { capacity: CROSS_N + 10 } });
  const d = sys.spawn(driver, 'driver', { placement: { worker: 'a' } });
  // Warm up both workers and the channel between them.
  await d.ask<number>((r) => ({ type: 'flood', target: s, n: 10_000, replyTo: r }), { timeoutMs: 60_000 });
  await d.ask<number[]>((r) => ({ type: 'pingpong', target: s, n: ASK_WARMUP, replyTo: r }), { timeoutMs: 60_000 });
  const tells: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const fresh = sys.spawn(sink, `sink${i}`, { placement: { worker: 'b' }, mailbox: { capacity: CROSS_N + 10 } });
    // The spawn travels main→b, the flood a→b: no order between the two channels, so make sure
    // the sink has started before flooding it (else early tells are dead letters and the run fails).
    await fresh.ask<number>((r) => ({ type: 'ping', n: 0, replyTo: r }), { timeoutMs: 60_000 });
    const ms = await d.ask<number>((r) => ({ type: 'flood', target: fresh, n: CROSS_N, replyTo: r }), { timeoutMs: 120_000 });
    tells.push((CROSS_N / ms) * 1000);
  }
  const rtts = await d.ask<number[]>((r) => ({ type: 'pingpong', target: s, n: ASK_N, replyTo: r }), { timeoutMs: 120_000 });
  await sys.shutdown();
  return { tell: best(tells), ...percentiles(rtts) };
}

// ---- cross-worker: raw postMessage baseline -------------------------------------

async function rawCross(): Promise<{ tell: number; p50: number; p99: number }> {
  const url = new URL('./raw-worker.ts', import.meta.url);
  const a = new Worker(url);
  const b = new Worker(url);
  // Wait for the next message from w that carries `key` (others, like flood receipts, are skipped).
  const next = (w: Worker, key: string): Promise<Record<string, unknown>> =>
    new Promise((res) => {
      const on = (m: Record<string, unknown>): void => {
        if (key in m) {
          w.off('message', on);
          res(m);
        }
      };
      w.on('message', on);
    });
  const ch = new MessageChannel();
  const la = next(a, 'linked');
  const lb = next(b, 'linked');
  a.postMessage({ port: ch.port1 }, [ch.port1]);
  b.postMessage({ port: ch.port2 }, [ch.port2]);
  await Promise.all([la, lb]);
  const flood = async (n: number): Promise<number> => {
    const ready = next(b, 'ready');
    b.postMessage({ cmd: 'expect', n });
    await ready;
    const done = next(b, 'done');
    const t0 = performance.now();
    a.postMessage({ cmd: 'flood', n });
    await done;
    return (n / (performance.now() - t0)) * 1000;
  };
  await flood(10_000);
  const tells: number[] = [];
  for (let i = 0; i < ROUNDS; i++) tells.push(await flood(RAW_N));
  const pp = next(a, 'rtts');
  a.postMessage({ cmd: 'pingpong', n: ASK_WARMUP });
  await pp;
  const pp2 = next(a, 'rtts');
  a.postMessage({ cmd: 'pingpong', n: ASK_N });
  const { rtts } = (await pp2) as { rtts: number[] };
  await Promise.all([a.terminate(), b.terminate()]);
  return { tell: best(tells), ...percentiles(rtts) };
}

function percentiles(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((x, y) => x - y);
  return { p50: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]! };
}

// ---- spawn rate and memory --------------------------------------------------

const gc = (globalThis as { gc?: () => void }).gc;

async function acpSpawn(): Promise<{ perSec: number; bytes: number }> {
  const sys = new ActorSystem();
  const idle = receive<{ type: 'x' }>(() => undefined);
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const refs: ActorRef<{ type: 'x' }>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < SPAWN_N; i++) refs.push(sys.spawn(idle, `a${i}`));
  // Spawning is complete once every actor has started; a round trip through the last proves it.
  await new Promise<void>((r) => setImmediate(r));
  const ms = performance.now() - t0;
  gc?.();
  const bytes = (process.memoryUsage().heapUsed - before) / SPAWN_N;
  await sys.shutdown();
  return { perSec: (SPAWN_N / ms) * 1000, bytes };
}

async function nactSpawn(): Promise<number> {
  const system = nact.start();
  const t0 = performance.now();
  for (let i = 0; i < SPAWN_N; i++) nact.spawnStateless(system, () => undefined, `a${i}`);
  await new Promise<void>((r) => setImmediate(r));
  const ms = performance.now() - t0;
  nact.stop(system);
  return (SPAWN_N / ms) * 1000;
}

// ---- run ---------------------------------------------------------------------

const started = performance.now();
const r = {
  inThreadTell: { acp: await rounds(acpInThread), nact: await rounds(nactInThread), xstate: await rounds(xstateInThread) },
  crossWorkerTell: { acp: 0, rawPostMessage: 0 },
  crossWorkerAskP50us: { acp: 0, rawPostMessage: 0 },
  crossWorkerAskP99us: { acp: 0, rawPostMessage: 0 },
  spawnPerSec: { acp: 0, nact: 0 },
  bytesPerActor: { acp: 0 },
};
const raw = await rawCross();
const ours = await acpCross();
r.crossWorkerTell = { acp: ours.tell, rawPostMessage: raw.tell };
r.crossWorkerAskP50us = { acp: ours.p50, rawPostMessage: raw.p50 };
r.crossWorkerAskP99us = { acp: ours.p99, rawPostMessage: raw.p99 };
const sp = await acpSpawn();
r.spawnPerSec = { acp: sp.perSec, nact: await rounds(nactSpawn) };
r.bytesPerActor = { acp: sp.bytes };

const fmt = (n: number): string => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const rows: [string, string, string, string][] = [
  ['in-thread tell (msg/s)', fmt(r.inThreadTell.acp), `nact ${fmt(r.inThreadTell.nact)}, xstate ${fmt(r.inThreadTell.xstate)}`, `${(r.inThreadTell.acp / r.inThreadTell.nact).toFixed(1)}× nact`],
  ['cross-worker tell (msg/s)', fmt(r.crossWorkerTell.acp), `raw ${fmt(r.crossWorkerTell.rawPostMessage)}`, `${(r.crossWorkerTell.acp / r.crossWorkerTell.rawPostMessage).toFixed(1)}× raw`],
  ['cross-worker ask p50 (µs)', fmt(r.crossWorkerAskP50us.acp), `raw ${fmt(r.crossWorkerAskP50us.rawPostMessage)}`, `${(r.crossWorkerAskP50us.acp / r.crossWorkerAskP50us.rawPostMessage).toFixed(2)}× raw`],
  ['cross-worker ask p99 (µs)', fmt(r.crossWorkerAskP99us.acp), `raw ${fmt(r.crossWorkerAskP99us.rawPostMessage)}`, `${(r.crossWorkerAskP99us.acp / r.crossWorkerAskP99us.rawPostMessage).toFixed(2)}× raw`],
  ['spawn (actors/s)', fmt(r.spawnPerSec.acp), `nact ${fmt(r.spawnPerSec.nact)}`, `${(r.spawnPerSec.acp / r.spawnPerSec.nact).toFixed(1)}× nact`],
  ['bytes per idle actor', fmt(r.bytesPerActor.acp), '', ''],
];
const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((x) => x[i]!.length), ['metric', 'acp', 'anchor', 'ratio'][i]!.length));
const line = (x: string[]): string => x.map((c, i) => c.padEnd(w[i]!)).join('  ');
console.log(line(['metric', 'acp', 'anchor', 'ratio']));
console.log(w.map((n) => '-'.repeat(n)).join('  '));
for (const row of rows) console.log(line(row));
console.log(`\n(${ROUNDS} round(s), best of each; ${((performance.now() - started) / 1000).toFixed(1)} s)`);
if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2) + '\n');
