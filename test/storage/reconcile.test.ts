// Storage's pure reconciler, as tables: (desired, observed, capabilities) → (actions, conditions).
import test from 'ava';
import type { CdbObject, ObjectDef } from '../../actors/cdb/client.ts';
import type { Capabilities } from '../../actors/reconciler/contract.ts';
import {
  reconcileStorage,
  type ObservedDevice,
  type ObservedPool,
  type ObservedShare,
  type PathProbe,
  type StorageAction,
  type StorageObserved,
} from '../../actors/storage/reconcile.ts';

const N = 'n1';

function objs(...defs: ObjectDef[]): Map<string, CdbObject> {
  return new Map(defs.map((d, i) => [`${d.type}/${d.id}`, { ...d, revision: i + 1, createdRevision: i + 1 } as CdbObject]));
}
const dev = (id: string, spec: Partial<{ node: string; path: string; sizeBytes: number; loop: boolean; wipe: boolean }> = {}): ObjectDef => ({
  type: 'storage',
  subtype: 'device',
  id,
  spec: { node: N, path: `/dev/${id}`, sizeBytes: 1 << 30, ...spec },
});
const loopDev = (id: string, extra: Partial<{ node: string; wipe: boolean }> = {}): ObjectDef => dev(id, { path: `/data/${id}.img`, loop: true, ...extra });
const pool = (id: string, devices: string[], redundancy: 'none' | 'mirror' | 'raid5' = 'mirror'): ObjectDef => ({ type: 'storage', subtype: 'pool', id, spec: { devices, redundancy } });
const share = (id: string, poolId: string, protocol: 'local' | 'nfs' | 'nbd' | 'iscsi' | 'smb' = 'local', quotaBytes?: number): ObjectDef => ({
  type: 'storage',
  subtype: 'share',
  id,
  spec: { pool: poolId, protocol, path: `/${id}`, ...(quotaBytes !== undefined ? { quotaBytes } : {}) },
});

const FULL: Capabilities = {
  loop: { ok: true },
  btrfs: { ok: true },
  'btrfs-raid1': { ok: true },
  'btrfs-raid5': { ok: true },
  ext4: { ok: true },
  quotas: { ok: true },
  'nfs-ganesha': { ok: true },
  'qemu-storage-daemon': { ok: true },
  'qemu-nbd': { ok: true },
  wipefs: { ok: true },
};
const NO_BTRFS: Capabilities = { ...FULL, btrfs: { ok: false, reason: 'mkfs.btrfs not found (install btrfs-progs)' }, 'btrfs-raid1': { ok: false, reason: 'no btrfs' }, 'btrfs-raid5': { ok: false, reason: 'no btrfs' } };
const NO_SERVERS: Capabilities = {
  ...FULL,
  'nfs-ganesha': { ok: false, reason: 'ganesha.nfsd not found' },
  'qemu-storage-daemon': { ok: false, reason: 'qemu-storage-daemon not found' },
  'qemu-nbd': { ok: false, reason: 'qemu-nbd not found' },
};

interface World {
  devices?: ObservedDevice[];
  probes?: PathProbe[];
  pools?: ObservedPool[];
  shares?: ObservedShare[];
}
function world(w: World = {}): StorageObserved {
  return {
    devices: new Map((w.devices ?? []).map((d) => [d.id, d])),
    probes: new Map((w.probes ?? []).map((p) => [p.path, p])),
    pools: new Map((w.pools ?? []).map((p) => [p.id, p])),
    shares: new Map((w.shares ?? []).map((s) => [s.id, s])),
  };
}
const ownedLoop = (id: string, n = 0, present = true): ObservedDevice => ({ id, kind: 'loop', path: `/data/${id}.img`, dev: `/dev/loop${n}`, present, backingExists: true, sizeBytes: 1 << 30 });
const ownedBlock = (id: string): ObservedDevice => ({ id, kind: 'block', path: `/dev/${id}`, dev: `/dev/${id}`, present: true });
const mounted = (id: string, devices: string[], profile: ObservedPool['profile'] = 'raid1', extra: Partial<ObservedPool> = {}): ObservedPool => ({
  id,
  fs: profile === 'ext4' ? 'ext4' : 'btrfs',
  profile,
  devices,
  mount: `/data/pools/${id}`,
  mounted: true,
  missing: [],
  errors: {},
  ...extra,
});
const madeShare = (id: string, poolId: string, extra: Partial<ObservedShare> = {}): ObservedShare => ({ id, pool: poolId, kind: 'subvolume', dir: `/data/pools/${poolId}/shares/${id}`, exists: true, ...extra });

