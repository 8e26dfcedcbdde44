// A tiny guest for VM tests and the benchmark, built by the project from what is installed:
// the newest Debian kernel in /boot, and an initramfs written here (cpio "newc", gzip) holding
// busybox-static, an /init that mounts the basics, loads the virtio NIC modules matching the
// kernel when the system has them, prints a marker and gives a shell prompt on the serial
// console. Boots to the prompt in seconds under TCG. Nothing is downloaded.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const GUEST_READY = 'ACP-GUEST-READY';
export const GUEST_PROMPT = 'acp-guest# ';

/** The newest /boot/vmlinuz-* and its version, or undefined. */
export function findKernel(boot = '/boot'): { path: string; version: string } | undefined {
  let names: string[];
  try {
    names = readdirSync(boot).filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return undefined;
  }
  const sorted = names.map((n) => n.slice('vmlinuz-'.length)).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const version = sorted[sorted.length - 1];
  return version ? { path: join(boot, `vmlinuz-${version}`), version } : undefined;
}

interface Entry {
  name: string;
  mode: number;
  data?: Buffer;
  target?: string;
  /** device number for character/block nodes */
  rdev?: [number, number];
}

/** A cpio archive in the "newc" format (what the kernel unpacks as an initramfs). */
export function cpioNewc(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const add = (name: string, mode: number, body: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBuf = Buffer.from(name + '\0');
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const header = '070701' + [ino++, mode, 0, 0, 1, 0, body.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0].map(hex).join('');
    parts.push(Buffer.from(header), nameBuf, pad4(110 + nameBuf.length), body, pad4(body.length));
  };
  for (const e of entries) add(e.name, e.mode, e.target !== undefined ? Buffer.from(e.target) : (e.data ?? Buffer.alloc(0)), e.rdev);
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

const DIR = 0o040755;
const FILE = 0o100644;
const EXEC = 0o100755;
const LINK = 0o120777;

/** The virtio modules a virtio-net NIC needs, in load order (those absent are built in or missing). */
const NIC_MODULES = ['virtio', 'virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net'];

function findModules(version: string): { name: string; data: Buffer }[] {
  const root = `/lib/modules/${version}/kernel`;
  if (!existsSync(root)) return [];
  const found = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) found.set(e.name.slice(0, -3), p);
    }
  };
  for (const sub of ['drivers/virtio', 'drivers/net', 'net/core']) if (existsSync(join(root, sub))) walk(join(root, sub));
  // Load order from each module's own `depends=` (its .modinfo section), dependencies first.
  const data = new Map<string, Buffer>();
  for (const m of NIC_MODULES) if (found.has(m)) data.set(m, readFileSync(found.get(m)!));
  const deps = (buf: Buffer): string[] => {
    const i = buf.indexOf('depends=');
    if (i < 0) return [];
    const end = buf.indexOf(0, i);
    return buf.toString('latin1', i + 'depends='.length, end).split(',').filter(Boolean);
  };
  const order: string[] = [];
  const visit = (m: string, seen: Set<string>): void => {
    if (order.includes(m) || seen.has(m) || !data.has(m)) return;
    seen.add(m);
    for (const d of deps(data.get(m)!)) visit(d, seen);
    order.push(m);
  };
  for (const m of NIC_MODULES) visit(m, new Set());
  return order.map((m) => ({ name: `${m}.ko`, data: data.get(m)! }));
}

/**
 * Write a gzip'd newc initramfs to `out`. `kernelVersion` selects the NIC modules to include
 * (uncompressed .ko only, as Debian 12 ships them); `extraInit` runs before the prompt.
 */
export function buildInitramfs(out: string, opts: { busybox?: string; kernelVersion?: string; extraInit?: string } = {}): { bytes: number; modules: string[] } {
  const busybox = opts.busybox ?? '/bin/busybox';
  const mods = opts.kernelVersion ? findModules(opts.kernelVersion) : [];
  const init = [
    '#!/bin/busybox sh',
    '/bin/busybox mkdir -p /proc /sys /dev /tmp',
    '/bin/busybox mount -t proc proc /proc',
    '/bin/busybox mount -t sysfs sys /sys',
    '/bin/busybox mount -t devtmpfs dev /dev',
    '/bin/busybox --install -s /bin',
    'for m in ' + mods.map((m) => m.name).join(' ') + '; do [ -f /lib/modules/$m ] && insmod /lib/modules/$m 2>/dev/null; done',
    'ip link set lo up 2>/dev/null',
    opts.extraInit ?? '',
    `echo ${GUEST_READY}`,
    `export PS1='${GUEST_PROMPT}'`,
    'exec setsid cttyhack sh',
  ].join('\n');
  const entries: Entry[] = [
    { name: 'bin', mode: DIR },
    { name: 'bin/busybox', mode: EXEC, data: readFileSync(busybox) },
    { name: 'bin/sh', mode: LINK, target: 'busybox' },
    { name: 'dev', mode: DIR },
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    { name: 'proc', mode: DIR },
    { name: 'sys', mode: DIR },
    { name: 'tmp', mode: DIR },
    { name: 'lib', mode: DIR },
    { name: 'lib/modules', mode: DIR },
    ...mods.map((m) => ({ name: `lib/modules/${m.name}`, mode: FILE, data: m.data })),
    { name: 'init', mode: EXEC, data: Buffer.from(init + '\n') },
  ];
  const gz = gzipSync(cpioNewc(entries), { level: 1 });
  writeFileSync(out, gz);
  return { bytes: statSync(out).size, modules: mods.map((m) => m.name) };
}

/** The kernel command line for the tiny guest (serial console, quiet, no reboot loop). */
export const GUEST_CMDLINE = 'console=ttyS0 quiet panic=-1 mitigations=off nokaslr';
