// Interface counters → per-object stats, shared by the Linux driver and its
// simulated twin. Pure apart from the sample it keeps for rates.
//
//   /proc/net/dev (one read per sample, every interface of the namespace) → counters by name
//   counters + the owned links → stats by object key:
//     network/<id>     the sum over the network's links on this node (bridge, segment, and
//                      the veths of its leases): rx/tx bytes, packets, errors, drops, and the
//                      rates rxBytesPerSec/txBytesPerSec (bytes per second since the previous sample); plus the
//                      segment's own traffic (segRxBytes/segTxBytes: what crossed to other nodes)
//     network/<lease>  the lease's veth (its host side: rx = what the workload sent)
import type { ObjectKey, Stats } from '../cdb/client.ts';
import type { LinkKind } from './reconcile.ts';

export interface Counters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDrops: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDrops: number;
}

export const COUNTER_NAMES = ['rxBytes', 'rxPackets', 'rxErrors', 'rxDrops', 'txBytes', 'txPackets', 'txErrors', 'txDrops'] as const;

/**
 * Parse /proc/net/dev: two header lines, then `name: rx bytes packets errs drop fifo frame
 * compressed multicast | tx bytes packets errs drop fifo colls carrier compressed`.
 */
export function parseProcNetDev(text: string): Map<string, Counters> {
  const out = new Map<string, Counters>();
  let i = text.indexOf('\n');
  i = text.indexOf('\n', i + 1);
  while (i >= 0 && i < text.length - 1) {
    const j = text.indexOf('\n', i + 1);
    const line = text.slice(i + 1, j < 0 ? text.length : j);
    i = j;
    const c = line.indexOf(':');
    if (c < 0) continue;
    const name = line.slice(0, c).trim();
    const f = line.slice(c + 1).trim().split(/\s+/);
    if (f.length < 16) continue;
    out.set(name, {
      rxBytes: +f[0]!,
      rxPackets: +f[1]!,
      rxErrors: +f[2]!,
      rxDrops: +f[3]!,
      txBytes: +f[8]!,
      txPackets: +f[9]!,
      txErrors: +f[10]!,
      txDrops: +f[11]!,
    });
  }
  return out;
}

export interface StatLink {
  name: string;
  kind: LinkKind;
  key: ObjectKey;
  /** For a lease's veth: the network key it belongs to (its traffic counts there too). */
  network?: ObjectKey;
}

/** Turns successive counter samples into stats with rates. */
export class StatsKeeper {
  #prev = new Map<string, { at: number; rx: number; tx: number }>();

  /** `now` in ms (any monotonic clock). */
  sample(links: readonly StatLink[], counters: ReadonlyMap<string, Counters>, now: number): Map<ObjectKey, Stats> {
    const out = new Map<ObjectKey, Stats>();
    const sum = (key: ObjectKey, c: Counters): Stats => {
      let s = out.get(key);
      if (!s) {
        s = { rxBytes: 0, rxPackets: 0, rxErrors: 0, rxDrops: 0, txBytes: 0, txPackets: 0, txErrors: 0, txDrops: 0, rxBytesPerSec: 0, txBytesPerSec: 0, links: 0 };
        out.set(key, s);
      }
      for (const n of COUNTER_NAMES) s[n]! += c[n];
      s.links!++;
      return s;
    };
    const seen = new Set<string>();
    for (const l of links) {
      const c = counters.get(l.name);
      if (!c) continue;
      seen.add(l.name);
      const p = this.#prev.get(l.name);
      const dt = p ? (now - p.at) / 1000 : 0;
      // A counter that went down is a recreated link: no rate for this sample.
      const rxBytesPerSec = p && dt > 0 && c.rxBytes >= p.rx ? (c.rxBytes - p.rx) / dt : 0;
      const txBytesPerSec = p && dt > 0 && c.txBytes >= p.tx ? (c.txBytes - p.tx) / dt : 0;
      this.#prev.set(l.name, { at: now, rx: c.rxBytes, tx: c.txBytes });
      const own = sum(l.key, c);
      own.rxBytesPerSec! += rxBytesPerSec;
      own.txBytesPerSec! += txBytesPerSec;
      if (l.network !== undefined) {
        const n = sum(l.network, c);
        n.rxBytesPerSec! += rxBytesPerSec;
        n.txBytesPerSec! += txBytesPerSec;
      }
      if (l.kind === 'vxlan' || l.kind === 'vlan') {
        own.segRxBytes = (own.segRxBytes ?? 0) + c.rxBytes;
        own.segTxBytes = (own.segTxBytes ?? 0) + c.txBytes;
      }
    }
    for (const name of [...this.#prev.keys()]) if (!seen.has(name)) this.#prev.delete(name);
    for (const s of out.values()) {
      s.rxBytesPerSec = Math.round(s.rxBytesPerSec!);
      s.txBytesPerSec = Math.round(s.txBytesPerSec!);
    }
    return out;
  }
}
