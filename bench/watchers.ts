// The many-watchers row of bench:cdb: N watchers on one prefix of one node
// while a writer writes to that prefix at a fixed rate (open loop: writes are
// issued on schedule, not when the last one returns). Measured: delivery
// latency from a write's acknowledgement to each watcher receiving its event
// (an event that arrives before the acknowledgement counts as 0), how many
// of the expected events arrived, and the resident memory of the node
// process the watchers are attached to. ACP and etcd get the same driver.
import { cpuSeconds, Histogram, rssBytes } from './load.ts';

export interface WatchTarget {
  /** Short description of how the watchers are attached (connections, streams). */
  readonly how: string;
  /** PID of the node process the watchers attach to (its RSS is reported). */
  readonly pid: number | undefined;
  /**
   * Open `n` watchers on the prefix; each calls `onRevisions` with the revisions of the changes it
   * received. Resolves once every watcher is registered, with a function that closes them all.
   */
  open(n: number, onRevisions: (revisions: number[]) => void): Promise<() => void>;
  /** One write under the prefix; resolves with its revision once acknowledged. */
  write(seq: number): Promise<number>;
}

export interface WatchOptions {
  watchers: number;
  writesPerSec: number;
  durationMs: number;
  /** How long to wait after the last write for events still on their way. */
  drainMs: number;
  /** Writes in flight at most (the schedule slips rather than piling up). */
  maxInflight?: number;
}

export interface WatchResult {
  watchers: number;
  how: string;
  writesPerSec: number;
  writes: number;
  writeErrors: number;
  firstWriteError?: string;
  expectedEvents: number;
  deliveredEvents: number;
  /** Events that arrived before the bench saw the write's acknowledgement (counted as 0 ms). */
  beforeAck: number;
  deliveryP50ms: number;
  deliveryP99ms: number;
  deliveryMaxMs: number;
  /** RSS of the node process before the watchers were opened, and its peak during the row. */
  rssBeforeMiB: number;
  rssPeakMiB: number;
  /** Time to open and register all watchers. */
  openMs: number;
  /**
   * From the first write until delivery stopped: wall seconds, and CPU seconds used by the node
   * process and by this benchmark process (which writes and runs all the watchers): shows which
   * side was the bottleneck.
   */
  wallS: number;
  nodeCpuS: number;
  benchCpuS: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (b: number): number => Math.round((b / (1 << 20)) * 10) / 10;

export async function manyWatchers(t: WatchTarget, o: WatchOptions): Promise<WatchResult> {
  const acked = new Map<number, number>(); // revision -> when its write was acknowledged
  const hist = new Histogram();
  let delivered = 0;
  let beforeAck = 0;
  const onRevisions = (revs: number[]): void => {
    const now = performance.now();
    for (const r of revs) {
      delivered++;
      const at = acked.get(r);
      if (at === undefined) {
        beforeAck++;
        hist.add(0);
      } else hist.add(now - at);
    }
  };

  const rssBefore = rssBytes(t.pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    const r = rssBytes(t.pid);
    if (r > rssPeak || Number.isNaN(rssPeak)) rssPeak = r;
  }, 100);
  let close: (() => void) | undefined;
  try {
    const t0 = performance.now();
    close = await t.open(o.watchers, onRevisions);
    const openMs = performance.now() - t0;

    // Open-loop writer: issue whatever is due every few ms.
    const maxInflight = o.maxInflight ?? 256;
    let issued = 0;
    let inflight = 0;
    let ok = 0;
    let errors = 0;
    let firstError: string | undefined;
    const start = performance.now();
    const nodeCpu0 = cpuSeconds(t.pid);
    const benchCpu0 = process.cpuUsage();
    const issue = (seq: number): void => {
      inflight++;
      t.write(seq).then(
        (rev) => {
          acked.set(rev, performance.now());
          ok++;
          inflight--;
        },
        (e: unknown) => {
          errors++;
          firstError ??= (e as Error)?.message ?? String(e);
          inflight--;
        },
      );
    };
    for (;;) {
      const elapsed = performance.now() - start;
      if (elapsed >= o.durationMs) break;
      const due = Math.floor((elapsed * o.writesPerSec) / 1000);
      while (issued < due && inflight < maxInflight) issue(issued++);
      await sleep(2);
    }
    while (inflight > 0) await sleep(5);
    const writeMs = performance.now() - start;
    const expected = ok * o.watchers;
    const drainEnd = performance.now() + o.drainMs;
    while (delivered < expected && performance.now() < drainEnd) await sleep(20);
    const wallS = (performance.now() - start) / 1000;
    const benchCpu = process.cpuUsage(benchCpu0);
    const nodeCpuS = cpuSeconds(t.pid) - nodeCpu0;
    return {
      watchers: o.watchers,
      how: t.how,
      writesPerSec: Math.round((ok / writeMs) * 1000),
      writes: ok,
      writeErrors: errors,
      ...(firstError === undefined ? {} : { firstWriteError: firstError }),
      expectedEvents: expected,
      deliveredEvents: delivered,
      beforeAck,
      deliveryP50ms: round1(hist.quantile(0.5)),
      deliveryP99ms: round1(hist.quantile(0.99)),
      deliveryMaxMs: round1(hist.max),
      rssBeforeMiB: mib(rssBefore),
      rssPeakMiB: mib(rssPeak),
      openMs: Math.round(openMs),
      wallS: round1(wallS),
      nodeCpuS: round1(nodeCpuS),
      benchCpuS: round1((benchCpu.user + benchCpu.system) / 1e6),
    };
  } finally {
    clearInterval(sampler);
    close?.();
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