/** The plan, shortened: actions as "kind id[ detail]", conditions as "key state[: reason]". */
function plan(desired: Map<string, CdbObject>, observed: StorageObserved, caps = FULL, node = N) {
  const p = reconcileStorage(node, desired, observed, caps);
  const act = (a: StorageAction): string => {
    switch (a.kind) {
      case 'create-pool':
        return `create-pool ${a.id} ${a.fs}/${a.profile} ${a.devices.join(',')}`;
      case 'add-pool-device':
      case 'remove-pool-device':
        return `${a.kind} ${a.id} ${a.device}`;
      case 'claim-device':
      case 'create-loop':
        return `${a.kind} ${a.id}${a.wipe ? ' wipe' : ''}`;
      case 'mount-pool':
        return `mount-pool ${a.id}${a.degraded ? ' degraded' : ''}`;
      case 'set-quota':
        return `set-quota ${a.id} ${a.quotaBytes}`;
      case 'export-share':
        return `export-share ${a.id} ${a.protocol} ${a.path}${a.sizeBytes !== undefined ? ` ${a.sizeBytes}` : ''}`;
      case 'convert-pool':
        return `convert-pool ${a.id} ${a.profile}`;
      default:
        return `${a.kind} ${a.id}`;
    }
  };
  return {
    actions: p.actions.map(act),
    status: Object.fromEntries([...p.status].map(([k, c]) => [k, c.reason ? `${c.state}: ${c.reason}` : c.state])),
    raw: p,
  };
}

// ---------------------------------------------------------------------------------------------
// Devices

