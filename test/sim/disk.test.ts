import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { Buggify, defaultBuggify } from '../../runtime/sim/buggify.ts';
import { SimDisk } from '../../runtime/sim/disk.ts';
import { SimNode } from '../../runtime/sim/node.ts';
import { Scheduler } from '../../runtime/sim/scheduler.ts';
import { SimDurableLog } from '../../runtime/sim/sim-durable-log.ts';
import { checksum, decodeRecord, encodeRecord } from '../../runtime/sim/log-record.ts';
import type { Entry } from '../../runtime/raft/types.ts';

function setup(seed = 1) {
  const sched = new Scheduler();
  const rng = new SeededRng(seed);
  const node = new SimNode('n1', sched, new Buggify(seed, rng.fork(), { ...defaultBuggify, enabled: false }), rng.fork());
  const disk = new SimDisk(node, sched, rng.fork());
  return { sched, node, disk };
}

const ents = (from: number, to: number, term = 1): Entry[] => {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ term, index: i, type: 'normal', data: `v${i}` });
  return out;
};

test('unsynced writes are lost on crash; fsynced ones survive', async (t) => {
  const { sched, node, disk } = setup();
  disk.tornWriteProbability = 0;
  disk.append('f', 'a');
  let synced = false;
  disk.fsync('f', () => (synced = true));
  await sched.runUntil(10);
  t.true(synced);
  for (let i = 0; i < 50; i++) disk.append('f', 'x' + i);
  t.is(disk.unsyncedCount('f'), 50);
  node.crash();
  disk.crash();
  const after = disk.read('f');
  t.is(after[0], 'a');
  t.true(after.length < 51, 'some unsynced records were lost');
});

test('fsync completion is void if the node crashed first', async (t) => {
  const { sched, node, disk } = setup();
  disk.append('f', 'a');
  let called = false;
  disk.fsync('f', () => (called = true));
  node.crash();
  disk.crash();
  await sched.runUntil(100);
  t.false(called);
});

test('durable log: crash recovers exactly the fsynced state; torn tail dropped', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const { sched, node, disk } = setup(seed);
    disk.tornWriteProbability = 1;
    const log = new SimDurableLog(disk);
    let acked = 0;
    log.persist({ entries: ents(1, 5), hardState: { term: 1, vote: 'n1', commit: 3 } }, (e) => {
      if (!e) acked = 5;
    });
    await sched.runUntil(10);
    t.is(acked, 5);
    log.persist({ entries: ents(6, 9) }, () => (acked = 9));
    node.crash(); // before the fsync completes
    disk.crash();
    await sched.runUntil(20);
    t.is(acked, 5);
    const loaded = new SimDurableLog(disk).load();
    const last = loaded.entries.at(-1)!.index;
    t.true(last >= 5 && last <= 9, `seed ${seed}: recovered through ${last}`);
    t.deepEqual(loaded.entries.map((e) => e.index), ents(1, last).map((e) => e.index));
    t.is(loaded.hardState.commit, 3);
  }
});

test('durable log: corrupted reads are caught by checksums and re-read', async (t) => {
  const { sched, disk } = setup(3);
  const log = new SimDurableLog(disk);
  for (let i = 0; i < 20; i++) log.persist({ entries: ents(i * 5 + 1, i * 5 + 5) }, () => {});
  await sched.runUntil(100);
  disk.corruptReadProbability = 0.4;
  const again = new SimDurableLog(disk);
  const loaded = again.load();
  t.is(loaded.entries.length, 100);
  t.true(disk.stats.corruptReads > 0);
  t.true(again.stats.corruptReadsRetried > 0);
  t.deepEqual(loaded.entries.map((e) => e.data), ents(1, 100).map((e) => e.data));
});

test('disk full: writes fail with ENOSPC and nothing is acknowledged', async (t) => {
  const { sched, disk } = setup();
  const log = new SimDurableLog(disk);
  disk.full = true;
  let err: Error | undefined;
  log.persist({ entries: ents(1, 2) }, (e) => (err = e));
  await sched.runUntil(10);
  t.regex(err?.message ?? '', /ENOSPC/);
  disk.full = false;
  disk.capacity = 20; // smaller than the record
  log.persist({ entries: ents(1, 2) }, (e) => (err = e));
  t.regex(err?.message ?? '', /ENOSPC/);
  t.true(disk.stats.fullErrors >= 2);
});

test('snapshots and compaction survive a restart', async (t) => {
  const { sched, disk } = setup();
  const log = new SimDurableLog(disk);
  log.rewriteThreshold = 2;
  log.persist({ entries: ents(1, 10), hardState: { term: 1, vote: '', commit: 10 } }, () => {});
  await sched.runUntil(5);
  log.persist({ snapshot: { meta: { index: 8, term: 1, conf: { voters: ['n1'], learners: [] } }, data: 'S' } }, () => {});
  await sched.runUntil(10);
  log.compact(8);
  log.persist({ entries: ents(11, 12) }, () => {});
  await sched.runUntil(20);
  const loaded = new SimDurableLog(disk).load();
  t.is(loaded.snapshot?.meta.index, 8);
  t.deepEqual(loaded.entries.map((e) => e.index), [9, 10, 11, 12]);
  t.deepEqual(loaded.conf.voters, ['n1']);
});

// leader-crash seed 132: a torn tail dropped on reboot stayed in the file, new
// records went after it, and the next reboot took it for mid-log corruption.
test('durable log: a torn tail is cut off on recovery, so a second crash still recovers', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const { sched, node, disk } = setup(seed);
    disk.tornWriteProbability = 1;
    const log = new SimDurableLog(disk);
    log.persist({ entries: ents(1, 5), hardState: { term: 1, vote: 'n1', commit: 3 } }, () => {});
    await sched.runUntil(10);
    log.persist({ entries: ents(6, 9) }, () => {});
    node.crash(); // torn tail
    disk.crash();
    node.restart();
    const second = new SimDurableLog(disk);
    const first = second.load();
    const from = first.entries.at(-1)!.index + 1;
    let acked = false;
    second.persist({ entries: ents(from, from + 2), hardState: { term: 1, vote: 'n1', commit: from + 2 } }, (e) => (acked = !e));
    await sched.runUntil(sched.now + 10);
    t.true(acked);
    node.crash();
    disk.crash();
    const loaded = new SimDurableLog(disk).load();
    t.deepEqual(loaded.entries.map((e) => e.index), ents(1, from + 2).map((e) => e.index), `seed ${seed}`);
  }
});

test('record checksums catch every one-character change, torn tails and lone surrogates', (t) => {
  const rec = encodeRecord({ k: 'ents', ents: [{ index: 1, term: 1, type: 'normal', data: '{"op":"put","v":"é€😀\uD800z"}' }] });
  t.truthy(decodeRecord(rec));
  const body = rec.slice(9);
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    // the simulated disk's two kinds of damage: c+1 (a whole read) and c^1 (a re-read)
    for (const d of [c === 0x7a ? 0x79 : c + 1, c ^ 1]) {
      const bad = body.slice(0, i) + String.fromCharCode(d) + body.slice(i + 1);
      t.not(checksum(bad), checksum(body), `char ${i}`);
    }
    if (i > 0) t.is(decodeRecord(rec.slice(0, 9 + i)), undefined, `torn at ${i}`);
  }
  // two strings that UTF-8 would make the same (lone surrogates both become U+FFFD)
  t.not(checksum('a\uD800'), checksum('a\uD801'));
  t.not(checksum('a\uD800'), checksum('a\uFFFD'));
});
