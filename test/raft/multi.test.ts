import test from 'ava';
import { SeededRng } from '../../runtime/env/random.ts';
import { MultiRaft } from '../../runtime/raft/multi.ts';
import type { GroupMessage } from '../../runtime/raft/multi.ts';
import { MemoryStorage, applyReadyToStorage } from '../../runtime/raft/storage.ts';

test('two groups on three nodes elect independently and route messages by group', (t) => {
  const ids = ['1', '2', '3'];
  const conf = { voters: ids, learners: [] };
  const nodes = new Map<string, MultiRaft>();
  const storages = new Map<string, MemoryStorage>();
  for (const id of ids) {
    const mr = new MultiRaft(id);
    for (const g of ['db', 'monitor']) {
      const s = MemoryStorage.bootstrap(conf);
      storages.set(`${id}/${g}`, s);
      mr.addGroup(g, { id, storage: s, rng: new SeededRng(ids.indexOf(id) * 10 + g.length) });
    }
    nodes.set(id, mr);
  }
  const wire: GroupMessage[] = [];
  const pump = () => {
    for (let i = 0; i < 50; i++) {
      let busy = false;
      for (const [id, mr] of nodes) {
        if (!mr.hasReady()) continue;
        busy = true;
        const rd = mr.ready();
        for (const { group, ready } of rd.groups) applyReadyToStorage(storages.get(`${id}/${group}`)!, ready);
        for (const env of MultiRaft.messages(rd)) wire.push(structuredClone(env));
        mr.advance(rd);
      }
      while (wire.length > 0) {
        busy = true;
        const env = wire.shift()!;
        t.true(nodes.get(env.msg.to)!.step(env).ok);
      }
      if (!busy) return;
    }
  };
  // Different leaders for the two groups.
  nodes.get('1')!.group('db')!.campaign();
  nodes.get('3')!.group('monitor')!.campaign();
  pump();
  for (const id of ids) {
    t.is(nodes.get(id)!.group('db')!.status().lead, '1');
    t.is(nodes.get(id)!.group('monitor')!.status().lead, '3');
  }
  t.is(nodes.get('1')!.group('db')!.status().term, nodes.get('3')!.group('monitor')!.status().term);
  // A proposal in one group does not touch the other group's log.
  const before = nodes.get('2')!.group('monitor')!.status().lastIndex;
  t.like(nodes.get('1')!.group('db')!.propose('x'), { ok: true });
  pump();
  t.is(nodes.get('2')!.group('db')!.status().commit, nodes.get('1')!.group('db')!.status().lastIndex);
  t.is(nodes.get('2')!.group('monitor')!.status().lastIndex, before);
  // One tick() ticks every group: enough ticks make the monitor leader heartbeat.
  nodes.get('3')!.tick();
  const rd = nodes.get('3')!.ready();
  t.true(MultiRaft.messages(rd).some((e) => e.group === 'monitor' && e.msg.type === 'heartbeat'));
  nodes.get('3')!.advance(rd);
  t.false(nodes.get('1')!.step({ group: 'nope', msg: { type: 'timeoutNow', from: '2', to: '1', term: 1 } }).ok);
});