const deviceCases: [string, Map<string, CdbObject>, World, Capabilities, string[], Record<string, string>][] = [
  ['an unknown block device is probed first', objs(dev('vdb')), {}, FULL, ['probe-device vdb'], { 'storage/vdb': 'pending: device vdb: looking at /dev/vdb' }],
  ['an empty block device is claimed', objs(dev('vdb')), { probes: [{ path: '/dev/vdb', kind: 'block' }] }, FULL, ['claim-device vdb'], { 'storage/vdb': 'pending: device vdb: taking /dev/vdb' }],
  [
    'a block device holding a file system is refused without wipe',
    objs(dev('vdb')),
    { probes: [{ path: '/dev/vdb', kind: 'block', signature: 'ext4' }] },
    FULL,
    [],
    { 'storage/vdb': 'failed: device vdb: /dev/vdb holds a ext4 file system; set wipe: true to erase it' },
  ],
  [
    'a block device holding a partition table is refused without wipe',
    objs(dev('vdb')),
    { probes: [{ path: '/dev/vdb', kind: 'block', signature: 'gpt' }] },
    FULL,
    [],
    { 'storage/vdb': 'failed: device vdb: /dev/vdb holds a gpt partition table; set wipe: true to erase it' },
  ],
  ['with wipe: true it is wiped and claimed', objs(dev('vdb', { wipe: true })), { probes: [{ path: '/dev/vdb', kind: 'block', signature: 'ext4' }] }, FULL, ['claim-device vdb wipe'], { 'storage/vdb': 'pending: device vdb: taking /dev/vdb (wiping its ext4)' }],
  [
    'a mounted device is refused even with wipe: true',
    objs(dev('vda', { wipe: true })),
    { probes: [{ path: '/dev/vda', kind: 'block', signature: 'ext4', mountedAt: '/' }] },
    FULL,
    [],
    { 'storage/vda': 'failed: device vda: /dev/vda is mounted at /; Storage never uses a mounted device' },
  ],
  ['a device held by another device is refused', objs(dev('vdc')), { probes: [{ path: '/dev/vdc', kind: 'block', heldBy: 'md0' }] }, FULL, [], { 'storage/vdc': 'failed: device vdc: /dev/vdc is in use by md0' }],
  ['a missing block device', objs(dev('vdz')), { probes: [{ path: '/dev/vdz', kind: 'missing' }] }, FULL, [], { 'storage/vdz': 'failed: device vdz: /dev/vdz does not exist' }],
  ['a regular file without loop: true', objs(dev('f', { path: '/tmp/f.img' })), { probes: [{ path: '/tmp/f.img', kind: 'file' }] }, FULL, [], { 'storage/f': 'failed: device f: /tmp/f.img is not a block device (set loop: true for a file-backed loop device)' }],
  ['a loop device on a new file is created', objs(loopDev('l1')), { probes: [{ path: '/data/l1.img', kind: 'missing' }] }, FULL, ['create-loop l1'], { 'storage/l1': 'pending: device l1: creating loop device on /data/l1.img' }],
  [
    'a loop device over a file Storage did not create is refused',
    objs(loopDev('l1')),
    { probes: [{ path: '/data/l1.img', kind: 'file' }] },
    FULL,
    [],
    { 'storage/l1': 'failed: device l1: /data/l1.img already exists and Storage did not create it; set wipe: true to use (and erase) it' },
  ],
  ['… unless wipe: true', objs(loopDev('l1', { wipe: true })), { probes: [{ path: '/data/l1.img', kind: 'file' }] }, FULL, ['create-loop l1 wipe'], { 'storage/l1': 'pending: device l1: attaching loop device on /data/l1.img (wiping it)' }],
  ['loop devices unsupported', objs(loopDev('l1')), {}, { ...FULL, loop: { ok: false, reason: '/dev/loop-control is missing' } }, [], { 'storage/l1': 'unsupported: device l1: loop devices: /dev/loop-control is missing' }],
  ['an owned, present device is ready (idempotent)', objs(loopDev('l1')), { devices: [ownedLoop('l1', 3)] }, FULL, [], { 'storage/l1': 'ready' }],
  ['an owned loop device that was detached is attached again', objs(loopDev('l1')), { devices: [ownedLoop('l1', 3, false)] }, FULL, ['create-loop l1'], { 'storage/l1': 'pending: device l1: loop device /dev/loop3 is gone; attaching /data/l1.img again' }],
  [
    'an owned loop device whose backing file is gone has failed',
    objs(loopDev('l1')),
    { devices: [{ ...ownedLoop('l1', 3, false), backingExists: false }] },
    FULL,
    [],
    { 'storage/l1': 'failed: device l1 failed: its loop device /dev/loop3 is gone and its backing file /data/l1.img was removed' },
  ],
  ['an owned block device that vanished has failed', objs(dev('vdb')), { devices: [{ ...ownedBlock('vdb'), present: false }] }, FULL, [], { 'storage/vdb': 'failed: device vdb failed: /dev/vdb is gone' }],
  [
    'changing the path of an owned device is refused',
    objs(dev('vdb', { path: '/dev/vdc' })),
    { devices: [ownedBlock('vdb')] },
    FULL,
    [],
    { 'storage/vdb': 'failed: device vdb was set up from /dev/vdb; changing its path or kind is not supported: delete the device and create a new one' },
  ],
  ["another node's devices are not this node's business", objs(dev('vdb', { node: 'n2' })), {}, FULL, [], {}],
  ['a device no longer desired is released', objs(), { devices: [ownedLoop('l1', 3)] }, FULL, ['release-device l1'], { 'storage/l1': 'removing: device l1: detaching /dev/loop3 and deleting /data/l1.img' }],
  ['a device moved to another node is released here', objs(loopDev('l1', { node: 'n2' })), { devices: [ownedLoop('l1', 3)] }, FULL, ['release-device l1'], { 'storage/l1': 'removing: device l1: detaching /dev/loop3 and deleting /data/l1.img' }],
];

for (const [name, desired, w, caps, actions, status] of deviceCases) {
  test(`device: ${name}`, (t) => {
    const p = plan(desired, world(w), caps);
    t.deepEqual(p.actions, actions);
    t.deepEqual(p.status, status);
  });
}

// ---------------------------------------------------------------------------------------------
// Pools

const two = [loopDev('a'), loopDev('b')];
const twoOwned = [ownedLoop('a', 0), ownedLoop('b', 1)];

