// A stand-in for a node process in the kill -9 tests: it runs the Linux storage
// driver to convergence on the desired objects in a JSON file, printing one
// line per action applied, then `converged` with how many actions it took, and
// waits to be killed.
//   node driver-child.ts DATA_DIR DESIRED_JSON
import { LinuxStorageDriver } from '../../actors/storage/linux.ts';
import { converge, objs } from './linux-support.ts';
import { readFileSync } from 'node:fs';

const [dataDir, desiredFile] = process.argv.slice(2);
const driver = new LinuxStorageDriver({ dataDir: dataDir! });
const caps = await driver.capabilities();
const desired = objs(...JSON.parse(readFileSync(desiredFile!, 'utf8')));
const t0 = performance.now();
const r = await converge(driver, desired, caps, { onAction: (a) => process.stdout.write(JSON.stringify({ applied: a.kind, id: a.id }) + '\n') });
const states = Object.fromEntries([...r.plan.status].map(([k, c]) => [k, c.state]));
process.stdout.write(JSON.stringify({ converged: true, actions: r.applied.length, ms: performance.now() - t0, states }) + '\n');
setInterval(() => {}, 1 << 30);
