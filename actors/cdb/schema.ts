// The CDB object model (seed 001, "Objects" and "Object Metadata") as zod schemas.
//
// An object is a typed, persistent definition of a core element of the cluster:
//
//   { type, subtype?, id, spec, revision, createdRevision }
//
//   type/subtype  system | node | storage/{device,pool,share} | network/{vlan-bridge,trunk,vpp-vlan,lease}
//                 | service/{hypervisor,storage,network,monitor,cdb,appswitch}
//   id            unique within the type (the object key is "type/id")
//   spec          the persistent definition, typed per type/subtype (strict: unknown fields are errors)
//   revision      the store revision (Raft index) of the last write; createdRevision: of the creating write
//
// Objects go through Raft (store.ts). Their metadata [meta] (state, who updated it, when) and
// statistics [stats] (numeric map) do not: they are per-node contributions merged by meta.ts;
// their schemas are defined here so every part agrees on the shapes.
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Identifiers

export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const ID_HINT = 'must be 1-63 chars of a-z 0-9 . _ -, starting with a letter or digit';

/** An object id (also used for references to other objects). */
export const idSchema = z.string().regex(ID_PATTERN, ID_HINT);

export const OBJECT_TYPES = ['system', 'node', 'storage', 'network', 'service'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

/** Sub-types per type; an empty list means the type has no sub-type (subtype must be absent). */
export const SUBTYPES = {
  system: [],
  node: [],
  storage: ['device', 'pool', 'share'],
  network: ['vlan-bridge', 'trunk', 'vpp-vlan', 'lease'],
  service: ['hypervisor', 'storage', 'network', 'monitor', 'cdb', 'appswitch'],
} as const satisfies Record<ObjectType, readonly string[]>;

export type StorageSubtype = (typeof SUBTYPES.storage)[number];
export type NetworkSubtype = (typeof SUBTYPES.network)[number];
export type ServiceSubtype = (typeof SUBTYPES.service)[number];

/** "type/id": the key of an object in the store and in the meta table. */
export type ObjectKey = string;
export const OBJECT_KEY_PATTERN = /^(system|node|storage|network|service)\/[a-z0-9][a-z0-9._-]{0,62}$/;
export const objectKeySchema = z.string().regex(OBJECT_KEY_PATTERN, 'must be an object key "type/id"');

export function objectKey(type: string, id: string): ObjectKey {
  return `${type}/${id}`;
}

export function parseObjectKey(key: string): { type: ObjectType; id: string } | undefined {
  if (!OBJECT_KEY_PATTERN.test(key)) return undefined;
  const i = key.indexOf('/');
  return { type: key.slice(0, i) as ObjectType, id: key.slice(i + 1) };
}

// ---------------------------------------------------------------------------------------------
// Field helpers

const name = z.string().min(1).max(128);
const absPath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path').max(4096);
const ifname = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$/, 'must be an interface name (1-15 chars)');
const vlanId = z.number().int().min(1).max(4094);
const posInt = z.number().int().min(1);
const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** host name, IPv4 or IPv6 address */
const address = z
  .string()
  .regex(
    /^(([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/,
    'must be a host name or an IP address',
  )
  .max(253);

function unique<T extends z.ZodType>(item: T, what: string) {
  return z.array(item).refine((xs) => new Set(xs.map((x) => JSON.stringify(x))).size === xs.length, `must not contain duplicate ${what}`);
}

export const NODE_ROLES = ['compute', 'storage', 'network', 'management', 'monitor', 'cdb'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

// ---------------------------------------------------------------------------------------------
// Specs

// A system is a workload the cluster keeps running (seed 001, "Hypervisor"): a plain process, a
// container (runc) or a VM (QEMU). `kind` is optional so that systems written before the
// Hypervisor existed stay valid: a system without a kind is a record nothing runs (the
// Hypervisor reports it `unsupported`). The section named by `kind` (`process`, `container`
// or `vm`) says how to run it and is required with it; the other two must be absent.

export const SYSTEM_KINDS = ['process', 'container', 'vm'] as const;
export type SystemKind = (typeof SYSTEM_KINDS)[number];
export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const envMap = z.record(z.string(), z.string().max(4096)).superRefine((e, ctx) => {
  const keys = Object.keys(e);
  if (keys.length > 256) ctx.addIssue({ code: 'custom', message: 'must have at most 256 variables' });
  for (const k of keys) if (!ENV_NAME.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'is not an environment variable name (letters, digits, _; not starting with a digit)' });
});
/** a user name, or uid or uid:gid */
const runAs = z.string().regex(/^([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}(:[0-9]{1,10})?)$/, 'must be a user name, a uid or uid:gid');
const argv = z.array(z.string().max(4096)).max(1024);
const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'must be a MAC address (lowercase, colon-separated)');

export const processSection = z.strictObject({
  /** the program: an absolute path, or a name looked up in PATH */
  command: z.string().min(1).max(4096),
  args: argv.optional(),
  env: envMap.optional(),
  /** working directory (default /) */
  cwd: absPath.optional(),
  user: runAs.optional(),
});

export const containerSection = z
  .strictObject({
    /** a root file system directory on the node… */
    rootfs: absPath.optional(),
    /** …or an image the node builds from what is installed (busybox: busybox-static) */
    image: z.enum(['busybox']).optional(),
    /** argv of the container's first process */
    command: z.array(z.string().max(4096)).min(1).max(1024),
    env: envMap.optional(),
    cwd: absPath.optional(),
    user: runAs.optional(),
    /** mount the root read-only (default true) */
    readOnlyRoot: z.boolean().optional(),
    hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a host name label').optional(),
    /** shares mounted into the container */
    mounts: z.array(z.strictObject({ share: idSchema, target: absPath, readOnly: z.boolean().optional() })).max(64).optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.rootfs === undefined) === (c.image === undefined)) ctx.addIssue({ code: 'custom', path: ['rootfs'], message: 'or image is required (exactly one of them)' });
  });

