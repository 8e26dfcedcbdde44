// The Raft safety checker itself: it must flag a real Leader Completeness
// violation and must not flag a stale leader (found by the 10,000-seed soak:
// a paused candidate that won term 9 on vote replies queued before a newer
// leader committed in term 10).
import test from 'ava';
import { RaftInvariants, type LogView } from '../../runtime/sim/invariants.ts';
import type { Entry } from '../../runtime/raft/types.ts';

function logOf(entries: Entry[]): LogView {
  return {
    firstIndex: () => 1,
    lastIndex: () => entries.length,
    term: (i) => entries[i - 1]?.term,
    entry: (i) => entries[i - 1],
    entries: () => [...entries],
  };
}
const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: `d${index}` });

test('a leader elected after an entry was committed in an earlier term must hold it', (t) => {
  const inv = new RaftInvariants();
  inv.onLeader('n1', 2, logOf([e(1, 1)]));
  inv.onApply('n1', [e(1, 1), e(2, 2)]);
  inv.onLeader('n2', 3, logOf([e(1, 1)])); // lacks entry 2, committed in term 2
  t.is(inv.violations.length, 1);
  t.like(inv.violations[0], { invariant: 'LeaderCompleteness', node: 'n2' });
});

test('a stale leader of an older term need not hold what a newer leader committed', (t) => {
  const inv = new RaftInvariants();
  inv.onLeader('n3', 10, logOf([e(1, 8)]));
  inv.onApply('n3', [e(1, 8), e(2, 10)]);
  inv.onLeader('n4', 9, logOf([e(1, 8)])); // won term 9 late: entry 2 was committed in term 10
  t.deepEqual(inv.violations, []);
  // The next leader after term 10 must hold it again.
  inv.onLeader('n5', 11, logOf([e(1, 8)]));
  t.is(inv.violations[0]?.invariant, 'LeaderCompleteness');
});
