// Real processes on loopback (issue 11, point 3): one node of a 3-node cluster
// is cut off — every link to it silently drops what it carries, as a partition
// does — for longer than the transport's reconnect backoff cap, while writes go
// on through the others. After the heal it must have what the leader had
// committed at the heal within a second. Both kinds of node are cut: a
// follower, and the leader (which returns as an old leader: the others have
// elected a new one meanwhile, and its uncommitted tail must go).
//
// Every link goes through a CutProxy (test/net/cut-proxy.ts) in this process.
// Catching up is observed as an event: a CDB watch stream on the cut-off node
// delivers the change at the leader's commit index. Each round's time from the
// heal to that event is logged; set ACP_HEAL_ROUNDS for more rounds, ACP_HEAL_CUT_MS for
// another cut, ACP_HEAL_DEADLINE_MS to measure without failing, ACP_HEAL_TRACE=1 to log when
// the link came back (status polled every 10 ms), ACP_HEAL_MODE=hang for proxies that accept
// connections while cut (a dial then waits out its 3 s TLS deadline).
import test from 'ava';
import { writeFileSync, readFileSync } from 'node:fs';
import { CutProxy } from '../net/cut-proxy.ts';
import { setTimeout as pause } from 'node:timers/promises';
import { TestCluster, waitFor } from '../support/cluster.ts';
import type { Subscription } from '../../runtime/net/local-api.ts';
import { LocalClient } from '../../runtime/net/local-api.ts';

const ROUNDS = Number(process.env.ACP_HEAL_ROUNDS ?? 2);
/** Longer than the reconnect backoff cap (250 ms) and the link idle timeout (1 s): the links are found dead and redialled. */
const CUT_MS = Number(process.env.ACP_HEAL_CUT_MS ?? 2000);
/**
 * A failure bound, not the target: the target (caught up within 1 s of the heal, issue 11) is a
 * speed, measured and logged per round (and by bench:cdb), while a loaded 2-core CI machine must
 * not fail a correct node. ACP_HEAL_DEADLINE_MS=1000 holds a run to the target.
 */
const DEADLINE_MS = Number(process.env.ACP_HEAL_DEADLINE_MS ?? 15_000);

interface Proxied {
  c: TestCluster;
  /** proxies[x] = every proxy on a link of node x. */
  proxies: Map<string, CutProxy[]>;
}

/** A cluster whose every link (dialer → acceptor) runs through its own proxy. */
async function proxiedCluster(t: import('ava').ExecutionContext): Promise<Proxied> {
  const c = await TestCluster.forTest(t, { hold: ['n1', 'n2', 'n3'], waitLeader: false });
  const proxies = new Map<string, CutProxy[]>(c.names.map((n) => [n, []]));
  for (const dialer of c.names) {
    const cfg = JSON.parse(readFileSync(c.node(dialer).config, 'utf8')) as { peers: { name: string; host: string; port: number }[] };
    for (const p of cfg.peers) {
      // The lower name dials (runtime/net/node-transport.ts): that side's address for the peer is the proxy.
      if (!(dialer < p.name)) continue;
      const proxy = new CutProxy({ host: p.host, port: p.port }, { refuseWhileCut: process.env.ACP_HEAL_MODE !== 'hang' });
      await proxy.start();
      t.teardown(() => proxy.stop());
      p.port = proxy.port;
      proxies.get(dialer)!.push(proxy);
      proxies.get(p.name)!.push(proxy);
    }
    writeFileSync(c.node(dialer).config, JSON.stringify(cfg));
  }
  for (const n of c.names) c.spawn(n);
  await c.waitLeader();
  return { c, proxies };
}

/** Revisions the node's CDB has applied, as its watch stream pushes them. */
class Applied {
  last = 0;
  #waiters: { rev: number; resolve: (at: number) => void }[] = [];
  sub: Subscription | undefined;
  client: LocalClient | undefined;

  static async open(c: TestCluster, node: string, from: number): Promise<Applied> {
    const a = new Applied();
    a.client = await LocalClient.connect(c.node(node).socketDir, { apiKey: c.apiKey, timeoutMs: 5000 });
    a.sub = await a.client.subscribe('watch', { fromRevision: from }, (d) => a.#on(d as { changes: { revision: number }[] }));
    return a;
  }

  #on(d: { changes: { revision: number }[] }): void {
    const at = performance.now();
    for (const ch of d.changes) this.last = Math.max(this.last, ch.revision);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.last < w.rev) return true;
      w.resolve(at);
      return false;
    });
  }

  /** When a change at `rev` or later was pushed (performance.now()); rejects after timeoutMs. */
  reached(rev: number, timeoutMs: number): Promise<number> {
    if (this.last >= rev) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const w = { rev, resolve: (at: number) => (clearTimeout(timer), resolve(at)) };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`no change at revision ${rev} or later within ${timeoutMs} ms (last ${this.last})`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  close(): void {
    this.sub?.close();
    this.client?.close();
  }
}

