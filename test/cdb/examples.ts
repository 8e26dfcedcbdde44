// Valid example objects, one per type/subtype (shared by the CDB and Monitor tests).
import type { ObjectDef } from '../../actors/cdb/schema.ts';

export const EXAMPLES: Record<string, ObjectDef> = {
  system: { type: 'system', id: 'vm-web1', spec: { name: 'web 1', vcpus: 2, memoryMb: 2048, node: 'n1', autostart: true, disks: [{ share: 'vmstore', sizeBytes: 20e9 }], networks: ['v100'] } },
  node: { type: 'node', id: 'n1', spec: { name: 'node one', address: '10.0.0.1', roles: ['compute', 'storage', 'cdb'] } },
  'storage/device': { type: 'storage', subtype: 'device', id: 'n1-sda', spec: { node: 'n1', path: '/dev/sda', sizeBytes: 1e12 } },
  'storage/pool': { type: 'storage', subtype: 'pool', id: 'p1', spec: { devices: ['n1-sda', 'n1-sdb'], redundancy: 'mirror' } },
  'storage/share': { type: 'storage', subtype: 'share', id: 'vmstore', spec: { pool: 'p1', protocol: 'nfs', path: '/p1/vmstore' } },
  'network/vlan-bridge': { type: 'network', subtype: 'vlan-bridge', id: 'v100', spec: { vlan: 100, bridge: 'br100', nodes: ['n1', 'n2'] } },
  'network/trunk': { type: 'network', subtype: 'trunk', id: 'trunk0', spec: { interfaces: ['eth0', 'eth1'], vlans: [100, 200] } },
  'network/vpp-vlan': { type: 'network', subtype: 'vpp-vlan', id: 'vpp100', spec: { vlan: 100, interface: 'GigabitEthernet0/8/0', nodes: ['n1'] } },
  'network/lease': { type: 'network', subtype: 'lease', id: 'v100.172-16-100-2', spec: { network: 'v100', node: 'n1', netns: 'vm-web1', address: '172.16.100.2' } },
  'service/hypervisor': { type: 'service', subtype: 'hypervisor', id: 'hv-n1', spec: { node: 'n1', maxSystems: 50 } },
  'service/storage': { type: 'service', subtype: 'storage', id: 'st-n1', spec: { node: 'n1', pools: ['p1'] } },
  'service/network': { type: 'service', subtype: 'network', id: 'net-n1', spec: { node: 'n1' } },
  'service/monitor': { type: 'service', subtype: 'monitor', id: 'mon-n1', spec: { node: 'n1' } },
  'service/cdb': { type: 'service', subtype: 'cdb', id: 'cdb-n1', spec: { node: 'n1', raftGroup: 'cdb' } },
  'service/appswitch': { type: 'service', subtype: 'appswitch', id: 'as-n1', spec: { node: 'n1', enabled: false, listen: '0.0.0.0:443' } },
};

export function node(id: string, roles: string[] = ['compute', 'cdb']): ObjectDef {
  return { type: 'node', id, spec: { name: id, address: `${id}.example`, roles } } as ObjectDef;
}

/** JSON clone with a change applied at a dotted path (for "typical mistake" tests). */
export function withField(o: unknown, path: string, value: unknown): unknown {
  const c = JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
  const parts = path.split('.');
  let cur: Record<string, unknown> = c;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return c;
}