export const vmSection = z.strictObject({
  /** a kernel to boot directly (with initramfs and cmdline)… */
  kernel: absPath.optional(),
  initramfs: absPath.optional(),
  cmdline: z.string().max(4096).optional(),
  /** …or boot from the first disk (spec.disks, or images below) */
  images: z.array(z.strictObject({ path: absPath, format: z.enum(['raw', 'qcow2']).optional(), readOnly: z.boolean().optional() })).max(16).optional(),
  /** one virtio NIC per entry, on a tap of the network's bridge; the network must be in spec.networks */
  nics: z.array(z.strictObject({ network: idSchema, mac: mac.optional() })).max(16).optional(),
  /** machine type for qemu (default pc: the quickest to boot under TCG) */
  machine: z.enum(['q35', 'pc', 'microvm']).optional(),
});

export const backoffSchema = z.strictObject({
  /** first delay after an exit (default 1000 ms); doubles per consecutive failure */
  initialMs: z.number().int().min(0).max(3_600_000).optional(),
  /** the longest delay (default 60000 ms) */
  maxMs: z.number().int().min(0).max(86_400_000).optional(),
  /** a run at least this long resets the back-off (default 60000 ms) */
  resetAfterMs: z.number().int().min(0).max(86_400_000).optional(),
});

/** Where the scheduler (the Monitor primary) placed an unpinned system, and why. */
export const placementSchema = z.strictObject({
  node: idSchema,
  /** the Monitor primary's term that wrote it (fencing: a later term's placement wins) */
  term: z.number().int().min(0),
  reason: z.string().max(512).optional(),
});

