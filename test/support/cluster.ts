// A real ACP cluster for end-to-end tests: N node processes on loopback,
// started exactly as `acp up` starts them (cli/launcher.ts), in a temp dir,
// with fast Raft timing. Every wait is a poll with a deadline and a message
// naming what did not happen; teardown SIGKILLs every node process and
// removes the dir even when the test failed (and, as a last resort, when
// the ava worker exits), so ava exits by itself.
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalClient } from '../../runtime/net/local-api.ts';
import { loadApiKey } from '../../runtime/net/pki.ts';
import { createCluster, spawnNode } from '../../cli/launcher.ts';
import { pkiDir, type ClusterFile, type ClusterNode } from '../../cli/cluster-dir.ts';
import type { NodeStatus } from '../../actors/node/status.ts';
import { DEADLINE_MS, waitFor as waitUntil } from './wait.ts';

export const ACP = fileURLToPath(new URL('../../cli/acp.ts', import.meta.url));

/**
 * Fast but not twitchy on a loaded 2-core machine: 20 ms ticks, elections
 * after 10–20 ticks (200–400 ms), meta published every 100 ms, Monitor
 * evaluating every 200 ms.
 */
export const FAST = {
  raft: { tickMs: 20, electionTicks: 10, heartbeatTicks: 1 },
  meta: { publishMs: 100, staleAfterMs: 3000 },
  monitor: { intervalMs: 200 },
};

/**
 * Failure bound for a node process to boot (load the code, open its store, start its Raft
 * groups) and answer: generous, as three booting at once on a loaded 2-core machine took over
 * 30 s.
 */
export const BOOT_MS = 90_000;

export type Reply = { ok: boolean; code?: string; message?: string; leader?: string; [k: string]: unknown };

/**
 * Poll `probe` until it returns something other than undefined/false, or
 * fail after `timeoutMs` with `what` and the last error seen. The
 * positional form of `waitFor` in ./wait.ts, kept for the cluster helpers
 * and the end-to-end tests.
 */
export function waitFor<T>(what: string | (() => string), probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = DEADLINE_MS, everyMs = 100): Promise<T> {
  return waitUntil(probe, { what, deadlineMs: timeoutMs, everyMs });
}

// Every process any TestCluster in this worker started: killed when the worker exits, whatever happened.
const everyProcess = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of everyProcess) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/**
 * At most ACP_E2E_SLOTS (default 2) real clusters at once across every ava
 * worker process: ava runs test files in parallel, and seven 3-node clusters
 * on a 2-core machine starve each other into election storms and 5-second
 * stalls. A slot is a lock file created exclusively, holding the owner's pid;
 * a slot whose owner died is taken over.
 */
const SLOT_DIR = join(tmpdir(), `acp-e2e-slots-${process.getuid?.() ?? 0}`);
const SLOTS = Math.max(1, Number(process.env.ACP_E2E_SLOTS ?? 2));

export function acquireSlot(timeoutMs = 600_000): Promise<() => void> {
  return waitUntil(takeSlot, { what: `a free e2e cluster slot in ${SLOT_DIR} (${SLOTS} slots)`, deadlineMs: timeoutMs, everyMs: 250 });
}

/**
 * acquireSlot, saying in the test's log how long it queued: a test's time includes its wait
 * for a slot, and the per-test times printed after the run should not blame the test for it.
 */
export async function acquireSlotFor(t: Pick<ExecutionContext, 'log'>): Promise<() => void> {
  const asked = performance.now();
  const release = await acquireSlot();
  logSlotWait(t, performance.now() - asked);
  return release;
}

function logSlotWait(t: Pick<ExecutionContext, 'log'>, ms: number): void {
  if (ms >= 1000) t.log(`waited ${(ms / 1000).toFixed(1)} s for an e2e cluster slot (ACP_E2E_SLOTS=${SLOTS})`);
}

/** Take a free slot (or one whose owner died): its release function, or undefined when all are held. */
function takeSlot(): (() => void) | undefined {
  // Every round: the last holder removes the directory when it leaves.
  mkdirSync(SLOT_DIR, { recursive: true, mode: 0o700 });
  for (let i = 0; i < SLOTS; i++) {
    const f = join(SLOT_DIR, `slot-${i}`);
    try {
      writeFileSync(f, String(process.pid), { flag: 'wx', mode: 0o600 });
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        rmSync(f, { force: true });
        // Leave no directory behind; fails harmlessly while another slot is held.
        try {
          rmdirSync(SLOT_DIR);
        } catch {
          // not empty, or gone already
        }
      };
    } catch {
      // taken: by a live process?
      let owner = NaN;
      try {
        owner = Number(readFileSync(f, 'utf8'));
      } catch {
        continue;
      }
      if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && !pidAlive(owner)) rmSync(f, { force: true });
    }
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface StartOptions {
  nodes?: number;
  /** Merged into every node's config (default FAST). */
  extra?: Record<string, unknown>;
  /** Nodes not to start (start them later with `spawn`). */
  hold?: string[];
  /** Wait for a cdb leader before returning (default true). Every started node has booted either way. */
  waitLeader?: boolean;
}

