// VMs through QEMU: the accelerator (KVM where it truly works, TCG otherwise), the command
// line for a workload, and a QMP client (the JSON control socket QEMU serves).
//
// The serial console is a socket chardev with a log file: everything the guest prints lands in
// console.log (what `acp logs` shows and what tests wait on), and console.sock stays open for
// an interactive console (`acp system exec/console` later). NICs are virtio-net on taps the
// caller (the Network service) created; disks are virtio block devices.
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { SystemSpec } from '../cdb/schema.ts';

export type Accel = 'kvm' | 'tcg';

/**
 * KVM is usable when /dev/kvm opens read-write and the CPU shows hardware virtualisation
 * (vmx/svm). Both matter: some sandboxes expose /dev/kvm without nested virtualisation, and a
 * guest started there hangs instead of failing.
 */
export function probeKvm(): { ok: true } | { ok: false; reason: string } {
  if (!existsSync('/dev/kvm')) return { ok: false, reason: 'no /dev/kvm' };
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (e) {
    return { ok: false, reason: `/dev/kvm does not open: ${(e as Error).message}` };
  }
  const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  if (!/\b(vmx|svm)\b/.test(flags)) return { ok: false, reason: '/dev/kvm exists but the CPU shows no vmx/svm (no nested virtualisation)' };
  return { ok: true };
}

export interface VmLaunch {
  qemu: string;
  id: string;
  dir: string;
  accel: Accel;
  spec: SystemSpec;
  /** taps for spec.vm.nics, in order (from the Network service) */
  taps?: readonly string[];
  /** share id → path (disks on shares: the share holds `<system id>-<n>.img`) */
  shares?: Readonly<Record<string, string>>;
}

export function qmpPath(dir: string): string {
  return join(dir, 'qmp.sock');
}
export function consoleLog(dir: string): string {
  return join(dir, 'console.log');
}
export function consoleSock(dir: string): string {
  return join(dir, 'console.sock');
}

/** The qemu-system-x86_64 argv for a VM workload. */
export function qemuArgv(l: VmLaunch): string[] {
  const vm = l.spec.vm ?? {};
  for (const p of [qmpPath(l.dir), consoleSock(l.dir)]) if (p.length > 107) throw new Error(`socket path too long for a UNIX socket (${p.length} > 107): ${p}`);
  const a = [l.qemu, '-name', `acp-${l.id}`, '-nodefaults', '-no-user-config', '-display', 'none'];
  a.push('-machine', vm.machine ?? 'pc');
  a.push('-accel', l.accel === 'kvm' ? 'kvm' : 'tcg,tb-size=64');
  a.push('-cpu', l.accel === 'kvm' ? 'host' : 'max');
  a.push('-smp', String(l.spec.vcpus), '-m', String(l.spec.memoryMb));
  a.push('-chardev', `socket,id=ser0,path=${consoleSock(l.dir)},server=on,wait=off,logfile=${consoleLog(l.dir)},logappend=on`, '-serial', 'chardev:ser0');
  a.push('-qmp', `unix:${qmpPath(l.dir)},server=on,wait=off`);
  if (vm.kernel) {
    a.push('-kernel', vm.kernel);
    if (vm.initramfs) a.push('-initrd', vm.initramfs);
    a.push('-append', vm.cmdline ?? 'console=ttyS0');
  }
  let d = 0;
  for (const img of vm.images ?? []) {
    a.push('-drive', `file=${img.path},if=virtio,format=${img.format ?? 'raw'}${img.readOnly ? ',readonly=on' : ''},index=${d++}`);
  }
  (l.spec.disks ?? []).forEach((disk, i) => {
    const base = l.shares?.[disk.share];
    if (base === undefined) throw new Error(`share ${disk.share} has no path on this node`);
    a.push('-drive', `file=${join(base, `${l.id}-${i}.img`)},if=virtio,format=raw,index=${d++}`);
  });
  (vm.nics ?? []).forEach((nic, i) => {
    const tap = l.taps?.[i];
    if (tap === undefined) throw new Error(`no tap for NIC ${i} (network ${nic.network})`);
    a.push('-netdev', `tap,id=n${i},ifname=${tap},script=no,downscript=no`);
    a.push('-device', `virtio-net-pci,netdev=n${i}${nic.mac ? `,mac=${nic.mac}` : ''}`);
  });
  return a;
}

