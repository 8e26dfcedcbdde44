// A representative cluster for the Monitor tests: objects in a CdbStore, meta/stats in a MetaTable.
import { CdbStore, encodeStoreCommand } from '../../actors/cdb/store.ts';
import { MetaTable } from '../../actors/cdb/meta.ts';
import type { CdbObject, ObjectDef, Stats } from '../../actors/cdb/schema.ts';
import type { ObjectView } from '../../actors/cdb/meta.ts';
import type { HealthInput } from '../../actors/monitor/health.ts';

export const NOW = 1_000_000;

export class TestCluster {
  store = new CdbStore();
  meta = new MetaTable({ self: 'n1', staleAfterMs: 15_000 });
  #i = 0;

  constructor(nodes = ['n1', 'n2', 'n3']) {
    for (const n of nodes) {
      this.put({ type: 'node', id: n, spec: { name: n, address: `10.0.0.${nodes.indexOf(n) + 1}`, roles: ['compute', 'cdb'] } });
      this.put({ type: 'service', subtype: 'hypervisor', id: `hv-${n}`, spec: { node: n } });
      this.put({ type: 'service', subtype: 'cdb', id: `cdb-${n}`, spec: { node: n } });
      this.state('node', n, 'up', { cpu: 20, memUsedBytes: 4e9, memTotalBytes: 16e9 });
      this.state('service', `hv-${n}`, 'running');
      this.state('service', `cdb-${n}`, 'running');
    }
    this.put({ type: 'storage', subtype: 'device', id: 'n1-sda', spec: { node: 'n1', path: '/dev/sda', sizeBytes: 1e12 } });
    this.put({ type: 'storage', subtype: 'device', id: 'n1-sdb', spec: { node: 'n1', path: '/dev/sdb', sizeBytes: 1e12 } });
    this.put({ type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['n1-sda', 'n1-sdb'], redundancy: 'mirror' } });
    this.state('storage', 'p1', 'up', { usedBytes: 100e9, sizeBytes: 1000e9 });
  }

  put(o: ObjectDef): void {
    const r = this.store.apply(++this.#i, encodeStoreCommand({ op: 'put', object: o }));
    if (!r?.ok) throw new Error(JSON.stringify(r));
  }

  del(type: ObjectDef['type'], id: string): void {
    this.store.apply(++this.#i, encodeStoreCommand({ op: 'delete', type, id }));
  }

  /** Report meta (and stats) for an object, as its node would, at time `at` (default NOW − 1 s). */
  state(type: string, id: string, state: string, stats?: Stats, at = NOW - 1000, from = 'n1'): void {
    this.meta.report(from, `${type}/${id}`, { meta: { state, updatedBy: { node: from, service: 'test' }, updatedAt: at }, ...(stats ? { stats } : {}) }, at);
  }

  input(now = NOW): HealthInput & { objects: CdbObject[] } {
    const views = new Map<string, ObjectView>();
    for (const k of this.meta.keys()) views.set(k, this.meta.view(k, now));
    return { objects: this.store.list(), views };
  }
}
