// Compile-time guarantees of the typed API. `tsc --noEmit` (part of `npm test`)
// checks this file: each @ts-expect-error must sit on a line that really is a
// type error, or the build fails. Nothing here is meant to run except the
// trivial assertion at the end.
import test from 'ava';
import { receive, type ActorContext, type ActorRef, type ReplyTo } from '../../runtime/actor/index.ts';

type Msg = { type: 'inc'; by: number } | { type: 'get'; replyTo: ReplyTo<number> };

// Only ever type-checked, never called.
export async function typeChecks(ref: ActorRef<Msg>, ctx: ActorContext<Msg>, r: ReplyTo<number>): Promise<void> {
  // Fine:
  ref.tell({ type: 'inc', by: 1 });
  const n: number = await ref.ask<number>((replyTo) => ({ type: 'get', replyTo }));
  ctx.reply(r, n + 1);
  ctx.replyError(r, new Error('x'));
  void ref.offer({ type: 'inc', by: 2 });

  // A message outside the actor's union:
  // @ts-expect-error 'dec' is not a Msg
  ref.tell({ type: 'dec', by: 1 });
  // @ts-expect-error `by` must be a number
  ref.tell({ type: 'inc', by: 'one' });
  // @ts-expect-error offer is typed like tell
  void ref.offer({ type: 'reset' });

  // Asking with the wrong reply type: the request carries a ReplyTo<number>.
  // @ts-expect-error ReplyTo<string> is not a ReplyTo<number>
  await ref.ask<string>((replyTo) => ({ type: 'get', replyTo }));
  // @ts-expect-error the answer is a number, not a string
  const s: string = await ref.ask<number>((replyTo) => ({ type: 'get', replyTo }));
  void s;

  // Replying with the wrong type:
  // @ts-expect-error a ReplyTo<number> takes a number
  ctx.reply(r, 'not a number');
  // @ts-expect-error nor an object
  ctx.reply(r, { n: 1 });

  // A handler of another message type cannot be used for this actor.
  const other = receive<{ type: 'x' }>(() => undefined);
  // @ts-expect-error behaviour of another message type
  ctx.spawn<Msg, void>(other, 'child');
}

test('typed API: the compile-time checks in this file are enforced by tsc', (t) => {
  t.is(typeof typeChecks, 'function');
});