/** Writes one after another through the given nodes until stopped; each acknowledged revision is kept. */
function writer(c: TestCluster, via: () => string[]): { stop: () => Promise<void>; last: () => number } {
  let stopped = false;
  let last = 0;
  let seq = 0;
  const run = (async () => {
    while (!stopped) {
      const nodes = via();
      const n = nodes[seq % nodes.length]!;
      seq++;
      try {
        const r = await c.cdb(n, { op: 'put', object: { type: 'system', id: `heal-${seq % 20}`, spec: { name: `v${seq}`, vcpus: 1, memoryMb: 64 } } }, 2000);
        if (r.ok) last = Math.max(last, r.revision as number);
        else await pause(20);
      } catch {
        await pause(20);
      }
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await run;
    },
    last: () => last,
  };
}

async function round(t: import('ava').ExecutionContext, p: Proxied, which: 'follower' | 'leader'): Promise<number> {
  const { c, proxies } = p;
  const before = await c.waitLeader();
  const cut = which === 'leader' ? before.leader : c.names.find((n) => n !== before.leader)!;
  const others = c.names.filter((n) => n !== cut);
  const applied = await Applied.open(c, cut, (await c.status(cut))!.raft.cdb.applied);
  try {
    const w = writer(c, () => others);
    await waitFor('writes before the cut', () => w.last() > 0);
    for (const x of proxies.get(cut)!) x.cut();
    const cutAt = performance.now();
    // Writes go on among the others (after an election, when the leader was cut off).
    await waitFor('a write acknowledged during the cut', async () => {
      const l = w.last();
      return (await waitFor('leader among the others', () => c.waitLeader({ among: others }))) && w.last() > l;
    });
    const rest = CUT_MS - (performance.now() - cutAt);
    if (rest > 0) await pause(rest);
    // What the leader has committed right before the heal: the cut-off node must get all of it.
    const lead = (await c.waitLeader({ among: others })).leader;
    const target = (await waitFor('the leader’s status', () => c.status(lead))).raft.cdb.commit;
    const framesBefore = (await c.status(cut))?.transport[lead]?.framesIn ?? 0;
    const healAt = performance.now();
    await Promise.all(proxies.get(cut)!.map((x) => x.heal()));
    // ACP_HEAL_TRACE=1: when the cut-off node saw its link to the leader come back (status polled every 10 ms).
    let linkUp: number | undefined;
    if (process.env.ACP_HEAL_TRACE) {
      void (async () => {
        while (linkUp === undefined && performance.now() - healAt < 5000) {
          const s = await c.status(cut, 1000);
          if (s?.transport[lead]?.connected) linkUp = Math.round(performance.now() - healAt);
          else await pause(10);
        }
      })();
    }
    let at: number;
    try {
      at = await applied.reached(target, Math.max(DEADLINE_MS, 30_000));
    } finally {
      await w.stop();
    }
    const ms = Math.round(at - healAt);
    const frames = ((await c.status(cut))?.transport[lead]?.framesIn ?? 0) - framesBefore;
    t.log(`${which} ${cut} cut off ${Math.round(healAt - cutAt)} ms (leader ${before.leader} → ${lead}): at commit ${target} ${ms} ms after the heal; ${frames} frames from the leader by then${linkUp === undefined ? '' : `; link up after ${linkUp} ms`}`);
    t.true(ms <= DEADLINE_MS, `${which} ${cut} caught up ${ms} ms after the heal (deadline ${DEADLINE_MS} ms)`);
    return ms;
  } finally {
    applied.close();
  }
}

test('a node cut off for longer than the backoff cap catches up on the leader’s commit after the heal, by events (each round’s time logged: the target is 1 s)', async (t) => {
  t.timeout(60_000 + ROUNDS * 40_000);
  const p = await proxiedCluster(t);
  const times: Record<string, number[]> = { follower: [], leader: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const which of ['follower', 'leader'] as const) times[which]!.push(await round(t, p, which));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  t.log(`catch-up after the heal: follower median ${median(times.follower!)} ms ${JSON.stringify(times.follower)}; old leader median ${median(times.leader!)} ms ${JSON.stringify(times.leader)}`);
});
