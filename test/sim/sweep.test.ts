// A seed sweep through the CLI's worker pool — the same path `acp sim --seeds`
// and the soak target take — sized so all of test/sim stays near two minutes.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('nemesis sweep: 8 seeds on 2 workers all pass', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'acp-sweep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const json = join(dir, 'sweep.json');
  const r = spawnSync(
    process.execPath,
    ['cli/acp.ts', 'sim', 'fixtures/scenarios/nemesis-soak.ts', '--seeds', '101..108', '--workers', '2', '--duration', '6000', '--json', json],
    { encoding: 'utf8', timeout: 110_000 },
  );
  t.is(r.status, 0, r.stdout + r.stderr);
  const s = JSON.parse(readFileSync(json, 'utf8')) as { seeds: number; failed: number[] };
  t.is(s.seeds, 8);
  t.deepEqual(s.failed, []);
});
