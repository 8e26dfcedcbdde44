// Raft appends must fit the transport's frames (runtime/raft-host/limits.ts):
// entrySize bounds an entry's encoded bytes, the envelope around the entries
// is bounded by FRAME_ENVELOPE_BYTES, and a leader catching a follower up on
// many large entries sends frames no larger than the limit — several entries
// each where they fit, and an entry larger than the budget alone.
import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../../runtime/net/frame.ts';
import { FRAME_ENVELOPE_BYTES, fitsOneAppend, raftSizeLimits } from '../../runtime/raft-host/limits.ts';
import { ENTRY_WIRE_OVERHEAD, entriesSize, entrySize, jsonStringBytes, type Entry, type MsgAppend } from '../../runtime/raft/types.ts';
import { newCluster } from './harness.ts';

/** The bytes node-ipc checks against maxFrameBytes: a Raft message on its group's channel, in a transport frame. */
function frameBytes(body: unknown, channel = 'raft/cdb'): number {
  return Buffer.byteLength(JSON.stringify({ type: 'frame', data: { p: { c: channel, b: body } } }));
}

const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\t', '\u0001', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '\ud800', '\udc00', '{', ':'];

function randomString(rng: SeededRng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[rng.int(0, ALPHABET.length - 1)];
  return s;
}

test('jsonStringBytes is the UTF-8 size of JSON.stringify, escapes and surrogates included', (t) => {
  const rng = new SeededRng(7);
  for (const s of ['', 'plain', '"', '\\', '\u0000', '\b\f\n\r\t', '😀', '\ud83d', 'a\udc00b', '\ud83d\ud83d\ude00']) {
    t.is(jsonStringBytes(s), Buffer.byteLength(JSON.stringify(s)), JSON.stringify(s));
  }
  for (let i = 0; i < 500; i++) {
    const s = randomString(rng, rng.int(0, 200));
    t.is(jsonStringBytes(s), Buffer.byteLength(JSON.stringify(s)));
  }
});

test('entrySize bounds what an entry adds to a message, for small and large entries', (t) => {
  const rng = new SeededRng(11);
  const big = 9_007_199_254_740_991;
  for (let i = 0; i < 300; i++) {
    const n = i % 3 === 0 ? rng.int(4096, 20_000) : rng.int(0, 300);
    const e: Entry = { term: big, index: big, type: rng.chance(0.5) ? 'normal' : 'conf', data: randomString(rng, n) };
    // What one more entry adds to an append's entries array: its JSON and a comma.
    const added = JSON.stringify([e, e]).length - JSON.stringify([e]).length;
    const bytes = Buffer.byteLength(JSON.stringify([e, e])) - Buffer.byteLength(JSON.stringify([e]));
    t.true(entrySize(e) >= bytes, `entry of ${n} units: entrySize ${entrySize(e)} < ${bytes} bytes (${added} units)`);
  }
  // Large entries are measured: ASCII data costs little more than its length.
  const plain: Entry = { term: 1, index: 1, type: 'normal', data: 'x'.repeat(65_536) };
  t.is(entrySize(plain), ENTRY_WIRE_OVERHEAD + 65_538);
});

test('the envelope around an append’s entries fits FRAME_ENVELOPE_BYTES at its largest', (t) => {
  const name = 'n'.repeat(63); // the longest node name the transport accepts
  const max = 9_007_199_254_740_991;
  const m: MsgAppend = { type: 'append', from: name, to: name, term: max, index: max, logTerm: max, entries: [], commit: max };
  const envelope = frameBytes(m, `raft/${'g'.repeat(64)}`);
  t.true(envelope <= FRAME_ENVELOPE_BYTES, `${envelope} bytes`);
  t.true(envelope < 400, `${envelope} bytes: the documented bound`);
  // With entries: never more than the envelope plus their entrySize.
  const rng = new SeededRng(3);
  const entries: Entry[] = Array.from({ length: 20 }, (_, i) => ({ term: max, index: max - 20 + i, type: 'normal', data: randomString(rng, i * 500) }));
  t.true(frameBytes({ ...m, entries }, `raft/${'g'.repeat(64)}`) <= FRAME_ENVELOPE_BYTES + entriesSize(entries));
});

test('raftSizeLimits derives every size from the frame limit', (t) => {
  const l = raftSizeLimits(DEFAULT_MAX_FRAME_BYTES);
  t.is(l.maxAppendBytes, DEFAULT_MAX_FRAME_BYTES - FRAME_ENVELOPE_BYTES);
  t.deepEqual(raftSizeLimits(), l);
  t.throws(() => raftSizeLimits(2048), { instanceOf: RangeError });
  // A JSON proposal of the largest size a service may accept, at its worst (quotes and
  // backslashes only, each doubled when escaped), fits one append and one frame.
  const worst = JSON.stringify('"\\'.repeat(l.maxJsonProposalBytes)).slice(0, l.maxJsonProposalBytes);
  t.is(Buffer.byteLength(worst), l.maxJsonProposalBytes);
  t.true(fitsOneAppend(worst, l.maxAppendBytes));
  const e: Entry = { term: 1, index: 1, type: 'normal', data: worst };
  t.true(frameBytes({ type: 'append', from: 'n1', to: 'n2', term: 1, index: 0, logTerm: 0, entries: [e], commit: 0 }) <= DEFAULT_MAX_FRAME_BYTES);
  // Just over the append budget: refused.
  const over = 'x'.repeat(l.maxAppendBytes - ENTRY_WIRE_OVERHEAD - 2 + 1);
  t.false(fitsOneAppend(over, l.maxAppendBytes));
  t.true(fitsOneAppend(over.slice(1), l.maxAppendBytes));
});

test('a leader catching a follower up on many 64 KiB entries sends frames within the limit, several entries each', (t) => {
  const { maxAppendBytes } = raftSizeLimits(DEFAULT_MAX_FRAME_BYTES);
  const c = newCluster(3, { maxSizePerMsg: maxAppendBytes });
  c.node('1').campaign();
  c.stabilize();
  t.is(c.leader(), '1');
  // Node 3 is away while 40 entries of 64 KiB are committed: a quarter of their bytes are quotes,
  // which double in a frame (the encoded batch would pass 1 MiB long before 1 MiB of data).
  c.isolate('3');
  const ids = Array.from({ length: 8192 }, (_, i) => `n${String(i).padStart(5, '0')}`);
  for (let i = 0; i < 40; i++) {
    const data = JSON.stringify({ op: 'put', seq: i, object: { nodes: ids } });
    t.true(data.length >= 64 * 1024);
    t.true(c.node('1').propose(data).ok);
  }
  c.stabilize();
  c.heal();
  const sizes: number[] = [];
  const counts: number[] = [];
  c.onReady = (id, rd) => {
    for (const m of rd.messages) {
      if (id !== '1' || m.to !== '3' || m.type !== 'append' || m.entries.length === 0) continue;
      sizes.push(frameBytes(m));
      counts.push(m.entries.length);
    }
  };
  // Heartbeats until node 3 answers and the leader sends it what it lacks.
  for (let i = 0; i < 50 && c.node('3').raft.log.lastIndex() < c.node('1').raft.log.lastIndex(); i++) {
    c.node('1').tick();
    c.stabilize();
  }
  t.is(c.node('3').raft.log.committed, c.node('1').raft.log.committed, 'node 3 caught up');
  t.true(sizes.length > 0);
  t.true(Math.max(...sizes) <= DEFAULT_MAX_FRAME_BYTES, `largest frame ${Math.max(...sizes)} bytes`);
  t.true(Math.max(...counts) >= 10, `at most ${Math.max(...counts)} entries per append`);
});

test('an entry larger than the append budget is still sent, alone', (t) => {
  const budget = 10_000;
  const c = newCluster(3, { maxSizePerMsg: budget });
  c.node('1').campaign();
  c.stabilize();
  c.isolate('3');
  const sizes = [100, 50_000, 100, 100, 30_000, 20_000, 100];
  for (const n of sizes) t.true(c.node('1').propose('x'.repeat(n)).ok);
  c.stabilize();
  c.heal();
  const sent: Entry[][] = [];
  c.onReady = (id, rd) => {
    for (const m of rd.messages) if (id === '1' && m.to === '3' && m.type === 'append' && m.entries.length > 0) sent.push(m.entries);
  };
  for (let i = 0; i < 50 && c.node('3').raft.log.committed < c.node('1').raft.log.committed; i++) {
    c.node('1').tick();
    c.stabilize();
  }
  t.is(c.node('3').raft.log.committed, c.node('1').raft.log.committed, 'node 3 caught up');
  for (const ents of sent) {
    // Either within the budget, or a single entry that is larger than the budget on its own.
    if (ents.length > 1) t.true(entriesSize(ents) <= budget, `${ents.length} entries, ${entriesSize(ents)} bytes`);
  }
  t.true(sent.some((ents) => ents.length === 1 && entrySize(ents[0]!) > budget), 'an oversized entry went alone');
  t.true(sent.some((ents) => ents.length > 1), 'small entries were batched');
});
