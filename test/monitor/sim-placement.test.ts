// In the simulator, the Monitor primary writes the placement of an unplaced system (issue 13,
// point 7): the compute node, the primary's term and the reason; a system no node can take stays
// unplaced with a system-unplaced finding.
import test from 'ava';
import { simCluster } from '../support/sim-health-cluster.ts';

/** One API call on an up node, answered in virtual time. */
async function call(c: ReturnType<typeof simCluster>, method: string, params: unknown): Promise<Record<string, unknown>> {
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < 500 && out === undefined; i++) {
    if (i === 0) c.cluster.up()[0]!.api?.call(method, params, (r) => (out = r as Record<string, unknown>));
    await c.sched.runUntil(c.sched.now + 20);
  }
  if (out === undefined) throw new Error(`${method}: no answer`);
  return out;
}

test('the Monitor primary places an unplaced process system on the compute node, with its term and reason; one too big gets a finding', async (t) => {
  const c = simCluster('placement', 11);
  await c.until('health 100 everywhere', c.healthy, 30_000);
  // The simulated nodes have no compute role: give n2 one (no Hypervisor runs in the simulator,
  // so this asserts the placement write only).
  const got = await call(c, 'cdb', { op: 'get', type: 'node', id: 'n2' });
  const n2 = got['object'] as { spec: { roles: string[] }; revision: number };
  const put = await call(c, 'cdb', { op: 'put', object: { type: 'node', id: 'n2', spec: { ...n2.spec, roles: [...n2.spec.roles, 'compute'] } }, expectRevision: n2.revision });
  t.true(put['ok'], JSON.stringify(put));
  for (const [id, memoryMb] of [['web', 512], ['huge', 100_000]] as const) {
    const r = await call(c, 'cdb', { op: 'put', object: { type: 'system', id, spec: { name: id, vcpus: 1, memoryMb, kind: 'process', process: { command: '/bin/true' } } } });
    t.true(r['ok'], JSON.stringify(r));
  }
  let placement: { node: string; term: number; reason?: string } | undefined;
  const start = c.sched.now;
  while (placement === undefined) {
    const r = await call(c, 'cdb', { op: 'get', type: 'system', id: 'web' });
    placement = (r['object'] as { spec: { placement?: typeof placement } } | undefined)?.spec.placement;
    if (c.sched.now - start > 10_000) throw new Error('not placed within 10 virtual s');
  }
  t.log(`placed after ${c.sched.now - start} virtual ms: ${JSON.stringify(placement)}`);
  t.is(placement.node, 'n2');
  await c.until('the primary known everywhere', () => c.health('n1')?.primary !== undefined, 5000);
  t.is(placement.term, c.health('n1')!.term ?? -1);
  t.regex(placement.reason ?? '', /^n2: compute, 4 free vCPUs >= 1, 8192 MiB free >= 512; the only candidate/);
  const huge = await call(c, 'cdb', { op: 'get', type: 'system', id: 'huge' });
  t.is((huge['object'] as { spec: { placement?: unknown } }).spec.placement, undefined);
  await c.until('system-unplaced finding for huge', () => c.health('n1')?.findingIds?.includes('system-unplaced:system/huge') === true, 5000);
});