export const systemSpec = z
  .strictObject({
    name,
    vcpus: z.number().int().min(1).max(1024),
    memoryMb: z.number().int().min(16).max(16 * 1024 * 1024),
    /** what runs: process | container | vm (absent: a record only, nothing runs it) */
    kind: z.enum(SYSTEM_KINDS).optional(),
    process: processSection.optional(),
    container: containerSection.optional(),
    vm: vmSection.optional(),
    /** pinned to this node (absent: unplaced, the scheduler chooses and writes `placement`) */
    node: idSchema.optional(),
    /** written by the scheduler for an unpinned system; users leave it out */
    placement: placementSchema.optional(),
    /** whether it should be loaded (running); default true */
    autostart: z.boolean().optional(),
    /** restart when it exits: always (default), on-failure (non-zero exit, signal, OOM), never */
    restart: z.enum(RESTART_POLICIES).optional(),
    backoff: backoffSchema.optional(),
    disks: z.array(z.strictObject({ share: idSchema, sizeBytes: bytes })).max(64).optional(),
    /** network objects (vlan-bridge ids) it is attached to */
    networks: unique(idSchema, 'networks').max(64).optional(),
  })
  .superRefine((s, ctx) => {
    for (const k of SYSTEM_KINDS) {
      if (s.kind === k && s[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `is required when kind is ${k}` });
      if (s.kind !== k && s[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: s.kind === undefined ? `needs kind: ${k}` : `must be absent when kind is ${s.kind}` });
    }
    if (s.kind === 'vm' && s.vm) {
      if (s.vm.kernel === undefined && (s.vm.images ?? []).length === 0 && (s.disks ?? []).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['vm', 'kernel'], message: 'is required when the VM has no disk to boot from (vm.images or disks)' });
      }
      if (s.vm.kernel === undefined && (s.vm.initramfs !== undefined || s.vm.cmdline !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['vm', 'kernel'], message: 'is required with vm.initramfs or vm.cmdline' });
      }
      (s.vm.nics ?? []).forEach((n, i) => {
        if (!(s.networks ?? []).includes(n.network)) ctx.addIssue({ code: 'custom', path: ['vm', 'nics', i, 'network'], message: `must be one of spec.networks (${(s.networks ?? []).join(', ') || 'none'})` });
      });
    }
    const b = s.backoff;
    if (b && b.initialMs !== undefined && b.maxMs !== undefined && b.maxMs < b.initialMs) ctx.addIssue({ code: 'custom', path: ['backoff', 'maxMs'], message: 'must be >= backoff.initialMs' });
    if (s.node !== undefined && s.placement !== undefined && s.placement.node !== s.node) {
      ctx.addIssue({ code: 'custom', path: ['placement', 'node'], message: `must be the pinned node ${s.node} (or absent)` });
    }
  });

/** An IPv4 address in dotted-quad form. */
export function isIPv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((x) => /^(0|[1-9][0-9]{0,2})$/.test(x) && Number(x) <= 255);
}
const ipv4 = address.refine(isIPv4, 'must be an IPv4 address (a.b.c.d)');
/** An IPv4 prefix: a.b.c.d/len with len 8-30 and no host bits set. */
const ipv4Cidr = z
  .string()
  .regex(/^[0-9.]{7,15}\/[0-9]{1,2}$/, 'must be an IPv4 prefix a.b.c.d/len')
  .refine((s) => {
    const [a, l] = s.split('/') as [string, string];
    const len = Number(l);
    if (!isIPv4(a) || len < 8 || len > 30) return false;
    const n = a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
    return n % 2 ** (32 - len) === 0;
  }, 'must be an IPv4 prefix a.b.c.d/len (len 8-30, no host bits set)');
/** A named network namespace (/run/netns/NAME). */
const netnsName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a network namespace name (1-63 of A-Z a-z 0-9 . _ -)');

export const nodeSpec = z.strictObject({
  name,
  address,
  roles: unique(z.enum(NODE_ROLES), 'roles').min(1),
  /** the node's data-plane (underlay) address: where its VXLAN segments end (absent: none) */
  dataAddress: ipv4.optional(),
});

