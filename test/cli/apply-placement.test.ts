// acp apply of a system without a placement keeps the one the Monitor wrote (re-applying a
// manifest must not unplace what runs), unless the applied spec pins it elsewhere.
import test from 'ava';
import { keepPlacement } from '../../cli/commands/apply.ts';

const placement = { node: 'n2', term: 3, reason: 'n2: compute' };
const def = (spec: Record<string, unknown>, type = 'system') => ({ type, id: 'a', spec: { name: 'a', vcpus: 1, memoryMb: 64, ...spec } });

test('kept when the applied spec has none', (t) => {
  t.deepEqual(keepPlacement(def({}), { spec: { placement } }).spec, { name: 'a', vcpus: 1, memoryMb: 64, placement });
  t.deepEqual(keepPlacement(def({ node: 'n2' }), { spec: { placement } }).spec, { name: 'a', vcpus: 1, memoryMb: 64, node: 'n2', placement });
});

test('not kept: a pin elsewhere, a placement given, a new object, another type', (t) => {
  t.deepEqual(keepPlacement(def({ node: 'n1' }), { spec: { placement } }).spec, { name: 'a', vcpus: 1, memoryMb: 64, node: 'n1' });
  const mine = { node: 'n1', term: 1 };
  t.deepEqual(keepPlacement(def({ placement: mine }), { spec: { placement } }).spec, { name: 'a', vcpus: 1, memoryMb: 64, placement: mine });
  t.deepEqual(keepPlacement(def({}), undefined).spec, { name: 'a', vcpus: 1, memoryMb: 64 });
  t.deepEqual(keepPlacement(def({}, 'node'), { spec: { placement } }).spec, { name: 'a', vcpus: 1, memoryMb: 64 });
});
