// OTP-style supervisor as a behaviour: a list of child specs started in
// order, supervised with a strategy and restart intensity, stopped in
// reverse order. Any actor can also supervise ad-hoc children via
// ctx.spawn; this is the declarative form for service trees.
import type { ActorRef, Behavior, BehaviorFactory, MailboxOptions, Placement, ReplyTo } from './types.ts';
import { receive, setup } from './behavior.ts';
import type { RestartType, SupervisorStrategy } from '../supervision/decide.ts';

export interface ChildSpec {
  id: string;
  behavior: Behavior<any> | BehaviorFactory<any, any>;
  args?: unknown;
  /** Default `permanent`, as in OTP. */
  restart?: RestartType;
  shutdownMs?: number;
  placement?: Placement;
  mailbox?: MailboxOptions;
  /** Called with the child's ref each time the supervisor starts it (e.g. to register it by a key). */
  onStart?: (ref: ActorRef<unknown>) => void;
}

export type SupervisorMsg =
  | { type: 'which_children'; replyTo: ReplyTo<{ id: string; path: string }[]> }
  | { type: 'terminate_child'; id: string };

export function supervisor(strategy: SupervisorStrategy, specs: readonly ChildSpec[]): Behavior<SupervisorMsg> {
  return setup<SupervisorMsg>((ctx) => {
    const refs = new Map<string, ActorRef<unknown>>();
    for (const s of specs) {
      const ref = ctx.spawn(s.behavior, s.id, {
          restart: s.restart ?? 'permanent',
          ...(s.shutdownMs !== undefined ? { shutdownMs: s.shutdownMs } : {}),
          ...(s.placement ? { placement: s.placement } : {}),
          ...(s.mailbox ? { mailbox: s.mailbox } : {}),
          args: s.args,
        });
      refs.set(s.id, ref);
      s.onStart?.(ref);
    }
    return {
      ...receive<SupervisorMsg>((ctx, msg) => {
        switch (msg.type) {
          case 'which_children':
            ctx.reply(msg.replyTo, ctx.children().map((c) => ({ id: c.path.slice(c.path.lastIndexOf('/') + 1), path: c.path })));
            return;
          case 'terminate_child': {
            const r = refs.get(msg.id);
            if (r && ctx.children().some((c) => c.path === r.path)) ctx.stop(r as ActorRef<never>);
            refs.delete(msg.id);
            return;
          }
        }
      }),
      strategy,
    };
  });
}