export interface QmpError {
  class: string;
  desc: string;
}

/**
 * A QMP connection: greeting, capabilities negotiation, then commands answered in order (each
 * gets an id), events delivered to `onEvent`. One connection per VM; QEMU serves one client.
 */
export class Qmp {
  private sock: Socket;
  private buf = '';
  private seq = 0;
  private pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;
  onEvent: ((name: string, data: unknown) => void) | undefined;
  onClose: (() => void) | undefined;

  private constructor(sock: Socket) {
    this.sock = sock;
  }

  /** Connect (retrying while the socket does not exist yet, until the deadline). */
  static async connect(path: string, timeoutMs = 5000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await Qmp.once(path, Math.max(100, deadline - Date.now()));
      } catch (e) {
        if (Date.now() >= deadline) throw new Error(`QMP at ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  private static once(path: string, timeoutMs: number): Promise<Qmp> {
    return new Promise<Qmp>((resolve, reject) => {
      const sock = createConnection(path);
      const q = new Qmp(sock);
      let greeted = false;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error('no QMP greeting'));
      }, timeoutMs);
      sock.setEncoding('utf8');
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('data', (d: string) => {
        q.buf += d;
        let i;
        while ((i = q.buf.indexOf('\n')) >= 0) {
          const line = q.buf.slice(0, i).trim();
          q.buf = q.buf.slice(i + 1);
          if (!line) continue;
          let m: Record<string, unknown>;
          try {
            m = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          if (!greeted && 'QMP' in m) {
            greeted = true;
            q.execute('qmp_capabilities').then(
              () => {
                clearTimeout(timer);
                sock.on('error', () => q.fail(new Error('QMP connection error')));
                resolve(q);
              },
              (e: Error) => {
                clearTimeout(timer);
                reject(e);
              },
            );
            continue;
          }
          q.dispatch(m);
        }
      });
      sock.on('close', () => q.fail(new Error('QMP connection closed')));
    });
  }

  private dispatch(m: Record<string, unknown>): void {
    if (typeof m.event === 'string') {
      this.onEvent?.(m.event, m.data);
      return;
    }
    const id = typeof m.id === 'string' ? m.id : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (!p || id === undefined) return;
    this.pending.delete(id);
    if ('error' in m) {
      const e = m.error as QmpError;
      p.reject(new Error(`${e.class}: ${e.desc}`));
    } else p.resolve(m.return);
  }

  private fail(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.onClose?.();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (this.closed) return Promise.reject(new Error('QMP connection closed'));
    const id = `acp-${++this.seq}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.sock.write(JSON.stringify({ execute: command, id, ...(args ? { arguments: args } : {}) }) + '\n');
    });
  }

  // The commands the Hypervisor uses, typed.
  queryStatus(): Promise<{ status: string; running: boolean }> {
    return this.execute('query-status');
  }
  queryKvm(): Promise<{ enabled: boolean; present: boolean }> {
    return this.execute('query-kvm');
  }
  stop(): Promise<unknown> {
    return this.execute('stop');
  }
  cont(): Promise<unknown> {
    return this.execute('cont');
  }
  powerdown(): Promise<unknown> {
    return this.execute('system_powerdown');
  }
  quit(): Promise<unknown> {
    return this.execute('quit');
  }
  /** Start an outgoing migration (live): `uri` such as tcp:HOST:PORT. */
  migrate(uri: string): Promise<unknown> {
    return this.execute('migrate', { uri });
  }
  queryMigrate(): Promise<{ status?: string; downtime?: number; 'total-time'?: number; ram?: Record<string, number> }> {
    return this.execute('query-migrate');
  }
  queryBlockstats(): Promise<{ device: string; stats: { rd_bytes: number; wr_bytes: number } }[]> {
    return this.execute('query-blockstats');
  }

  close(): void {
    this.fail(new Error('QMP connection closed'));
    this.sock.destroy();
  }
}
