// The deliberately broken configuration (reads served locally without
// ReadIndex) must be caught by the linearizability checker for some seed.
import test from 'ava';
import { defineScenario } from '../../runtime/sim/scenario.ts';
import { runScenario } from '../../actors/node/sim/run.ts';

const stale = defineScenario({
  name: 'stale-reads',
  cluster: { nodes: 3 },
  workload: { clients: 4, keys: 1, opTimeoutMs: 500, thinkMs: 2, mix: { read: 0.6, write: 0.4, cas: 0 } },
  durationMs: 3000,
  faults: [
    { at: 1000, kind: 'isolate', node: 'follower' },
    { at: 2000, kind: 'heal' },
  ],
});

test('stale follower reads are reported as a linearizability violation', async (t) => {
  let caught: string | undefined;
  for (let seed = 1; seed <= 12 && caught === undefined; seed++) {
    const r = await runScenario(stale, { seed, unsafeLocalReads: true });
    const f = r.failures.find((x) => x.includes('not linearizable'));
    if (f) caught = `seed ${seed}: ${f.split('\n').slice(0, 3).join(' ')}`;
  }
  t.truthy(caught, 'no seed exposed the stale reads');
  t.log(caught);
  // The same scenario with ReadIndex reads is fine.
  const safe = await runScenario(stale, { seed: 1 });
  t.true(safe.ok, safe.failures.join('\n'));
});
