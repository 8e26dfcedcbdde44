// A stand-in CDB for service-shell tests on virtual time: lists the objects
// it holds to a watch (and keeps the sink, so a test can push changes),
// answers a get with the object if it holds it (the shell's read barrier,
// Storage's removal check), and records every meta/stats report.
import { receive, type ActorRef, type Behavior } from '../../runtime/actor/index.ts';
import type { CdbMsg, CdbObject, CdbWatchEvent, Meta, Stats } from '../../actors/cdb/client.ts';

export interface FakeCdb {
  objects: CdbObject[];
  sinks: Map<string, ActorRef<CdbWatchEvent>>;
  reports: { key: string; meta?: Meta; stats?: Stats }[];
}

export function newFakeCdb(objects: CdbObject[]): FakeCdb {
  return { objects, sinks: new Map(), reports: [] };
}

export function fakeCdb(db: FakeCdb): Behavior<CdbMsg> {
  return receive<CdbMsg>((c, m) => {
    if (m.type === 'request') {
      const req = m.req as { type?: string; id?: string };
      const object = db.objects.find((o) => o.type === req.type && o.id === req.id);
      c.reply(m.replyTo, { ok: true, revision: 9, ...(object ? { object } : {}) });
    } else if (m.type === 'watch') {
      db.sinks.set(m.id, m.sink);
      const type = (m.req as { type?: string }).type;
      m.sink.tell({ type: 'cdb-watch', id: m.id, revision: 1, changes: [], objects: db.objects.filter((o) => o.type === type) });
    } else if (m.type === 'report') db.reports.push({ key: m.key, meta: m.meta, stats: m.stats });
  });
}
