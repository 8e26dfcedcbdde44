// Behaviours used by the runtime tests. Worker placements load this module
// by URL, so everything a worker-placed test actor does is declared here.
import { Stopped, defineBehavior, receive, setup, type ActorRef, type ReplyTo, type Behavior } from '../../runtime/actor/index.ts';

export type CounterMsg =
  | { type: 'inc'; by?: number }
  | { type: 'get'; replyTo: ReplyTo<number> }
  | { type: 'boom'; message: string }
  | { type: 'exit'; code: number }
  | { type: 'hog' }
  | { type: 'slowGet'; ms: number; replyTo: ReplyTo<number> }
  | { type: 'never'; replyTo: ReplyTo<number> }
  | { type: 'customError'; replyTo: ReplyTo<number> }
  | { type: 'customCrash'; replyTo: ReplyTo<number> }
  | { type: 'stop' };

/** The error used by the error-fidelity tests: custom name, cause chain, own fields. */
export function storageError(): Error {
  const root = new RangeError('disk quota');
  (root as RangeError & { limit: number }).limit = 42;
  const e = new Error('write failed', { cause: root }) as Error & { code: string; details: { path: string } };
  e.name = 'StorageError';
  e.code = 'E_QUOTA';
  e.details = { path: '/var/x' };
  return e;
}

export function counterBehavior(start = 0): Behavior<CounterMsg> {
  return setup<CounterMsg>((ctx) => {
    let n = start;
    return receive<CounterMsg>((ctx2, msg) => {
      switch (msg.type) {
        case 'inc':
          n += msg.by ?? 1;
          return;
        case 'get':
          ctx2.reply(msg.replyTo, n);
          return;
        case 'boom':
          throw new Error(msg.message);
        case 'exit':
          process.exit(msg.code);
        case 'hog': {
          // Allocate until the worker's resourceLimits kill it.
          const keep: number[][] = [];
          for (;;) keep.push(new Array(1_000_000).fill(Math.random()));
        }
        case 'slowGet':
          return new Promise<void>((resolve) => {
            ctx.env.setTimer(msg.ms, () => {
              ctx2.reply(msg.replyTo, n);
              resolve();
            });
          });
        case 'never':
          return;
        case 'customError':
          ctx2.replyError(msg.replyTo, storageError());
          return;
        case 'customCrash':
          throw storageError();
        case 'stop':
          return Stopped;
      }
    });
  });
}

export const counter = defineBehavior(import.meta.url, 'counter', (a: { start?: number } | undefined) => counterBehavior(a?.start ?? 0));

export const badInit = defineBehavior(import.meta.url, 'badInit', (_: void) =>
  setup<CounterMsg>(() => {
    throw new Error('init failed');
  }),
);

/** Echoes pings; used for cross-worker latency and relay tests. */
export type EchoMsg = { type: 'ping'; n: number; replyTo: ReplyTo<number> } | { type: 'sink'; n: number } | { type: 'count'; replyTo: ReplyTo<number> };
export const echo = defineBehavior(import.meta.url, 'echo', (_: void) =>
  setup<EchoMsg>(() => {
    let seen = 0;
    return receive<EchoMsg>((ctx, m) => {
      if (m.type === 'ping') ctx.reply(m.replyTo, m.n);
      else if (m.type === 'sink') seen++;
      else ctx.reply(m.replyTo, seen);
    });
  }),
);

/** Forwards to another actor: for worker-to-worker delivery tests. */
export type RelayMsg = { type: 'forward'; to: ActorRef<EchoMsg>; n: number; replyTo: ReplyTo<string> };
export const relay = defineBehavior(import.meta.url, 'relay', (_: void) =>
  receive<RelayMsg>((ctx, m) => {
    m.to.tell({ type: 'sink', n: m.n });
    ctx.reply(m.replyTo, ctx.self.path);
  }),
);

/** Watches an actor and answers an ask when Terminated arrives (watch across threads). */
export type WatcherMsg =
  | { type: 'watch'; target: ActorRef<never>; replyTo: ReplyTo<{ path: string; error?: string }> }
  | { type: 'ready'; replyTo: ReplyTo<boolean> };
export const watcher = defineBehavior(import.meta.url, 'watcher', (_: void) =>
  setup<WatcherMsg>(() => {
    const waiting = new Map<string, ReplyTo<{ path: string; error?: string }>>();
    return receive<WatcherMsg>(
      (ctx, m) => {
        if (m.type === 'watch') {
          waiting.set(m.target.path, m.replyTo);
          ctx.watch(m.target);
        } else ctx.reply(m.replyTo, true);
      },
      (ctx, sig) => {
        if (sig.signal !== 'Terminated') return;
        const r = waiting.get(sig.ref.path);
        if (r) ctx.reply(r, sig.error ? { path: sig.ref.path, error: sig.error.name } : { path: sig.ref.path });
      },
    );
  }),
);