const poolCases: [string, Map<string, CdbObject>, World, Capabilities, string[], Record<string, string>][] = [
  ['a mirror waits for its devices', objs(...two, pool('p', ['a', 'b'])), { devices: [ownedLoop('a', 0)], probes: [{ path: '/data/b.img', kind: 'missing' }] }, FULL, ['create-loop b'], { 'storage/p': 'pending: pool p: waiting for device b' }],
  ['a mirror over ready devices is made as btrfs raid1', objs(...two, pool('p', ['a', 'b'])), { devices: twoOwned }, FULL, ['create-pool p btrfs/raid1 a,b'], { 'storage/p': 'pending: pool p: making btrfs (raid1) on a and b' }],
  ['none → single', objs(loopDev('a'), pool('p', ['a'], 'none')), { devices: [ownedLoop('a')] }, FULL, ['create-pool p btrfs/single a'], {}],
  ['raid5 → btrfs raid5', objs(...two, loopDev('c'), pool('p', ['a', 'b', 'c'], 'raid5')), { devices: [...twoOwned, ownedLoop('c', 2)] }, FULL, ['create-pool p btrfs/raid5 a,b,c'], {}],
  [
    'raid5 where the kernel has no btrfs raid5',
    objs(...two, loopDev('c'), pool('p', ['a', 'b', 'c'], 'raid5')),
    { devices: [...twoOwned, ownedLoop('c', 2)] },
    { ...FULL, 'btrfs-raid5': { ok: false, reason: 'this kernel has no btrfs raid56 support' } },
    [],
    { 'storage/p': 'unsupported: pool p: redundancy raid5 needs btrfs raid5: this kernel has no btrfs raid56 support' },
  ],
  [
    'a mirror without btrfs is unsupported (no fake redundancy)',
    objs(...two, pool('p', ['a', 'b'])),
    { devices: twoOwned },
    NO_BTRFS,
    [],
    { 'storage/p': 'unsupported: pool p: redundancy mirror needs btrfs (mkfs.btrfs not found (install btrfs-progs)); only a pool without redundancy (ext4 on one device) can be made here' },
  ],
  ['without btrfs, a pool without redundancy is ext4 on its first device', objs(...two, pool('p', ['a', 'b'], 'none')), { devices: twoOwned }, NO_BTRFS, ['create-pool p ext4/ext4 a'], { 'storage/p': 'pending: pool p: making ext4 on a' }],
  [
    '… and once made it is degraded, naming the devices it does not use',
    objs(...two, pool('p', ['a', 'b'], 'none')),
    { devices: twoOwned, pools: [mounted('p', ['a'], 'ext4')] },
    NO_BTRFS,
    [],
    { 'storage/p': 'degraded: pool p: ext4 on a only (btrfs: mkfs.btrfs not found (install btrfs-progs)): device b not used' },
  ],
  ['a mounted pool that matches is ready (idempotent)', objs(...two, pool('p', ['a', 'b'])), { devices: twoOwned, pools: [mounted('p', ['a', 'b'])] }, FULL, [], { 'storage/p': 'ready' }],
  [
    'a device lost under a mounted mirror: degraded, naming the device; the device failed',
    objs(...two, pool('p', ['a', 'b'])),
    { devices: [ownedLoop('a', 0), { ...ownedLoop('b', 1, false), backingExists: false }], pools: [mounted('p', ['a', 'b'], 'raid1', { missing: ['b'] })] },
    FULL,
    [],
    {
      'storage/b': 'failed: device b failed: its loop device /dev/loop1 is gone and its backing file /data/b.img was removed',
      'storage/p': 'degraded: pool p: device b (/dev/loop1) missing',
    },
  ],
  [
    'I/O errors on a device: the pool is degraded naming it, the device too',
    objs(...two, pool('p', ['a', 'b'])),
    { devices: twoOwned, pools: [mounted('p', ['a', 'b'], 'raid1', { errors: { b: 20 } })] },
    FULL,
    [],
    { 'storage/b': 'degraded: device b (/dev/loop1) has 20 I/O errors (btrfs device stats)', 'storage/p': 'degraded: pool p: device b (/dev/loop1) has 20 I/O errors' },
  ],
  ['an unmounted pool is mounted', objs(...two, pool('p', ['a', 'b'])), { devices: twoOwned, pools: [mounted('p', ['a', 'b'], 'raid1', { mounted: false })] }, FULL, ['mount-pool p'], {}],
  [
    'an unmounted mirror missing one device is mounted degraded',
    objs(...two, pool('p', ['a', 'b'])),
    { devices: [ownedLoop('a', 0), { ...ownedLoop('b', 1, false), backingExists: false }], pools: [mounted('p', ['a', 'b'], 'raid1', { mounted: false })] },
    FULL,
    ['mount-pool p degraded'],
    { 'storage/p': 'pending: pool p: mounting at /data/pools/p degraded (device b (/dev/loop1) missing)' },
  ],
  [
    'an unmounted pool whose loop device is being attached again waits for it',
    objs(...two, pool('p', ['a', 'b'])),
    { devices: [ownedLoop('a', 0), ownedLoop('b', 1, false)], pools: [mounted('p', ['a', 'b'], 'raid1', { mounted: false })] },
    FULL,
    ['create-loop b'],
    { 'storage/p': 'pending: pool p: waiting for device b to come back before mounting' },
  ],
  [
    'a pool without redundancy missing a device cannot be mounted',
    objs(...two, pool('p', ['a', 'b'], 'none')),
    { devices: [ownedLoop('a', 0), { ...ownedLoop('b', 1, false), backingExists: false }], pools: [mounted('p', ['a', 'b'], 'single', { mounted: false })] },
    FULL,
    [],
    { 'storage/p': 'failed: pool p cannot be mounted: device b (/dev/loop1) missing (single tolerates 0)' },
  ],
  ['a pool spanning nodes is unsupported', objs(loopDev('a'), loopDev('b', { node: 'n2' }), pool('p', ['a', 'b'])), { devices: [ownedLoop('a')] }, FULL, [], { 'storage/p': "unsupported: pool p spans nodes n1 and n2: a pool's devices must all be on one node" }],
  ['a device added to a btrfs pool', objs(...two, loopDev('c'), pool('p', ['a', 'b', 'c'])), { devices: [...twoOwned, ownedLoop('c', 2)], pools: [mounted('p', ['a', 'b'])] }, FULL, ['add-pool-device p c'], { 'storage/p': 'pending: pool p: adding c' }],
  ['redundancy changed → converted', objs(...two, pool('p', ['a', 'b'], 'none')), { devices: twoOwned, pools: [mounted('p', ['a', 'b'])] }, FULL, ['convert-pool p single'], { 'storage/p': 'pending: pool p: converting raid1 → single' }],
  [
    'a device already in another pool is not taken',
    objs(...two, pool('p', ['a', 'b']), pool('q', ['a', 'b'])),
    { devices: twoOwned, pools: [mounted('p', ['a', 'b'])] },
    FULL,
    [],
    { 'storage/q': 'failed: pool q: device a (in pool p) and b (in pool p) already used by another pool' },
  ],
  ['a pool no longer desired is destroyed; its devices wait for it', objs(...two), { devices: twoOwned, pools: [mounted('p', ['a', 'b'])] }, FULL, ['destroy-pool p'], { 'storage/p': 'removing: pool p: no longer defined here; unmounting and erasing it' }],
  ['… but not before its shares are gone', objs(...two), { devices: twoOwned, pools: [mounted('p', ['a', 'b'])], shares: [madeShare('s', 'p')] }, FULL, ['destroy-share s'], { 'storage/p': 'removing: pool p: waiting for share s to be removed' }],
];

