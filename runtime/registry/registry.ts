// Finding services by a typed key (Akka Typed's Receptionist, OTP's
// registered names). The node registers what it started under a ServiceKey;
// a service that needs another one looks it up — or subscribes, to learn of
// it as soon as it is registered — instead of typing a path and guessing the
// runtime's thread naming. The key carries the service's message type, so a
// lookup yields a correctly typed ActorRef.
//
// The registry is one actor per node (in the node's main thread); its ref is
// handed to services by the node, like every other port.
import { receive, setup } from '../actor/behavior.ts';
import type { ActorContext, ActorRef, Behavior, ReplyTo } from '../actor/types.ts';

/** A typed name for a service. `M` is the service's message type. */
export interface ServiceKey<M> {
  readonly id: string;
  /** Phantom: ties the key to the service's message type; never present at run time. */
  readonly $msg?: (m: M) => void;
}

export function serviceKey<M>(id: string): ServiceKey<M> {
  return { id };
}

/** What a subscriber receives: the key's current ref (undefined while unregistered). */
export interface Listing {
  type: 'listing';
  key: string;
  ref: ActorRef<never> | undefined;
}

export type RegistryMsg =
  | { type: 'register'; key: string; ref: ActorRef<never> }
  | { type: 'unregister'; key: string; ref: ActorRef<never> }
  | { type: 'find'; key: string; replyTo: ReplyTo<ActorRef<never> | null> }
  | { type: 'subscribe'; key: string; ref: ActorRef<Listing> }
  | { type: 'list'; replyTo: ReplyTo<{ key: string; path: string }[]> };

export function registerMsg<M>(key: ServiceKey<M>, ref: ActorRef<M>): RegistryMsg {
  return { type: 'register', key: key.id, ref: ref as unknown as ActorRef<never> };
}

export function subscribeMsg<M>(key: ServiceKey<M>, ref: ActorRef<Listing>): RegistryMsg {
  return { type: 'subscribe', key: key.id, ref };
}

/** The ref a Listing carries, typed by the key it was asked for. */
export function listed<M>(key: ServiceKey<M>, l: Listing): ActorRef<M> | undefined {
  return l.key === key.id ? (l.ref as unknown as ActorRef<M> | undefined) : undefined;
}

/**
 * The registry actor. `mirror`, when given, is kept equal to its table, for
 * code in the same thread that is not an actor (the node's control socket).
 */
export function registry(mirror?: Map<string, ActorRef<never>>): Behavior<RegistryMsg> {
  return setup<RegistryMsg>(() => {
    const refs = mirror ?? new Map<string, ActorRef<never>>();
    const subs = new Map<string, Set<ActorRef<Listing>>>();
    const notify = (key: string): void => {
      const ref = refs.get(key);
      for (const s of subs.get(key) ?? []) s.tell({ type: 'listing', key, ref });
    };
    return receive<RegistryMsg>(
      (c: ActorContext<RegistryMsg>, msg) => {
        switch (msg.type) {
          case 'register':
            // A restarted service keeps its path: re-registering the same ref is a no-op for watchers.
            if (refs.get(msg.key)?.path === msg.ref.path) return;
            refs.set(msg.key, msg.ref);
            notify(msg.key);
            return;
          case 'unregister':
            if (refs.get(msg.key)?.path !== msg.ref.path) return;
            refs.delete(msg.key);
            notify(msg.key);
            return;
          case 'find':
            c.reply(msg.replyTo, refs.get(msg.key) ?? null);
            return;
          case 'subscribe': {
            let s = subs.get(msg.key);
            if (!s) subs.set(msg.key, (s = new Set()));
            s.add(msg.ref);
            msg.ref.tell({ type: 'listing', key: msg.key, ref: refs.get(msg.key) });
            return;
          }
          case 'list':
            c.reply(
              msg.replyTo,
              [...refs].map(([key, ref]) => ({ key, path: ref.path })).sort((a, b) => a.key.localeCompare(b.key)),
            );
            return;
        }
      },
    );
  });
}