export class TestCluster {
  readonly dir: string;
  readonly cluster: ClusterFile;
  readonly apiKey: string;
  readonly procs = new Map<string, ChildProcess>();
  #clients = new Map<string, Promise<LocalClient>>();
  #stopped = false;
  #release: () => void = () => {};

  private constructor(dir: string, cluster: ClusterFile) {
    this.dir = dir;
    this.cluster = cluster;
    this.apiKey = loadApiKey(pkiDir(dir));
  }

  /** Create and start a cluster (its wait for a slot logged on `t`, if given); stop it with `stop`. */
  static async start(o: StartOptions = {}, t?: Pick<ExecutionContext, 'log'>): Promise<TestCluster> {
    const release = t ? await acquireSlotFor(t) : await acquireSlot();
    const dir = mkdtempSync(join(tmpdir(), 'acp-e2e-'));
    let c: TestCluster | undefined;
    try {
      const cluster = await createCluster(dir, o.nodes ?? 3, { extra: o.extra ?? FAST });
      c = new TestCluster(dir, cluster);
      c.#release = release;
      for (const n of cluster.nodes) if (!o.hold?.includes(n.name)) c.spawn(n.name);
      await c.waitBooted();
      if (o.waitLeader !== false) await c.waitLeader();
      return c;
    } catch (e) {
      if (c) await c.stop();
      else {
        rmSync(dir, { recursive: true, force: true });
        release();
      }
      throw e;
    }
  }

  /** Start with `t.teardown(stop)` registered. */
  static async forTest(t: ExecutionContext, o: StartOptions = {}): Promise<TestCluster> {
    const c = await TestCluster.start(o, t);
    t.teardown(() => c.stop());
    return c;
  }

  get names(): string[] {
    return this.cluster.nodes.map((n) => n.name);
  }

