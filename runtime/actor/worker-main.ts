// Entry point of a worker thread hosting actors. It runs a ThreadRuntime,
// links to the main thread over parentPort and to sibling workers over the
// MessagePorts main introduces, and exposes a small control surface (stats,
// inspection on/off) to main through comlink.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ThreadRuntime } from './thread-runtime.ts';
import { RealEnv } from '../env/real-env.ts';
import type { InspectionEvent } from '../inspect/events.ts';
import type { SysMsg, WireItem } from './wire.ts';
import { serializeError } from './errors.ts';
import { cellStats, type ActorStats } from './stats.ts';

interface WorkerInit {
  thread: string;
  index: number;
  control: MessagePort;
  inspect: boolean;
}

const init = workerData as WorkerInit;
const port = parentPort!;
const env = new RealEnv();

const rt: ThreadRuntime = new ThreadRuntime({
  thread: init.thread,
  index: init.index,
  env,
  hooks: {
    ensureWorker: (worker, placement) => rt.sendSys('main', { k: 'ensureWorker', worker, ...('resourceLimits' in placement && placement.resourceLimits ? { limits: placement.resourceLimits } : {}) }),
    rootEscalated: (err) => rt.sendSys('main', { k: 'log', level: 'error', path: '/', msg: `escalation reached worker root: ${err.message}` }),
    forceKill: (ref) => rt.sendSys(ref.thread, { k: 'kill', path: ref.path }),
    log: (level, path, msg, fields) => rt.sendSys('main', { k: 'log', level, path, msg, ...(fields ? { fields } : {}) }),
  },
});

rt.addPort('main', port, { ring: true });

port.on('message', (data: unknown) => {
  const intro = data as { $intro?: string; port?: MessagePort };
  if (typeof intro.$intro !== 'string' || !intro.port) {
    rt.receiveFrom('main', data);
    return;
  }
  const from = intro.$intro;
  const p = intro.port;
  p.on('message', (d: unknown) => rt.receiveFrom(from, d));
  rt.addPort(from, p, { ring: true });
});

// Inspection events are forwarded to main in batches, only while main listens.
let unsubscribe: (() => void) | null = null;
let pending: InspectionEvent[] = [];
function setInspect(on: boolean): void {
  if (on && !unsubscribe) {
    unsubscribe = rt.bus.subscribe((e) => {
      if (pending.length === 0) queueMicrotask(flushEvents);
      pending.push(e);
    });
  } else if (!on && unsubscribe) {
    unsubscribe();
    unsubscribe = null;
  }
}
function flushEvents(): void {
  const events = pending;
  pending = [];
  const s: SysMsg = { k: 'events', events };
  rt.sendSys('main', s);
}
setInspect(init.inspect);

const control = {
  stats(): ActorStats[] {
    return cellStats(rt);
  },
  setInspect,
};
export type WorkerControl = typeof control;
Comlink.expose(control, nodeEndpoint(init.control));

process.on('unhandledRejection', (e) => {
  // An unhandled rejection inside actor code is a crash of this worker: report why, then die.
  port.postMessage([{ t: 's', s: { k: 'log', level: 'error', path: '/', msg: `unhandled rejection in ${init.thread}`, fields: { error: serializeError(e) } } }]);
  throw e;
});