/** Records the order items arrive in; for the link-ordering tests. */
export type OrderMsg =
  | { type: 'item'; n: number; extra?: unknown }
  | { type: 'report'; replyTo: ReplyTo<OrderReport> };
export const orderSink = defineBehavior(import.meta.url, 'orderSink', (_: void) =>
  setup<OrderMsg>(() => {
    let count = 0;
    let last = -1;
    let outOfOrder = 0;
    let extrasIntact = true;
    return receive<OrderMsg>((ctx, m) => {
      if (m.type === 'report') {
        ctx.reply(m.replyTo, { count, outOfOrder, extrasIntact });
        return;
      }
      count++;
      if (m.n !== last + 1) outOfOrder++;
      last = m.n;
      const x = m.extra;
      if (x instanceof Map && x.get('n') !== m.n) extrasIntact = false;
      if (typeof x === 'string' && x.length !== (m.n % 7) * 40_000) extrasIntact = false;
    });
  }),
);

/**
 * Sends `n` items to an orderSink in batches that take every path of a link,
 * back to back with no pause between them: plain batches (the ring), batches
 * with a Map (structured clone: the port), batches too large for the ring
 * (the port), and runs long enough to fill it. A batch is full at 2048 items,
 * so segments of that size are batches of their own.
 */
type OrderReport = { count: number; outOfOrder: number; extrasIntact: boolean };
export type MixerMsg = { type: 'mix'; target: ActorRef<OrderMsg>; n: number; replyTo: ReplyTo<OrderReport> };
export const mixer = defineBehavior(import.meta.url, 'mixer', (_: void) =>
  receive<MixerMsg>(async (_ctx, m) => {
    const SEGMENT = 2048;
    for (let i = 0; i < m.n; i++) {
      const segment = Math.floor(i / SEGMENT);
      const first = i % SEGMENT === 0;
      if (first && segment % 3 === 1) m.target.tell({ type: 'item', n: i, extra: new Map([['n', i]]) });
      else if (first && segment % 3 === 2) m.target.tell({ type: 'item', n: i, extra: 'x'.repeat((i % 7) * 40_000) });
      else m.target.tell({ type: 'item', n: i });
      // Now and then let the sink catch up (else its mailbox overflows).
      if (first && segment % 8 === 7) await new Promise<void>((r) => setImmediate(r));
    }
    // Asked on the same link, so the report comes after every item.
    _ctx.reply(m.replyTo, await m.target.ask<OrderReport>((replyTo) => ({ type: 'report', replyTo }), { timeoutMs: 30_000 }));
  }),
);

/** Where lifecycle behaviours report what happened to them, in order. */
export type LineMsg = { type: 'line'; line: string };
export type LifecycleMsg = { type: 'crash'; message: string } | { type: 'ping'; replyTo: ReplyTo<string> };
/**
 * Reports its start and its signals to `log`. Its PreRestart cleanup takes a
 * few microtasks, so a restart that did not wait for it would log `start`
 * before `cleanup done`.
 */
export const lifecycle = defineBehavior(import.meta.url, 'lifecycle', (a: { log: ActorRef<LineMsg>; name: string }) =>
  setup<LifecycleMsg>(() => {
    a.log.tell({ type: 'line', line: `${a.name} start` });
    return receive<LifecycleMsg>(
      (ctx, m) => {
        if (m.type === 'crash') throw new Error(m.message);
        ctx.reply(m.replyTo, a.name);
      },
      async (_ctx, sig) => {
        if (sig.signal === 'PreRestart') {
          a.log.tell({ type: 'line', line: `${a.name} PreRestart ${sig.error.message}` });
          for (let i = 0; i < 5; i++) await Promise.resolve();
          a.log.tell({ type: 'line', line: `${a.name} cleanup done` });
        } else if (sig.signal === 'PostStop') a.log.tell({ type: 'line', line: `${a.name} PostStop` });
      },
    );
  }),
);

/** Spawns a child on its own thread at start; can kill its whole worker. */
export type NestMsg = { type: 'kid'; replyTo: ReplyTo<ActorRef<CounterMsg>> } | { type: 'exit'; code: number };
export const nest = defineBehavior(import.meta.url, 'nest', (_: void) =>
  setup<NestMsg>((ctx) => {
    const kid = ctx.spawn(counter, 'kid', { args: { start: 0 } });
    return receive<NestMsg>((c, m) => {
      if (m.type === 'kid') c.reply(m.replyTo, kid);
      else process.exit(m.code);
    });
  }),
);