  node(name: string): ClusterNode {
    const n = this.cluster.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  isAlive(name: string): boolean {
    const p = this.procs.get(name);
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  alive(): string[] {
    return this.names.filter((n) => this.isAlive(n));
  }

  /** Start (or restart) a node process. */
  spawn(name: string): ChildProcess {
    if (this.#stopped) throw new Error('cluster stopped');
    if (this.isAlive(name)) throw new Error(`${name} is already running`);
    const p = spawnNode(this.node(name));
    everyProcess.add(p);
    p.once('exit', () => everyProcess.delete(p));
    this.procs.set(name, p);
    return p;
  }

  /** kill -9, and wait until the process is gone. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(name);
    this.dropClient(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  /** Restart a killed node and wait until it has booted. */
  async restart(name: string, timeoutMs = BOOT_MS): Promise<void> {
    this.spawn(name);
    await this.waitBooted([name], timeoutMs);
  }

  /** Wait until each of `names` (default: every running node) answers status with both its Raft groups running. */
  async waitBooted(names = this.alive(), timeoutMs = BOOT_MS): Promise<void> {
    let seen = 'nothing';
    await waitFor(
      () => `${names.join(',')} to boot and answer status with their Raft groups running (last seen: ${seen})`,
      async () => {
        const st = await this.statuses(names);
        seen = names.map((n) => `${n}:${st.has(n) ? `cdb ${st.get(n)!.raft.cdb.role}, monitor ${st.get(n)!.raft.monitor.role}` : 'no answer'}`).join(' ');
        return st.size === names.length && [...st.values()].every((s) => s.raft.cdb.role !== 'unknown' && s.raft.monitor.role !== 'unknown');
      },
      timeoutMs,
      250,
    );
  }

  // ---- control socket ----------------------------------------------------------

  client(name: string): Promise<LocalClient> {
    let c = this.#clients.get(name);
    if (!c) {
      c = LocalClient.connect(this.node(name).socketDir, { apiKey: this.apiKey, timeoutMs: 10_000 });
      c.catch(() => this.#clients.delete(name));
      this.#clients.set(name, c);
    }
    return c;
  }

  dropClient(name: string): void {
    const c = this.#clients.get(name);
    this.#clients.delete(name);
    c?.then((x) => x.close()).catch(() => {});
  }

  /**
   * One call on the node's control socket; a broken connection is dropped so the next call
   * reconnects. An error with `notSent: true` means the request never left this process
   * (no connection): it certainly had no effect.
   */
  async call(name: string, method: string, params: unknown, timeoutMs = 20_000): Promise<unknown> {
    const cp = this.client(name);
    let c: LocalClient;
    try {
      c = await cp;
      if (c.closed) throw new Error(`connection to ${name} closed`);
    } catch (e) {
      if (this.#clients.get(name) === cp) this.dropClient(name);
      throw Object.assign(e instanceof Error ? e : new Error(String(e)), { notSent: true });
    }
    try {
      return await c.call(method, params, { timeoutMs });
    } catch (e) {
      if (this.#clients.get(name) === cp) this.dropClient(name);
      throw e;
    }
  }

  cdb(name: string, params: Record<string, unknown>, timeoutMs = 20_000): Promise<Reply> {
    return this.call(name, 'cdb', params, timeoutMs) as Promise<Reply>;
  }

  /** A node's status, or undefined when it does not answer. */
  async status(name: string, timeoutMs = 10_000): Promise<NodeStatus | undefined> {
    if (!this.isAlive(name)) return undefined;
    try {
      return (await this.call(name, 'status', {}, timeoutMs)) as NodeStatus;
    } catch {
      return undefined;
    }
  }

  async statuses(names = this.alive()): Promise<Map<string, NodeStatus>> {
    const out = new Map<string, NodeStatus>();
    await Promise.all(
      names.map(async (n) => {
        const s = await this.status(n);
        if (s) out.set(n, s);
      }),
    );
    return out;
  }

  /**
   * Wait until every running node (or `among`) answers and all agree on one
   * leader of `group`, at one term, the leader itself reporting `leader`.
   */
  async waitLeader(o: { group?: 'cdb' | 'monitor'; among?: string[]; not?: string; timeoutMs?: number } = {}): Promise<{ leader: string; term: number; statuses: Map<string, NodeStatus> }> {
    const group = o.group ?? 'cdb';
    let seen = 'nothing';
    return waitFor(
      () => `one agreed ${group} leader among ${(o.among ?? this.alive()).join(',')}${o.not ? ` other than ${o.not}` : ''} (last seen: ${seen})`,
      async () => {
        const among = o.among ?? this.alive();
        const st = await this.statuses(among);
        seen = [...st.entries()].map(([n, s]) => `${n}:${s.raft[group].role}/t${s.raft[group].term}/lead=${s.raft[group].lead}`).join(' ');
        if (st.size !== among.length) return undefined;
        const leads = new Set([...st.values()].map((s) => s.raft[group].lead));
        const terms = new Set([...st.values()].map((s) => s.raft[group].term));
        if (leads.size !== 1 || terms.size !== 1) return undefined;
        const leader = [...leads][0]!;
        if (!leader || (o.not && leader === o.not) || st.get(leader)?.raft[group].role !== 'leader') return undefined;
        const leaders = [...st.values()].filter((s) => s.raft[group].role === 'leader');
        if (leaders.length !== 1) return undefined;
        return { leader, term: [...terms][0]!, statuses: st };
      },
      o.timeoutMs ?? 30_000,
    );
  }

  /** Put through `name`, retrying not-leader/unavailable (never a write that may have happened). */
  async put(name: string, object: Record<string, unknown>, extra: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<Reply> {
    return waitFor(
      `put of ${String(object.type)}/${String(object.id)} through ${name}`,
      async () => {
        const r = await this.cdb(name, { op: 'put', object, ...extra }, 10_000);
        if (!r.ok && (r.code === 'not-leader' || r.code === 'unavailable')) return undefined;
        // A plain put is safe to repeat (same object); a CAS is not: its outcome is returned as is.
        if (!r.ok && r.code === 'indeterminate' && extra.expectRevision === undefined) return undefined;
        return r;
      },
      timeoutMs,
      200,
    );
  }

  /** Run the CLI as a child process: its exit code and output. */
  cli(args: string[], o: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runCli(args, o);
  }

  log(name: string): string {
    try {
      return readFileSync(join(this.node(name).dir, 'node.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Kill every node process (SIGKILL: the data is thrown away) and remove the dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const n of [...this.#clients.keys()]) this.dropClient(n);
    await Promise.all([...this.procs.keys()].map((n) => this.kill(n)));
    rmSync(this.dir, { recursive: true, force: true });
    this.#release();
  }
}

/** `node cli/acp.ts …` with a deadline (killed when it passes); never throws for a non-zero exit. */
export function runCli(args: string[], o: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [ACP, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env }, ...(o.cwd ? { cwd: o.cwd } : {}) });
    everyProcess.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      everyProcess.delete(p);
      resolve({ code, stdout, stderr });
    });
  });
}
