// Shared builders and a seeded generator of linearizable key-value histories.
import { isPending, kvModel } from '../../runtime/lincheck/index.ts';
import type { KvInput, KvOperation, KvOutput, KvState, KvValue } from '../../runtime/lincheck/index.ts';
import { SeededRng } from '../../runtime/env/random.ts';

export function read(client: number, key: string, value: KvValue, call: number, ret: number | undefined): KvOperation {
  return { client, input: { op: 'read', key }, output: ret === undefined ? undefined : { value }, call, return: ret };
}

export function write(client: number, key: string, value: KvValue, call: number, ret: number | undefined): KvOperation {
  return { client, input: { op: 'write', key, value }, output: ret === undefined ? undefined : { ok: true }, call, return: ret };
}

export function cas(
  client: number,
  key: string,
  expected: KvValue,
  value: KvValue,
  ok: boolean,
  call: number,
  ret: number | undefined,
): KvOperation {
  return {
    client,
    input: { op: 'cas', key, expected, value },
    output: ret === undefined ? undefined : { ok },
    call,
    return: ret,
  };
}

export interface GenOptions {
  ops: number;
  clients: number;
  keys: number;
  /** 'unique' gives every write a fresh value; a number draws values from that many. */
  values: 'unique' | number;
  /** Probability that an operation never returns (its client crashes and is replaced). */
  pendingRate?: number;
  /** Max operation duration. */
  maxDuration?: number;
}

interface Planned {
  op: KvOperation;
  /** When the operation takes effect; Infinity if it never does (a pending op that was lost). */
  at: number;
  seq: number;
}

/**
 * A history that is linearizable by construction: every operation picks a
 * linearization point inside its interval, and outputs come from applying the
 * operations to a plain Map in linearization-point order. Pending operations
 * take effect at some point after their call, or never.
 */
export function generateKvHistory(seed: number, o: GenOptions): KvOperation[] {
  const rng = new SeededRng(seed);
  const maxDur = o.maxDuration ?? 20;
  const free = new Array<number>(o.clients).fill(0);
  const generation = new Array<number>(o.clients).fill(0);
  const written = new Map<string, KvValue[]>();
  let fresh = 0;
  const planned: Planned[] = [];
  const newValue = (): string => (o.values === 'unique' ? `v${++fresh}` : String(rng.int(0, o.values - 1)));

  for (let n = 0; n < o.ops; n++) {
    let c = 0;
    for (let i = 1; i < o.clients; i++) if (free[i] < free[c]) c = i;
    const call = free[c] + rng.int(0, 3);
    const dur = rng.int(0, maxDur);
    const key = `k${rng.int(0, o.keys - 1)}`;
    const seen = written.get(key) ?? [null];
    let input: KvInput;
    const roll = rng.next();
    if (roll < 0.45) input = { op: 'read', key };
    else if (roll < 0.8) {
      const value = newValue();
      input = { op: 'write', key, value };
      written.set(key, [...seen, value]);
    } else {
      const value = newValue();
      const expected = seen[rng.int(Math.max(0, seen.length - 3), seen.length - 1)];
      input = { op: 'cas', key, expected, value };
      written.set(key, [...seen, value]);
    }
    const client = c + o.clients * generation[c];
    if (o.pendingRate !== undefined && rng.chance(o.pendingRate)) {
      const at = rng.chance(0.5) ? call + rng.int(0, maxDur * 3) : Infinity;
      planned.push({ op: { client, input, output: undefined, call, return: undefined }, at, seq: n });
      generation[c]++;
      free[c] = call + rng.int(1, maxDur);
    } else {
      const ret = call + dur;
      planned.push({ op: { client, input, output: undefined, call, return: ret }, at: call + rng.int(0, dur), seq: n });
      free[c] = ret + 1;
    }
  }

  const store = new Map<string, string>();
  for (const p of [...planned].sort((a, b) => a.at - b.at || a.seq - b.seq)) {
    if (p.at === Infinity) break;
    const input = p.op.input;
    const current = store.get(input.key) ?? null;
    let output: KvOutput;
    if (input.op === 'read') output = { value: current };
    else if (input.op === 'write') {
      if (input.value === null) store.delete(input.key);
      else store.set(input.key, input.value);
      output = { ok: true };
    } else {
      const ok = current === input.expected;
      if (ok) {
        if (input.value === null) store.delete(input.key);
        else store.set(input.key, input.value);
      }
      output = { ok };
    }
    if (p.op.return !== undefined) p.op.output = output;
  }
  return planned.map((p) => p.op);
}

/**
 * Ground truth for small histories: try every order (no memoization, no
 * pruning). Pending operations may be placed anywhere after their call, or not
 * at all.
 */
export function bruteForce(ops: KvOperation[]): boolean {
  const placed = new Array<boolean>(ops.length).fill(false);
  const go = (state: KvState): boolean => {
    if (ops.every((op, i) => placed[i] || isPending(op))) return true;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      // i may go next only if no unplaced completed op returned before i was called.
      const blocked = ops.some((o, j) => !placed[j] && j !== i && !isPending(o) && (o.return as number) < ops[i].call);
      if (blocked) continue;
      const r = kvModel.step(state, ops[i].input, isPending(ops[i]) ? undefined : ops[i].output);
      if (!r.ok) continue;
      placed[i] = true;
      const ok = go(r.state);
      placed[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return go(kvModel.init());
}
