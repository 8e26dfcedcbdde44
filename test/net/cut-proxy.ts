// A TCP forwarder that can cut the link the way a partition does (packets
// vanish: no FIN, no RST), for testing dead-link detection and rejoining
// without iptables. While cut:
//  - established connections forward nothing and propagate no close;
//  - new connections are accepted but get no answer (to the dialer this looks
//    like a SYN that is never answered: its attempt hangs until its deadline).
// After heal() new connections are forwarded again; the ones that were cut
// stay dead (the bytes they swallowed are gone, as if TCP's retransmission
// timer had backed off past the test).
//
// With `refuseWhileCut`, the proxy stops listening while cut instead: new
// connections are refused at once, and the dialer's next attempt after the
// heal goes through. That is how a dialer sees a partition that drops its
// SYNs once its connect deadline passes (an accepted connection that never
// answers would hold it until the longer TLS deadline, which a dropped SYN
// does not).
import net from 'node:net';
import type { PeerAddress } from '../../runtime/net/node-transport.ts';
import { withTimeout } from './helpers.ts';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
  dead: boolean;
}

export class CutProxy {
  readonly target: PeerAddress;
  port = 0;
  /** Connections accepted while cut. */
  attemptsWhileCut = 0;
  #server: net.Server;
  #cut = false;
  #pairs = new Set<Pair>();
  #waiters: { n: number; resolve: () => void }[] = [];
  readonly #refuse: boolean;

  constructor(target: PeerAddress, o: { refuseWhileCut?: boolean } = {}) {
    this.target = target;
    this.#refuse = o.refuseWhileCut === true;
    this.#server = net.createServer((c) => this.#accept(c));
  }

  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.#server.address() as net.AddressInfo).port;
    return this.port;
  }

  get address(): PeerAddress {
    return { host: '127.0.0.1', port: this.port };
  }

  cut(): void {
    this.#cut = true;
    for (const p of this.#pairs) p.dead = true;
    if (this.#refuse && this.#server.listening) this.#server.close();
  }

  /** Forward new connections again (in refuse mode: once listening again on the same port). */
  async heal(): Promise<void> {
    this.#cut = false;
    if (this.#refuse && !this.#server.listening) {
      this.#server = net.createServer((c) => this.#accept(c));
      await this.start(this.port);
    }
  }

  /** Resolves once `n` connections have been attempted during the current cut. */
  attempts(n: number, timeoutMs: number): Promise<void> {
    if (this.attemptsWhileCut >= n) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.#waiters.push({ n, resolve })), timeoutMs, `${n} connection attempts during the cut`);
  }

  async stop(): Promise<void> {
    for (const p of this.#pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.#pairs.clear();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    const pair: Pair = { client, upstream: null, dead: this.#cut };
    this.#pairs.add(pair);
    client.on('error', () => {});
    client.on('close', () => {
      this.#pairs.delete(pair);
      if (!pair.dead) pair.upstream?.destroy();
    });
    if (pair.dead) {
      this.attemptsWhileCut++;
      this.#waiters = this.#waiters.filter((w) => {
        if (this.attemptsWhileCut < w.n) return true;
        w.resolve();
        return false;
      });
      client.resume(); // swallow whatever it sends
      return;
    }
    const up = net.connect(this.target.port, this.target.host);
    pair.upstream = up;
    up.on('error', () => {});
    up.on('close', () => {
      if (!pair.dead) client.destroy();
    });
    client.on('data', (d) => {
      if (!pair.dead) up.write(d);
    });
    up.on('data', (d) => {
      if (!pair.dead) client.write(d);
    });
  }
}
