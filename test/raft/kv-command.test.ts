// The KV state machine's command encoding: every command survives a round
// trip whatever its strings hold, and anything malformed decodes to nothing
// (an entry that is not a command is skipped by every replica alike).
import test from 'ava';
import { decodeCommand, encodeCommand, KvStateMachine, type KvCommand } from '../../runtime/raft-host/kv.ts';

const awkward = ['', ':', '~', '12:', '0:', 'w1:a', '{"op":"write"}', 'é∑😀', 'a'.repeat(1000), '3:abc~'];

test('commands round-trip, whatever their strings hold', (t) => {
  const cmds: KvCommand[] = [];
  let n = 0;
  for (const s of awkward) {
    cmds.push({ id: `c${n}:${n++}`, op: 'write', key: s === '' ? 'k' : s, value: s });
    cmds.push({ id: `c${n}:${n++}`, op: 'write', key: 'k', value: null });
    cmds.push({ id: s, op: 'cas', key: s, expected: null, value: s });
    cmds.push({ id: `c${n}:${n++}`, op: 'cas', key: 'k', expected: s, value: null });
    cmds.push({ id: `c${n}:${n++}`, op: 'cas', key: 'k', expected: s, value: s + s });
  }
  for (const c of cmds) t.deepEqual(decodeCommand(encodeCommand(c)), c, encodeCommand(c));
  t.is(encodeCommand({ id: 'c1:17', op: 'write', key: 'k9', value: null }), 'w5:c1:172:k9~');
});

test('malformed commands decode to nothing', (t) => {
  const good = encodeCommand({ id: 'c1:1', op: 'cas', key: 'k1', expected: 'a', value: 'b' });
  const bad = [
    '',
    'x4:c1:12:k1~',
    '{"id":"c1:1","op":"write","key":"k1","value":"v"}',
    good.slice(0, -1), // truncated
    good + 'x', // trailing bytes
    'w4:c1:12:k1', // no value
    'w-1:2:k1~',
    'w99:c1:12:k1~', // length past the end
    'w1e1:c1:1234567:k1~',
    'w0x4:c1:12:k1~',
    'w 4:c1:12:k1~',
    'w0000000004:c1:12:k1~', // more than 9 digits
    'w:c1:12:k1~',
    'w4c1:12:k1~',
    'c4:c1:12:k1~', // cas without its value
  ];
  for (const b of bad) t.is(decodeCommand(b), undefined, JSON.stringify(b));
});

test('the state machine applies decoded commands once per request id', (t) => {
  const sm = new KvStateMachine();
  const w = encodeCommand({ id: 'c1:1', op: 'write', key: 'k', value: 'v1' });
  t.deepEqual(sm.apply(1, w), { ok: true });
  t.is(sm.get('k'), 'v1');
  // A retry of the same request: same answer, no second effect.
  t.deepEqual(sm.apply(2, encodeCommand({ id: 'c2:1', op: 'write', key: 'k', value: 'v2' })), { ok: true });
  t.deepEqual(sm.apply(3, w), { ok: true });
  t.is(sm.get('k'), 'v2');
  t.deepEqual(sm.apply(4, encodeCommand({ id: 'c1:2', op: 'cas', key: 'k', expected: 'v1', value: 'x' })), { ok: false });
  t.deepEqual(sm.apply(5, encodeCommand({ id: 'c1:3', op: 'cas', key: 'k', expected: 'v2', value: null })), { ok: true });
  t.is(sm.get('k'), null);
  t.is(sm.apply(6, 'garbage'), undefined);
});
