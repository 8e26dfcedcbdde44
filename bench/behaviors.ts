// Actors used by the runtime benchmark; workers load them by module URL.
import { defineBehavior, receive, setup, type ActorRef, type ReplyTo } from '../runtime/actor/index.ts';

export type SinkMsg = { type: 'item'; n: number } | { type: 'await'; count: number; replyTo: ReplyTo<number> } | { type: 'ping'; n: number; replyTo: ReplyTo<number> };

/** Counts items; answers `await` once `count` items have arrived. */
export const sink = defineBehavior(import.meta.url, 'sink', (_: void) =>
  setup<SinkMsg>(() => {
    let seen = 0;
    let waiting: { count: number; replyTo: ReplyTo<number> } | null = null;
    return receive<SinkMsg>((ctx, m) => {
      if (m.type === 'item') {
        seen++;
        if (waiting !== null && seen >= waiting.count) {
          ctx.reply(waiting.replyTo, seen);
          waiting = null;
        }
      } else if (m.type === 'ping') {
        ctx.reply(m.replyTo, m.n);
      } else if (seen >= m.count) ctx.reply(m.replyTo, seen);
      else waiting = { count: m.count, replyTo: m.replyTo };
    });
  }),
);

export type DriverMsg =
  | { type: 'flood'; target: ActorRef<SinkMsg>; n: number; replyTo: ReplyTo<number> }
  | { type: 'pingpong'; target: ActorRef<SinkMsg>; n: number; replyTo: ReplyTo<number[]> };

/** Drives load at another actor from inside a worker: a flood of tells, or sequential asks. */
export const driver = defineBehavior(import.meta.url, 'driver', (_: void) =>
  receive<DriverMsg>(async (ctx, m) => {
    if (m.type === 'flood') {
      const t0 = performance.now();
      for (let i = 0; i < m.n; i++) m.target.tell({ type: 'item', n: i });
      await m.target.ask<number>((r) => ({ type: 'await', count: m.n, replyTo: r }), { timeoutMs: 60_000 });
      ctx.reply(m.replyTo, performance.now() - t0);
      return;
    }
    const rtts: number[] = [];
    for (let i = 0; i < m.n; i++) {
      const t0 = performance.now();
      await m.target.ask<number>((r) => ({ type: 'ping', n: i, replyTo: r }), { timeoutMs: 10_000 });
      rtts.push((performance.now() - t0) * 1000);
    }
    ctx.reply(m.replyTo, rtts);
  }),
);
