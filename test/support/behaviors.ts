// Behaviours used by the runtime tests. Worker placements load this module
// by URL, so everything a worker-placed test actor does is declared here.
import { defineBehavior, receive, setup, type ReplyTo, type Behavior } from '../../runtime/actor/index.ts';

export type CounterMsg =
  | { type: 'inc'; by?: number }
  | { type: 'get'; replyTo: ReplyTo<number> }
  | { type: 'boom'; message: string }
  | { type: 'exit'; code: number }
  | { type: 'hog' }
  | { type: 'slowGet'; ms: number; replyTo: ReplyTo<number> }
  | { type: 'never'; replyTo: ReplyTo<number> }
  | { type: 'customError'; replyTo: ReplyTo<number> }
  | { type: 'stop' };

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
        case 'customError': {
          const root = new RangeError('disk quota');
          const e = new Error('write failed', { cause: root }) as Error & { code: string; details: { path: string } };
          e.name = 'StorageError';
          e.code = 'E_QUOTA';
          e.details = { path: '/var/x' };
          ctx2.replyError(msg.replyTo, e);
          return;
        }
        case 'stop':
          return 'stop' as never;
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