for (const [name, desired, w, caps, actions, status] of poolCases) {
  test(`pool: ${name}`, (t) => {
    const p = plan(desired, world(w), caps);
    t.deepEqual(p.actions, actions);
    for (const [k, v] of Object.entries(status)) t.is(p.status[k], v, k);
  });
}

// ---------------------------------------------------------------------------------------------
// Shares

const base = [...two, pool('p', ['a', 'b'])];
const ready: World = { devices: twoOwned, pools: [mounted('p', ['a', 'b'])] };
const withShare = (s: ObservedShare): World => ({ ...ready, shares: [s] });

const shareCases: [string, Map<string, CdbObject>, World, Capabilities, string[], Record<string, string>][] = [
  ['a share waits for its pool', objs(...base, share('s', 'p')), { devices: twoOwned }, FULL, ['create-pool p btrfs/raid1 a,b'], { 'storage/s': 'pending: share s: waiting for pool p' }],
  ['a share is a subvolume in a btrfs pool', objs(...base, share('s', 'p')), ready, FULL, ['create-share s'], { 'storage/s': 'pending: share s: creating a subvolume in pool p' }],
  ['a local share with no quota is ready: its path is exposed', objs(...base, share('s', 'p')), withShare(madeShare('s', 'p')), FULL, [], { 'storage/s': 'ready' }],
  ['a quota is set', objs(...base, share('s', 'p', 'local', 10 << 20)), withShare(madeShare('s', 'p')), FULL, [`set-quota s ${10 << 20}`], { 'storage/s': 'pending: share s: setting quota 10 MiB' }],
  ['a quota in force is idempotent', objs(...base, share('s', 'p', 'local', 10 << 20)), withShare(madeShare('s', 'p', { quotaBytes: 10 << 20 })), FULL, [], { 'storage/s': 'ready' }],
  ['a quota dropped is removed', objs(...base, share('s', 'p')), withShare(madeShare('s', 'p', { quotaBytes: 10 << 20 })), FULL, ['set-quota s null'], {}],
  [
    'no quota support: degraded, saying so',
    objs(...base, share('s', 'p', 'local', 10 << 20)),
    withShare(madeShare('s', 'p')),
    { ...FULL, quotas: { ok: false, reason: 'btrfs quota enable failed' } },
    [],
    { 'storage/s': 'degraded: share s: quota 10 MiB not enforced (btrfs quota enable failed)' },
  ],
  ['an nfs share is exported', objs(...base, share('s', 'p', 'nfs')), withShare(madeShare('s', 'p')), FULL, ['export-share s nfs /s'], { 'storage/s': 'pending: share s: exporting it over nfs' }],
  ['an nfs share served is ready', objs(...base, share('s', 'p', 'nfs')), withShare(madeShare('s', 'p', { export: { protocol: 'nfs', path: '/s', running: true, endpoint: '127.0.0.1:20490' } })), FULL, [], { 'storage/s': 'ready' }],
  [
    'an nfs server that died is started again',
    objs(...base, share('s', 'p', 'nfs')),
    withShare(madeShare('s', 'p', { export: { protocol: 'nfs', path: '/s', running: false } })),
    FULL,
    ['export-share s nfs /s'],
    { 'storage/s': 'pending: share s: restarting its nfs server' },
  ],
  ['an nbd share exports a disk of quotaBytes', objs(...base, share('s', 'p', 'nbd', 1 << 30)), withShare(madeShare('s', 'p')), FULL, [`export-share s nbd /s ${1 << 30}`], {}],
  ['an nbd share without quotaBytes fails, saying why', objs(...base, share('s', 'p', 'nbd')), withShare(madeShare('s', 'p')), FULL, [], { 'storage/s': 'failed: share s: an nbd share needs quotaBytes (the size of its disk)' }],
  [
    'nfs without ganesha is unsupported, naming the package',
    objs(...base, share('s', 'p', 'nfs')),
    ready,
    NO_SERVERS,
    [],
    { 'storage/s': 'unsupported: share s: protocol nfs needs nfs-ganesha nfs-ganesha-vfs (ganesha.nfsd not found)' },
  ],
  [
    'nbd without a server is unsupported, naming the packages',
    objs(...base, share('s', 'p', 'nbd', 1 << 30)),
    ready,
    NO_SERVERS,
    [],
    { 'storage/s': 'unsupported: share s: protocol nbd needs qemu-system-common (qemu-storage-daemon) or qemu-utils (qemu-nbd) (qemu-storage-daemon not found; qemu-nbd not found)' },
  ],
  ['iscsi is unsupported, naming the package', objs(...base, share('s', 'p', 'iscsi')), ready, FULL, [], { 'storage/s': 'unsupported: share s: protocol iscsi needs tgt or targetcli-fb (no iscsi server support in this service yet)' }],
  [
    'switching protocol: the old export goes, the new one comes',
    objs(...base, share('s', 'p', 'nbd', 1 << 20)),
    withShare(madeShare('s', 'p', { export: { protocol: 'nfs', path: '/s', running: true } })),
    FULL,
    ['unexport-share s', `export-share s nbd /s ${1 << 20}`],
    {},
  ],
  ['in an ext4 pool a share is a directory, and its quota is not enforced', objs(...two, pool('p', ['a', 'b'], 'none'), share('s', 'p', 'local', 1 << 20)), { devices: twoOwned, pools: [mounted('p', ['a'], 'ext4')], shares: [madeShare('s', 'p', { kind: 'directory' })] }, NO_BTRFS, [], {
    'storage/s': 'degraded: share s: quota 1 MiB not enforced: a directory in an ext4 pool has no quota of its own',
  }],
  ['a share no longer desired is unexported and destroyed', objs(...base), withShare(madeShare('s', 'p', { export: { protocol: 'nfs', path: '/s', running: true } })), FULL, ['unexport-share s', 'destroy-share s'], { 'storage/s': 'removing: share s: no longer defined here; removing /data/pools/p/shares/s' }],
  ['a share whose pool object was deleted is removed too', objs(...two, share('s', 'p')), withShare(madeShare('s', 'p')), FULL, ['destroy-share s'], {}],
];