export const deviceSpec = z.strictObject({
  node: idSchema,
  /** the block device; with `loop`, the backing file the Storage service creates */
  path: absPath,
  sizeBytes: bytes,
  /**
   * A file-backed loop device (local clusters): the service creates `path` as a sparse file of
   * `sizeBytes`, attaches it as a loop device and removes both when the object is deleted.
   */
  loop: z.boolean().optional(),
  /**
   * Use the device even if it holds a file system or a partition table (erasing it). Without it
   * the Storage service refuses a path that holds data or is mounted: it never destroys what it
   * did not create.
   */
  wipe: z.boolean().optional(),
});

/** Redundancy levels: none (single copy), mirror (two copies, RAID1), raid5 (single parity). */
export const REDUNDANCY = ['mirror', 'raid5', 'none'] as const;
export type Redundancy = (typeof REDUNDANCY)[number];
/** Other spellings accepted on input and stored as the level they mean: raidz1 is ZFS's name for single parity. */
export const REDUNDANCY_ALIASES: Record<string, Redundancy> = { raidz1: 'raid5' };
/** Minimum number of devices for each redundancy level. */
export const MIN_DEVICES: Record<Redundancy, number> = { none: 1, mirror: 2, raid5: 3 };

export const poolSpec = z
  .strictObject({
    devices: unique(idSchema, 'devices').min(1).max(256),
    redundancy: z.enum([...REDUNDANCY, 'raidz1']).transform((r): Redundancy => REDUNDANCY_ALIASES[r] ?? (r as Redundancy)),
  })
  .superRefine((p, ctx) => {
    const min = MIN_DEVICES[p.redundancy];
    if (p.devices.length < min) {
      ctx.addIssue({ code: 'custom', path: ['devices'], message: `must have at least ${min} devices for redundancy ${p.redundancy}` });
    }
  });

export const shareSpec = z.strictObject({
  pool: idSchema,
  /**
   * How the share is exported: local (a directory bind-mounted into a workload), nfs (a userspace
   * NFS server on the node), nbd (a block device over NBD: a disk file of quotaBytes in the
   * share, for VM disks), iscsi, smb.
   */
  protocol: z.enum(['nfs', 'nbd', 'iscsi', 'smb', 'local']),
  /** the path clients see: the NFS export path, the NBD export name, the mount point in a workload */
  path: absPath,
  quotaBytes: bytes.optional(),
});

export const vlanBridgeSpec = z.strictObject({
  vlan: vlanId,
  bridge: ifname,
  /** the nodes the network is present on */
  nodes: unique(idSchema, 'nodes').min(1),
  mtu: z.number().int().min(576).max(9216).optional(),
  /**
   * the address pool of workloads attached to it (leases); default 172.(16+vlan/256).(vlan%256).0/24,
   * inside 172.16.0.0/12
   */
  subnet: ipv4Cidr.optional(),
});

/** A VLAN sub-interface of a DPDK interface in VPP (realised through VPP where it is installed). */
export const vppVlanSpec = z.strictObject({
  vlan: vlanId,
  /** the VPP interface carrying the VLAN, e.g. GigabitEthernet0/8/0 */
  interface: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}$/, 'must be a VPP interface name'),
  nodes: unique(idSchema, 'nodes').min(1),
  mtu: z.number().int().min(576).max(9216).optional(),
});

/**
 * A workload's address on a network: written by the Network service of `node` when it attaches the
 * workload (create-only, so an address is leased once cluster-wide), deleted when it detaches.
 */
export const leaseSpec = z.strictObject({
  /** the network/vlan-bridge id */
  network: idSchema,
  node: idSchema,
  /** the workload's network namespace */
  netns: netnsName,
  address: ipv4,
  /** the interface's name inside the workload's namespace (default eth0) */
  ifname: ifname.optional(),
});

export const trunkSpec = z.strictObject({
  /** physical interfaces bonded into the trunk */
  interfaces: unique(ifname, 'interfaces').min(1).max(16),
  vlans: unique(vlanId, 'vlans').min(1),
  nodes: unique(idSchema, 'nodes').min(1).optional(),
});

