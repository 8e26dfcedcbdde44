// The anchor for bench:cdb: a 3-member etcd on loopback (Debian's
// etcd-server), written to through its JSON gateway — the same way the
// ANCHORS figures were taken. Used only when `etcd` is on PATH.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';

export function etcdAvailable(): boolean {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  proc: ChildProcess | null;
}

export class EtcdCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'acp-bench-etcd-'));
  readonly members: Member[];
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

  constructor(basePort: number) {
    this.members = [0, 1, 2].map((i) => ({ name: `e${i}`, clientPort: basePort + i * 2, peerPort: basePort + i * 2 + 1, proc: null }));
  }

  #initialCluster(): string {
    return this.members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  }

  start(m: Member, state: 'new' | 'existing' = 'new'): void {
    m.proc = spawn(
      'etcd',
      [
        '--name', m.name,
        '--data-dir', join(this.dir, m.name),
        '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
        '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
        '--initial-cluster', this.#initialCluster(),
        '--initial-cluster-state', state,
        '--initial-cluster-token', 'acp-bench',
        '--log-level', 'error',
      ],
      { stdio: 'ignore' },
    );
  }

  async startAll(): Promise<void> {
    for (const m of this.members) this.start(m);
    await this.waitWritable(20_000);
  }

  /** Resolves once a write succeeds through any member. */
  async waitWritable(timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; ; i++) {
      for (const m of this.members) {
        if (!m.proc) continue;
        try {
          await this.put(m, `probe`, `${i}`, 200);
          return performance.now() - t0;
        } catch {
          /* not yet */
        }
      }
      if (performance.now() - t0 > timeoutMs) throw new Error('etcd did not become writable');
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async leader(): Promise<Member> {
    for (const m of this.members) {
      if (!m.proc) continue;
      try {
        const st = (await this.#post(m, '/v3/maintenance/status', {}, 1000)) as { header: { member_id: string }; leader: string };
        if (st.leader === st.header.member_id) return m;
      } catch {
        /* try next */
      }
    }
    throw new Error('no etcd leader');
  }

  /** Resolves with the revision of the write. */
  async put(m: Member, key: string, value: string, timeoutMs = 5000): Promise<number> {
    const r = (await this.#post(m, '/v3/kv/put', { key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') }, timeoutMs)) as { header?: { revision?: string } };
    return Number(r.header?.revision ?? NaN);
  }

  endpoints(): string {
    return this.members.map((m) => `http://127.0.0.1:${m.clientPort}`).join(',');
  }

  /**
   * Open `n` watchers on every key under `prefix` through the JSON gateway's streaming
   * `/v3/watch` (one HTTP connection each: HTTP/1.1 does not multiplex). `onRevisions` gets the
   * mod_revision of every event a watcher receives. Resolves once every watcher is created, with
   * a function that closes them all.
   */
  async watch(m: Member, prefix: string, n: number, onRevisions: (revs: number[]) => void, timeoutMs = 30_000): Promise<() => void> {
    const end = Buffer.from(prefix);
    end[end.length - 1]!++;
    const body = JSON.stringify({ create_request: { key: Buffer.from(prefix).toString('base64'), range_end: end.toString('base64') } });
    const reqs: http.ClientRequest[] = [];
    const closeAll = (): void => {
      for (const r of reqs) r.destroy();
    };
    const one = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: m.clientPort, path: '/v3/watch', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`etcd watch: HTTP ${res.statusCode}`));
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (line.includes('"created":true')) resolve();
              const revs: number[] = [];
              for (const mm of line.matchAll(/"mod_revision":"(\d+)"/g)) revs.push(Number(mm[1]));
              if (revs.length > 0) onRevisions(revs);
            }
          });
          res.on('error', () => {});
        });
        req.on('error', (e) => reject(e));
        reqs.push(req);
        req.end(body);
      });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`etcd watch: ${n} watchers not created within ${timeoutMs} ms`)), timeoutMs);
    });
    late.catch(() => {});
    try {
      for (let i = 0; i < n; i += 100) await Promise.race([Promise.all(Array.from({ length: Math.min(100, n - i) }, one)), late]);
    } catch (e) {
      closeAll();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return closeAll;
  }

  #post(m: Member, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const data = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: m.clientPort, path, method: 'POST', agent: this.#agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) reject(new Error(`etcd ${res.statusCode}: ${text}`));
            else resolve(JSON.parse(text));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(data);
    });
  }

  kill(m: Member): Promise<void> {
    const p = m.proc;
    m.proc = null;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    this.#agent.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