for (const [name, desired, w, caps, actions, status] of shareCases) {
  test(`share: ${name}`, (t) => {
    const p = plan(desired, world(w), caps);
    t.deepEqual(p.actions, actions);
    for (const [k, v] of Object.entries(status)) t.is(p.status[k], v, k);
  });
}

// ---------------------------------------------------------------------------------------------
// Properties

test('a converged world plans nothing, and every object it concerns is ready', (t) => {
  const desired = objs(...base, share('s1', 'p', 'nfs', 1 << 20), share('s2', 'p', 'local'), share('s3', 'p', 'nbd', 1 << 30));
  const w = world({
    devices: twoOwned,
    pools: [mounted('p', ['a', 'b'])],
    shares: [
      madeShare('s1', 'p', { quotaBytes: 1 << 20, export: { protocol: 'nfs', path: '/s1', running: true, endpoint: '127.0.0.1:1' } }),
      madeShare('s2', 'p'),
      madeShare('s3', 'p', { export: { protocol: 'nbd', path: '/s3', running: true, sizeBytes: 1 << 30 } }),
    ],
  });
  const p = plan(desired, w);
  t.deepEqual(p.actions, []);
  t.deepEqual(Object.values(p.status), ['ready', 'ready', 'ready', 'ready', 'ready', 'ready']);
  t.deepEqual(p.raw.status.get('storage/s1')!.info, { pool: 'p', dir: '/data/pools/p/shares/s1', kind: 'subvolume', protocol: 'nfs', quotaBytes: 1 << 20, endpoint: '127.0.0.1:1', export: '/s1' });
});