const serviceBase = {
  /** the node the service runs on */
  node: idSchema,
  /** whether the service is expected to run (default true); the Monitor raises findings when it does not */
  enabled: z.boolean().optional(),
};

export const serviceSpecs = {
  hypervisor: z.strictObject({ ...serviceBase, maxSystems: posInt.optional() }),
  storage: z.strictObject({ ...serviceBase, pools: unique(idSchema, 'pools').optional() }),
  network: z.strictObject({ ...serviceBase, bridges: unique(ifname, 'bridges').optional() }),
  monitor: z.strictObject({ ...serviceBase }),
  cdb: z.strictObject({ ...serviceBase, raftGroup: idSchema.optional() }),
  appswitch: z.strictObject({ ...serviceBase, listen: z.string().min(1).max(256).optional() }),
} as const;

// ---------------------------------------------------------------------------------------------
// Objects

const revision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** revision fields are assigned by the store; accepted (and ignored by put) on input */
const revFields = { revision: revision.optional(), createdRevision: revision.optional() };

function def<T extends string, S extends string | undefined, P extends z.ZodType>(type: T, subtype: S, spec: P) {
  return z.strictObject({
    type: z.literal(type),
    subtype: (subtype === undefined ? z.undefined().optional() : z.literal(subtype)) as S extends string ? z.ZodLiteral<S> : z.ZodOptional<z.ZodUndefined>,
    id: idSchema,
    spec,
    ...revFields,
  });
}

export const systemObject = def('system', undefined, systemSpec);
export const nodeObject = def('node', undefined, nodeSpec);
export const deviceObject = def('storage', 'device', deviceSpec);
export const poolObject = def('storage', 'pool', poolSpec);
export const shareObject = def('storage', 'share', shareSpec);
export const vlanBridgeObject = def('network', 'vlan-bridge', vlanBridgeSpec);
export const trunkObject = def('network', 'trunk', trunkSpec);
export const vppVlanObject = def('network', 'vpp-vlan', vppVlanSpec);
export const leaseObject = def('network', 'lease', leaseSpec);
export const hypervisorServiceObject = def('service', 'hypervisor', serviceSpecs.hypervisor);
export const storageServiceObject = def('service', 'storage', serviceSpecs.storage);
export const networkServiceObject = def('service', 'network', serviceSpecs.network);
export const monitorServiceObject = def('service', 'monitor', serviceSpecs.monitor);
export const cdbServiceObject = def('service', 'cdb', serviceSpecs.cdb);
export const appswitchServiceObject = def('service', 'appswitch', serviceSpecs.appswitch);

/** One schema per "type" or "type/subtype". */
export const OBJECT_SCHEMAS = {
  system: systemObject,
  node: nodeObject,
  'storage/device': deviceObject,
  'storage/pool': poolObject,
  'storage/share': shareObject,
  'network/vlan-bridge': vlanBridgeObject,
  'network/trunk': trunkObject,
  'network/vpp-vlan': vppVlanObject,
  'network/lease': leaseObject,
  'service/hypervisor': hypervisorServiceObject,
  'service/storage': storageServiceObject,
  'service/network': networkServiceObject,
  'service/monitor': monitorServiceObject,
  'service/cdb': cdbServiceObject,
  'service/appswitch': appswitchServiceObject,
} as const;

/** The union of all object definitions (validateObject gives better error messages than this). */
export const objectDefSchema = z.union(Object.values(OBJECT_SCHEMAS) as unknown as [typeof systemObject, ...(typeof systemObject)[]]);

/** An object definition as written by a client (revision fields optional and ignored by the store). */
export type ObjectDef =
  | z.output<typeof systemObject>
  | z.output<typeof nodeObject>
  | z.output<typeof deviceObject>
  | z.output<typeof poolObject>
  | z.output<typeof shareObject>
  | z.output<typeof vlanBridgeObject>
  | z.output<typeof trunkObject>
  | z.output<typeof vppVlanObject>
  | z.output<typeof leaseObject>
  | z.output<typeof hypervisorServiceObject>
  | z.output<typeof storageServiceObject>
  | z.output<typeof networkServiceObject>
  | z.output<typeof monitorServiceObject>
  | z.output<typeof cdbServiceObject>
  | z.output<typeof appswitchServiceObject>;

