// Storage's part of `npm run bench:services` (bench/services.ts calls
// storageBench); also runs alone:  node bench/services-storage.ts [--json FILE] [--quick]
//
//   adoptMs          a restarted node's Storage driver (new process state, same data dir) finds
//                    its loop device, pool and 20 shares (2 NFS-exported, served by one ganesha)
//                    and plans nothing: capabilities + observe + reconcile, median of N restarts
//   statsCpuPercent  CPU of one stats sample (sysfs + statfs for the device, pool and 20 shares)
//                    as a share of one core at the service's sampling period (2 s)
//   baseline         the same adoption done the obvious way: `losetup -j`, `findmnt`, and
//                    `btrfs subvolume show` per share (what a shell script would run)
// Root, btrfs and losetup are needed; otherwise the result says why it was skipped.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CdbObject, ObjectDef } from '../actors/cdb/client.ts';
import { LinuxStorageDriver, which } from '../actors/storage/linux.ts';
import { reconcileStorage } from '../actors/storage/reconcile.ts';
import { converge, scrub, skipReason } from '../test/storage/linux-support.ts';

export interface StorageBenchResult {
  skipped?: string;
  shares: number;
  /** Median time for a restarted driver to adopt everything (nothing to do). */
  adoptMs: number;
  adoptP99Ms: number;
  /** The same checks done by spawning the usual tools, for scale. */
  baselineAdoptMs: number;
  /** Time to build everything from nothing (devices, pool, shares, exports). */
  createMs: number;
  statsSampleUs: number;
  statsCpuPercent: number;
}

function objs(defs: ObjectDef[]): Map<string, CdbObject> {
  return new Map(defs.map((d, i) => [`${d.type}/${d.id}`, { ...d, revision: i + 1, createdRevision: i + 1 } as CdbObject]));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function storageBench(o: { quick?: boolean; shares?: number } = {}): Promise<StorageBenchResult> {
  const shares = o.shares ?? 20;
  const empty = { shares, adoptMs: NaN, adoptP99Ms: NaN, baselineAdoptMs: NaN, createMs: NaN, statsSampleUs: NaN, statsCpuPercent: NaN };
  const skip = skipReason(['losetup', 'mkfs.btrfs', 'btrfs', 'truncate']);
  if (skip) return { ...empty, skipped: skip };
  const dir = mkdtempSync('/tmp/acp-storage-bench-');
  try {
    const dataDir = join(dir, 'node');
    const nfs = which('ganesha.nfsd') !== undefined;
    const defs: ObjectDef[] = [
      { type: 'storage', subtype: 'device', id: 'd1', spec: { node: 'n1', path: join(dir, 'disks', 'd1.img'), sizeBytes: 1 << 30, loop: true } },
      { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['d1'], redundancy: 'none' } },
    ];
    for (let i = 0; i < shares; i++) {
      defs.push({ type: 'storage', subtype: 'share', id: `s${i}`, spec: { pool: 'p1', protocol: nfs && i < 2 ? 'nfs' : 'local', path: `/s${i}`, ...(i % 2 === 0 ? { quotaBytes: (i + 1) << 20 } : {}) } });
    }
    const desired = objs(defs);
    const first = new LinuxStorageDriver({ dataDir });
    const caps = await first.capabilities();
    const t0 = performance.now();
    await converge(first, desired, caps, { maxPasses: 30 });
    const createMs = performance.now() - t0;

    // Restarts: a fresh driver on the same data dir adopts everything.
    const runs = o.quick ? 5 : 20;
    const adopt: number[] = [];
    for (let i = 0; i < runs; i++) {
      const a0 = performance.now();
      const d = new LinuxStorageDriver({ dataDir });
      const c = await d.capabilities();
      const plan = reconcileStorage('n1', desired, await d.observe(), c);
      adopt.push(performance.now() - a0);
      if (plan.actions.length) throw new Error(`adoption planned ${plan.actions.length} actions: ${plan.actions.map((x) => x.kind).join(', ')}`);
    }

    // Baseline: the same facts gathered by the usual tools.
    const mount = join(dataDir, 'storage', 'pools', 'p1');
    const base: number[] = [];
    for (let i = 0; i < Math.min(runs, 5); i++) {
      const b0 = performance.now();
      execFileSync('losetup', ['-j', join(dir, 'disks', 'd1.img')]);
      execFileSync('findmnt', ['-n', mount]);
      for (let s = 0; s < shares; s++) execFileSync('btrfs', ['subvolume', 'show', join(mount, 'shares', `s${s}`)], { stdio: 'ignore' });
      base.push(performance.now() - b0);
    }

    // Stats: CPU per sample.
    const d = new LinuxStorageDriver({ dataDir });
    await d.capabilities();
    await d.stats();
    const samples = o.quick ? 50 : 300;
    const c0 = process.cpuUsage();
    for (let i = 0; i < samples; i++) await d.stats();
    const cpu = process.cpuUsage(c0);
    const perSampleUs = (cpu.user + cpu.system) / samples;
    const statsMs = 2000;
    await first.purge();
    return {
      shares,
      adoptMs: Math.round(pct(adopt, 50) * 10) / 10,
      adoptP99Ms: Math.round(pct(adopt, 99) * 10) / 10,
      baselineAdoptMs: Math.round(pct(base, 50) * 10) / 10,
      createMs: Math.round(createMs),
      statsSampleUs: Math.round(perSampleUs),
      statsCpuPercent: Math.round((perSampleUs / 1000 / statsMs) * 100 * 1000) / 1000,
    };
  } finally {
    scrub(dir);
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const r = await storageBench({ quick: args.includes('--quick') });
  const json = args.indexOf('--json');
  if (json >= 0 && args[json + 1]) writeFileSync(args[json + 1]!, JSON.stringify({ storage: r }, null, 2) + '\n');
  console.log(JSON.stringify(r, null, 2));
}
