// npm run bench:services [-- --json FILE] [--quick] [--runs N] [--adopt N]
//
// The node services against their anchors, in the same run (shared machines are noisy: the
// ratios are what to read). One section per service; each adds its keys to the JSON:
//
//   network  (bench/network.ts) networkReadyMs {p50,p99} vs ipScriptMs {p50,p99}, adoptMs,
//            statsCpuPercent — root only; otherwise networkSkipped says why
//
// A section that cannot run on this machine says why and the others still run.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { networkBench } from './network.ts';

const { values } = parseArgs({
  options: { json: { type: 'string' }, quick: { type: 'boolean' }, runs: { type: 'string' }, adopt: { type: 'string' } },
  strict: true,
});
const QUICK = values.quick === true;
const log = (s: string): void => void process.stderr.write(s);

const results: Record<string, unknown> = { quick: QUICK };
const sections: [string, () => Promise<Record<string, unknown>>][] = [
  ['network', async () => ({ ...(await networkBench({ runs: Number(values.runs ?? (QUICK ? 5 : 20)), adoptNetworks: Number(values.adopt ?? (QUICK ? 20 : 100)), log })) })],
];
for (const [name, run] of sections) {
  log(`== ${name}\n`);
  try {
    Object.assign(results, await run());
  } catch (e) {
    log(`${name}: failed: ${(e as Error).stack ?? e}\n`);
    results[`${name}Error`] = (e as Error).message;
    process.exitCode = 1;
  }
}
const text = JSON.stringify(results, null, 2);
if (values.json) writeFileSync(values.json, text + '\n');
process.stdout.write(text + '\n');
