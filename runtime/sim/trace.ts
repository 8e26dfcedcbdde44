// The run's trace: JSON lines in the runtime's inspection-event schema
// (runtime/inspect/events.ts). Actor events come from each node's ActorSystem
// as they are (their `ts` is the node's own, possibly skewed, clock); the
// simulator's own events (kind fault / buggify / invariant / note / dropped)
// use the same envelope with thread "sim" (or the node id) and `ts` = virtual
// time. Every line also carries `vt`, the virtual time it was recorded at, so
// lines from different nodes sort on one axis.
//
// Lines are JSON.stringify over objects whose key order is fixed by the code
// that builds them, so the same seed yields a byte-identical trace.
import type { EventKind, InspectionEvent } from '../inspect/events.ts';

export type TraceLine = InspectionEvent & { vt: number };

export class Trace {
  readonly lines: string[] = [];
  #enabled: boolean;
  #limit: number;
  #seq = 0;
  #clock: () => number;
  /** Lines not kept because of the size limit. */
  dropped = 0;
  /** Counts per kind (kept even when lines are not), for summaries. */
  readonly counts = new Map<string, number>();

  /** `enabled=false` keeps only counts (fast sweeps); `limit` caps memory on long runs. */
  constructor(clock: () => number, enabled = true, limit = 3_000_000) {
    this.#clock = clock;
    this.#enabled = enabled;
    this.#limit = limit;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** A simulator event. */
  sim(kind: EventKind, thread: string, path: string, extra?: Partial<InspectionEvent>): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (!this.#enabled) return;
    const vt = this.#clock();
    this.#push({ v: 1, seq: ++this.#seq, ts: vt, thread, kind, path, ...extra, vt });
  }

  /** An event from a node's ActorSystem. */
  actor(e: InspectionEvent): void {
    this.counts.set(e.kind, (this.counts.get(e.kind) ?? 0) + 1);
    if (!this.#enabled) return;
    this.#push({ ...e, vt: this.#clock() });
  }

  #push(line: TraceLine): void {
    if (this.lines.length >= this.#limit) {
      this.dropped++;
      return;
    }
    this.lines.push(safeStringify(line));
  }

  text(): string {
    return this.lines.length === 0 ? '' : this.lines.join('\n') + '\n';
  }

  /** FNV-1a over the whole trace: a short fingerprint for determinism checks. */
  fingerprint(): string {
    let h = 0x811c9dc5;
    for (const line of this.lines) {
      for (let i = 0; i < line.length; i++) {
        h ^= line.charCodeAt(i);
        h = Math.imul(h, 0x01000193);
      }
      h ^= 10;
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0).toString(16).padStart(8, '0') + ':' + this.lines.length;
  }
}

function safeStringify(rec: object): string {
  try {
    return JSON.stringify(rec, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return `<${v.length} bytes>`;
      if (v instanceof Error) return { name: v.name, message: v.message };
      return v;
    });
  } catch {
    return JSON.stringify({ unserializable: true });
  }
}