/** A stored object: the store has assigned its revisions. */
export type CdbObject = ObjectDef & { revision: number; createdRevision: number };

export type SystemSpec = z.output<typeof systemSpec>;
export type ProcessSection = z.output<typeof processSection>;
export type ContainerSection = z.output<typeof containerSection>;
export type VmSection = z.output<typeof vmSection>;
export type Placement = z.output<typeof placementSchema>;
export type NodeSpec = z.output<typeof nodeSpec>;
export type DeviceSpec = z.output<typeof deviceSpec>;
export type PoolSpec = z.output<typeof poolSpec>;
export type ShareSpec = z.output<typeof shareSpec>;
export type VlanBridgeSpec = z.output<typeof vlanBridgeSpec>;
export type TrunkSpec = z.output<typeof trunkSpec>;
export type VppVlanSpec = z.output<typeof vppVlanSpec>;
export type LeaseSpec = z.output<typeof leaseSpec>;
export type ServiceSpec = z.output<(typeof serviceSpecs)[ServiceSubtype]>;

// ---------------------------------------------------------------------------------------------
// Meta and stats (not replicated through Raft; see meta.ts)

/** Known object states; other lowercase words are accepted (services may define their own). */
export const KNOWN_STATES = ['up', 'down', 'degraded', 'loaded', 'unloaded', 'running', 'stopped', 'failed', 'starting', 'stopping', 'unknown', 'pending', 'ready', 'unsupported', 'removing'] as const;

const STAT_NAME_PATTERN_META = /^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$/;

export const metaSchema = z.strictObject({
  state: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a lowercase state word (e.g. up, down, degraded)'),
  updatedBy: z.strictObject({ node: idSchema, service: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, ID_HINT) }),
  /** ms timestamp (on the updating node's clock) */
  updatedAt: z.number().int().min(0),
  /** why the object is in this state, for humans (absent when there is nothing to say, e.g. ready) */
  reason: z.string().max(512).optional(),
  /** small facts shown beside the state (how a network was realised, a node's capabilities) */
  info: z
    .record(z.string().regex(STAT_NAME_PATTERN_META, 'must be a field name (letter, then letters, digits, _ . -; max 64)'), z.union([z.string().max(256), z.number().refine(Number.isFinite, 'must be a finite number'), z.boolean()]))
    .refine((s) => Object.keys(s).length <= 64, 'must have at most 64 entries')
    .optional(),
});
export type Meta = z.output<typeof metaSchema>;

export const STAT_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9_.]{0,63}$/;
export const statsSchema = z
  .record(z.string().regex(STAT_NAME_PATTERN, 'must be a stat name (letter, then letters, digits, _ .; max 64)'), z.number().refine(Number.isFinite, 'must be a finite number'))
  .refine((s) => Object.keys(s).length <= 256, 'must have at most 256 entries');
export type Stats = Record<string, number>;

// ---------------------------------------------------------------------------------------------
// Validation with one human-readable error line

export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };

function fmtPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function getAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** Format one zod issue as "field message" (field omitted when the issue is at the root). */
export function formatIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const field = fmtPath(issue.path);
  const at = (msg: string) => (field === '' ? msg : `${field} ${msg}`);
  switch (issue.code) {
    case 'invalid_value':
      if (getAt(input, issue.path) === undefined) return at(issue.values.length === 1 ? 'is required' : `is required (one of ${issue.values.map(String).join(', ')})`);
      return issue.values.length === 1 ? at(`must be ${JSON.stringify(issue.values[0])}`) : at(`must be one of ${issue.values.map(String).join(', ')}`);
    case 'invalid_type': {
      const got = getAt(input, issue.path);
      if (got === undefined) return at('is required');
      const expected = issue.expected === 'int' ? 'an integer' : issue.expected === 'undefined' ? 'absent' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
      return at(`must be ${expected} (got ${typeof got === 'number' ? String(got) : describe(got)})`);
    }
    case 'too_small': {
      const m = Number(issue.minimum);
      if (issue.origin === 'string') return at(m <= 1 ? 'must not be empty' : `must be at least ${m} characters`);
      if (issue.origin === 'array' || issue.origin === 'set') return at(`must have at least ${m} item${m === 1 ? '' : 's'}`);
      return at(`must be ${issue.inclusive ? '>=' : '>'} ${m}`);
    }
    case 'too_big': {
      const m = Number(issue.maximum);
      if (issue.origin === 'string') return at(`must be at most ${m} characters`);
      if (issue.origin === 'array' || issue.origin === 'set') return at(`must have at most ${m} items`);
      return at(`must be ${issue.inclusive ? '<=' : '<'} ${m}`);
    }
    case 'unrecognized_keys':
      return `${field === '' ? '' : `${field}: `}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    default:
      return at(issue.message);
  }
}

/** Run a schema and return the value or the first issue as one line. */
export function check<T>(schema: z.ZodType<T>, input: unknown): Validation<T> {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const first = r.error.issues[0];
  let msg = formatIssue(first, input);
  // a required field missing next to an unknown field is most likely a misspelling: say so
  if (getAt(input, first.path) === undefined) {
    const parent = first.path.slice(0, -1).join('.');
    const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys' && i.path.join('.') === parent);
    if (unknown && unknown.code === 'unrecognized_keys') msg += ` (found unknown field ${unknown.keys.map((k) => JSON.stringify(k)).join(', ')}: misspelled?)`;
  }
  return { ok: false, error: msg };
}

/**
 * Validate an object definition. The error is one line naming the object and the field, e.g.
 * `storage/pool "p1": spec.redundancy must be one of mirror, raid5, none, raidz1`.
 */
export function validateObject(x: unknown): Validation<ObjectDef> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return { ok: false, error: `object must be a JSON object (got ${describe(x)})` };
  const o = x as Record<string, unknown>;
  const idPart = typeof o.id === 'string' ? ` "${o.id}"` : '';
  if (typeof o.type !== 'string' || !(OBJECT_TYPES as readonly string[]).includes(o.type)) {
    return { ok: false, error: `object${idPart}: type ${o.type === undefined ? 'is required' : 'must be one of ' + OBJECT_TYPES.join(', ')}` };
  }
  const type = o.type as ObjectType;
  const subs: readonly string[] = SUBTYPES[type];
  let label: string = type;
  if (subs.length === 0) {
    if (o.subtype !== undefined) return { ok: false, error: `${type}${idPart}: subtype must be absent (${type} has no sub-types)` };
  } else {
    if (typeof o.subtype !== 'string' || !subs.includes(o.subtype)) {
      return { ok: false, error: `${type}${idPart}: subtype ${o.subtype === undefined ? 'is required' : 'must be'} one of ${subs.join(', ')}`.replace('is required one of', 'is required: one of') };
    }
    label = `${type}/${o.subtype}`;
  }
  const schema = OBJECT_SCHEMAS[label as keyof typeof OBJECT_SCHEMAS] as z.ZodType<ObjectDef>;
  const r = check(schema, x);
  if (r.ok) return r;
  return { ok: false, error: `${label}${idPart}: ${r.error}` };
}

/** Validate a stored object (revision fields required). */
export function validateStoredObject(x: unknown): Validation<CdbObject> {
  const r = validateObject(x);
  if (!r.ok) return r;
  const v = r.value;
  if (v.revision === undefined || v.createdRevision === undefined) {
    return { ok: false, error: `${v.subtype ? `${v.type}/${v.subtype}` : v.type} "${v.id}": revision and createdRevision are required` };
  }
  return { ok: true, value: v as CdbObject };
}
