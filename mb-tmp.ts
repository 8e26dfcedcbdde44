import { canonicalJson } from './actors/cdb/store.ts';
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const mk = (i: number) => Object.freeze({ revision: i, op: 'put', key: 'system/k' + (i % 16), type: 'system', id: 'k' + (i % 16), created: false, object: Object.freeze({ type: 'system', id: 'k' + (i % 16), spec: Object.freeze({ name: 'value-' + i + '-abc', vcpus: 1, memoryMb: 64 }), revision: i, createdRevision: 3 }) });
const xs = Array.from({ length: 100000 }, (_, i) => mk(i));
for (let r = 0; r < 3; r++) {
  let t = cpu(); let n = 0; for (const x of xs) n += canonicalJson(x).length; const a = cpu() - t;
  t = cpu(); for (const x of xs) n += JSON.stringify(x).length; const b = cpu() - t;
  console.log(`canonicalJson ${(a * 10).toFixed(2)} us/change, JSON.stringify ${(b * 10).toFixed(2)} us/change`);
}
