import test from 'ava';
import { Encoder, Decoder } from '../../runtime/actor/codec.ts';
import { SeededRng } from '../../runtime/env/random.ts';

function roundTrip(values: unknown[], enc = new Encoder(), dec = new Decoder()): unknown[] {
  const b = enc.encode(values);
  // What crosses the thread boundary is the bytes (transferred) and the side array (cloned).
  return dec.decode(structuredClone(b));
}

test('plain values round-trip exactly', (t) => {
  const v = [
    null, undefined, true, false, 0, 1, 127, 128, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 40 + 3, 1.5, -0, NaN, Infinity,
    '', 'a', 'héllo wörld ✓', 'x'.repeat(1000), [1, [2, [3, 'deep']]], { a: 1, b: { c: [true, null] } },
    new Uint8Array([0, 255, 7]),
  ];
  const out = roundTrip(v);
  t.deepEqual(out, v);
  t.true(Object.is(out[13], -0));
});

test('values the codec does not model travel via structured clone, intact', (t) => {
  const v = [{ when: new Date(5), m: new Map([['k', 1]]), s: new Set([1]), big: 10n, nested: { arr: [new Date(7)] } }];
  t.deepEqual(roundTrip(v), v);
});

test('cycles do not hang the encoder', (t) => {
  const a: Record<string, unknown> = { name: 'a' };
  a.self = a;
  const [out] = roundTrip([a]) as [Record<string, unknown>];
  t.is(out.name, 'a');
});

test('actor refs are rebuilt by the receiver at any depth', (t) => {
  const dec = new Decoder((r) => ({ live: r.path }));
  const [out] = roundTrip([{ to: { $ref: 1, path: '/user/a', thread: 'main' }, list: [{ $ref: 1, path: '/user/b', thread: 'w:x' }] }], new Encoder(), dec);
  t.deepEqual(out, { to: { live: '/user/a' }, list: [{ live: '/user/b' }] });
});

test('interned strings stay in step across many batches on one link', (t) => {
  const enc = new Encoder();
  const dec = new Decoder();
  const rng = new SeededRng(7);
  for (let batch = 0; batch < 50; batch++) {
    const items = Array.from({ length: rng.int(1, 200) }, (_, i) => ({ type: `t${rng.int(0, 20)}`, path: `/user/a${rng.int(0, 50)}`, i, s: rng.chance(0.1) ? 'ü' + i : 'x' }));
    t.deepEqual(dec.decode(structuredClone(enc.encode(items))), items);
  }
});

test('a corrupted or truncated batch is rejected with an error, never a crash or a huge allocation', (t) => {
  const enc = new Encoder();
  const good = enc.encode([{ type: 'inc', n: 1, s: 'hello' }]);
  for (let cut = 0; cut < good.bytes.length; cut++) {
    t.throws(() => new Decoder().decode({ bytes: good.bytes.slice(0, cut) }));
  }
  t.throws(() => new Decoder().decode({ bytes: new Uint8Array([1, 9, 0xff, 0xff, 0xff, 0xff, 0x0f]) }), { message: /length exceeds|truncated/ });
  t.throws(() => new Decoder().decode({ bytes: new Uint8Array([1, 8, 5]) }), { message: /unknown string id/ });
  t.throws(() => new Decoder().decode({ bytes: new Uint8Array([1, 200]) }), { message: /bad tag/ });
});
