// The inspection event stream: one schema for everything that can be seen
// about actors — live in the inspector, recorded in simulation traces.
//
// Schema (version 1). Every event is a flat, JSON-serialisable object:
//   v        schema version (1)
//   seq      per-thread sequence number (gap-free while someone listens)
//   ts       milliseconds from the Env clock (virtual time in simulation)
//   thread   the thread (or simulated node) that observed it, e.g. "main", "w:cdb", "n1"
//   kind     one of EventKind
//   path     the actor the event is about
//   msgType  the message's `type` field (or its constructor name), when a message is involved
//   msgId    the message's id (unique per system); `causeId`: id of the message whose
//            processing sent this one (0 when sent from outside any actor)
//   corrId   correlation id: inherited from the causing message, new for a fresh request,
//            so a whole request tree shares one corrId
//   target   for 'sent': the receiver's path; `from`: the sender's path, when known
//   reason   for dropped / dead-letter / stopped / crashed: why
//   error    for crashed: { name, message }
//   depth    queue depth after the event, for received / processed
//   incarnation  for spawned / restarted: restart count
//   data     free-form details for kinds added by tools (e.g. the simulator's 'fault')

export type EventKind =
  | 'sent'
  | 'received'
  | 'processed'
  | 'dropped'
  | 'dead-letter'
  | 'spawned'
  | 'stopped'
  | 'crashed'
  | 'restarted'
  | 'escalated'
  | 'worker-died'
  // Simulator additions (same envelope):
  | 'fault'
  | 'buggify'
  | 'invariant'
  | 'note';

export interface InspectionEvent {
  v: 1;
  seq: number;
  ts: number;
  thread: string;
  kind: EventKind;
  path: string;
  msgType?: string;
  msgId?: number;
  causeId?: number;
  corrId?: number;
  target?: string;
  from?: string;
  reason?: string;
  error?: { name: string; message: string };
  depth?: number;
  incarnation?: number;
  data?: unknown;
}

export type EventListener = (e: InspectionEvent) => void;

/**
 * Fan-out of events to listeners. `active` is a plain boolean the hot paths
 * test before building an event object, so the stream costs one branch per
 * message when nobody listens.
 */
export class EventBus {
  active = false;
  #listeners = new Set<EventListener>();
  #seq = 0;
  readonly thread: string;
  readonly now: () => number;
  constructor(thread: string, now: () => number) {
    this.thread = thread;
    this.now = now;
  }
  subscribe(l: EventListener): () => void {
    this.#listeners.add(l);
    this.active = true;
    return () => {
      this.#listeners.delete(l);
      this.active = this.#listeners.size > 0;
    };
  }
  /** Publish an event; callers check `active` first. */
  emit(kind: EventKind, path: string, extra?: Partial<InspectionEvent>): void {
    const e: InspectionEvent = { v: 1, seq: ++this.#seq, ts: this.now(), thread: this.thread, kind, path, ...extra };
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A broken listener must not break the actor that triggered the event.
      }
    }
  }
  /** Re-publish an event observed in another thread (keeps its origin fields). */
  forward(e: InspectionEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        /* as above */
      }
    }
  }
}

/** The `type` of a message for events: its `type` field, else its constructor's name. */
export function messageType(msg: unknown): string {
  if (typeof msg === 'object' && msg !== null) {
    const t = (msg as { type?: unknown }).type;
    if (typeof t === 'string') return t;
    return (msg as object).constructor?.name ?? 'Object';
  }
  return typeof msg;
}