test('the plan is a function of its inputs (same inputs, same plan)', (t) => {
  const desired = objs(...base, share('s', 'p', 'nfs'));
  const w = world({ devices: twoOwned, pools: [mounted('p', ['a', 'b'])], shares: [madeShare('s', 'p')] });
  t.deepEqual(reconcileStorage(N, desired, w, FULL), reconcileStorage(N, desired, w, FULL));
});

test('an empty world with nothing desired plans nothing', (t) => {
  t.deepEqual(plan(objs(), world()).actions, []);
});

test('driving a simple model of the machine with the plans converges in a few passes and then stays put', (t) => {
  // A toy machine: each action makes its effect visible to the next observation.
  const desired = objs(...base, share('s', 'p', 'nfs', 1 << 20));
  const devices = new Map<string, ObservedDevice>();
  const probes = new Map<string, PathProbe>();
  const pools = new Map<string, ObservedPool>();
  const shares = new Map<string, ObservedShare>();
  let passes = 0;
  for (; passes < 10; passes++) {
    const p = reconcileStorage(N, desired, { devices, probes, pools, shares }, FULL);
    if (p.actions.length === 0) break;
    for (const a of p.actions) {
      if (a.kind === 'probe-device') probes.set(a.path, { path: a.path, kind: 'missing' });
      else if (a.kind === 'create-loop') devices.set(a.id, { id: a.id, kind: 'loop', path: a.file, dev: `/dev/loop${devices.size}`, present: true, backingExists: true });
      else if (a.kind === 'create-pool') pools.set(a.id, { id: a.id, fs: a.fs, profile: a.profile, devices: a.devices, mount: `/m/${a.id}`, mounted: true, missing: [], errors: {} });
      else if (a.kind === 'create-share') shares.set(a.id, { id: a.id, pool: a.pool, kind: 'subvolume', dir: `/m/${a.pool}/${a.id}`, exists: true });
      else if (a.kind === 'set-quota') shares.get(a.id)!.quotaBytes = a.quotaBytes ?? undefined;
      else if (a.kind === 'export-share') shares.get(a.id)!.export = { protocol: a.protocol, path: a.path, running: true };
      else t.fail(`unexpected ${a.kind}`);
    }
  }
  t.is(passes, 5); // probe, create loops, pool, share, quota + export
  const last = reconcileStorage(N, desired, { devices, probes, pools, shares }, FULL);
  t.deepEqual(last.actions, []);
  t.true([...last.status.values()].every((c) => c.state === 'ready'));
});
