// Baseline for the benchmark: plain worker_threads with one postMessage per
// message, no runtime. Roles: 'sink' counts or echoes; 'driver' floods or pings.
import { parentPort, type MessagePort } from 'node:worker_threads';

let peer: MessagePort | null = null;
parentPort!.on('message', (m: { port?: MessagePort; cmd?: string; n?: number }) => {
  if (m.port) {
    peer = m.port;
    let seen = 0;
    let target = Infinity;
    let pending: ((v: number[]) => void) | null = null;
    let rtts: number[] = [];
    let t0 = 0;
    let left = 0;
    peer.on('message', (x: { type: string; n: number }) => {
      if (x.type === 'item') {
        if (++seen === target) parentPort!.postMessage({ done: seen });
      } else if (x.type === 'ping') {
        peer!.postMessage({ type: 'pong', n: x.n });
      } else if (x.type === 'pong') {
        rtts.push((performance.now() - t0) * 1000);
        if (--left > 0) {
          t0 = performance.now();
          peer!.postMessage({ type: 'ping', n: left });
        } else pending?.(rtts);
      } else if (x.type === 'expect') {
        target = x.n;
        seen = 0;
      }
    });
    void pending;
    parentPort!.on('message', (c: { cmd?: string; n?: number }) => {
      if (c.cmd === 'flood') {
        const t = performance.now();
        for (let i = 0; i < c.n!; i++) peer!.postMessage({ type: 'item', n: i });
        parentPort!.postMessage({ sentMs: performance.now() - t });
      } else if (c.cmd === 'expect') {
        target = c.n!;
        seen = 0;
        parentPort!.postMessage({ ready: true });
      } else if (c.cmd === 'pingpong') {
        rtts = [];
        left = c.n!;
        pending = (r) => parentPort!.postMessage({ rtts: r });
        t0 = performance.now();
        peer!.postMessage({ type: 'ping', n: left });
      }
    });
    parentPort!.postMessage({ linked: true });
  }
});
