// node-ipc 14.0.0 ships no TypeScript declarations. This covers the part of
// its public surface runtime/net uses (IPCModule, config, server, of[id]),
// plus the few documented internals the network layer relies on
// (Server.server = the node net/tls server, Server.sockets, Client.socket).
declare module 'node-ipc' {
  import type { Server as NetServer, Socket } from 'node:net';

  export interface IPCConfig {
    appspace: string;
    socketRoot: string;
    id: string;
    networkHost: string;
    networkPort: number;
    tls: false | Record<string, unknown>;
    readableAll: boolean;
    writableAll: boolean;
    secureSocketRoot: boolean;
    encoding: string;
    rawBuffer: boolean;
    parser: 'raw' | 'fast' | 'guarded' | 'assured' | object;
    identifyPeer: boolean;
    delimiter: string;
    sync: boolean;
    silent: boolean;
    logInColor: boolean;
    logDepth: number;
    logger: (line: string) => void;
    logPayloads: boolean;
    maxConnections: number;
    maxMessageSize: number;
    maxPendingBytes: number;
    maxEventNameLength: number;
    messageTimeout: number;
    allowReservedEvents: boolean;
    allowedEvents: false | string[] | Set<string>;
    retry: number;
    maxRetries: number;
    stopRetrying: boolean;
    unlink: boolean;
  }

  export class IPCProtocolError extends Error {
    code: string;
    constructor(code: string, message: string);
  }

  interface PubSub {
    on(type: string, handler: (...args: any[]) => void): this;
    once(type: string, handler: (...args: any[]) => void): this;
    off(type?: string, handler?: ((...args: any[]) => void) | '*'): this;
    reset(): this;
  }

  export interface IPCServer extends PubSub {
    /** The underlying node server once started (tls.Server for TLS). */
    server: NetServer | false;
    sockets: Socket[];
    path: string;
    port: number | string | undefined;
    start(): void;
    stop(): void;
    emit(socket: Socket, type: string, data?: unknown): boolean;
    broadcast(type: string, data?: unknown): boolean;
    protocolFailure(socket: Socket, error: Error): void;
  }

  export interface IPCClient extends PubSub {
    id: string;
    socket: Socket | false;
    emit(type: string, data?: unknown): boolean;
    protocolFailure(socket: Socket, error: Error): void;
  }

  export class IPCModule {
    config: IPCConfig;
    of: Record<string, IPCClient>;
    server: IPCServer | false;
    connectTo(id: string, path?: string, callback?: () => void): void;
    connectToNet(id: string, host?: string, port?: number, callback?: () => void): void;
    disconnect(id: string): void;
    serve(path?: string, callback?: () => void): void;
    serveNet(host?: string, port?: number, callback?: () => void): void;
    log(...args: unknown[]): void;
  }

  const singleton: IPCModule;
  export default singleton;
}
