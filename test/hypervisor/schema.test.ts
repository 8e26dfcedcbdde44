// The `system` object's workload fields (issue 13, point 1): kinds and how to run each, restart
// policy with back-off, pinned or placed. Every error names the field.
import test from 'ava';
import { validateObject } from '../../actors/cdb/schema.ts';

const base = { name: 'w', vcpus: 1, memoryMb: 64 };
const sys = (spec: Record<string, unknown>) => ({ type: 'system', id: 's1', spec: { ...base, ...spec } });

const valid: [string, Record<string, unknown>][] = [
  ['a record without a kind (systems written before the Hypervisor)', {}],
  ['a process with args, env, cwd, user and a restart policy', { kind: 'process', process: { command: '/bin/sleep', args: ['10'], env: { A_1: 'x' }, cwd: '/tmp', user: '1000:1000' }, restart: 'on-failure', backoff: { initialMs: 100, maxMs: 1000, resetAfterMs: 5000 } }],
  ['a container from the busybox image with a share mounted', { kind: 'container', container: { image: 'busybox', command: ['sh', '-c', 'echo hi'], readOnlyRoot: true, mounts: [{ share: 'data', target: '/data' }] } }],
  ['a container from a root directory', { kind: 'container', container: { rootfs: '/srv/root', command: ['/bin/true'] } }],
  ['a VM booting a kernel with a NIC on one of its networks', { kind: 'vm', vm: { kernel: '/boot/vmlinuz', initramfs: '/boot/initrd', cmdline: 'console=ttyS0', nics: [{ network: 'v100', mac: '52:54:00:12:34:56' }] }, networks: ['v100'] }],
  ['a VM booting from a disk on a share', { kind: 'vm', vm: {}, disks: [{ share: 'vmstore', sizeBytes: 1e9 }] }],
  ['a pinned system', { kind: 'process', process: { command: 'true' }, node: 'n1' }],
  ['a placed system', { kind: 'process', process: { command: 'true' }, placement: { node: 'n2', term: 4, reason: 'most free memory' } }],
];

for (const [what, spec] of valid) {
  test(`valid: ${what}`, (t) => {
    const r = validateObject(sys(spec));
    t.true(r.ok, r.ok ? '' : r.error);
  });
}

const invalid: [string, Record<string, unknown>, string][] = [
  ['a kind without its section', { kind: 'process' }, 'spec.process is required when kind is process'],
  ['a section of another kind', { kind: 'process', process: { command: 'x' }, vm: { kernel: '/k' } }, 'spec.vm must be absent when kind is process'],
  ['a section without a kind', { container: { image: 'busybox', command: ['true'] } }, 'spec.container needs kind: container'],
  ['an unknown kind', { kind: 'jail' }, 'spec.kind must be one of process, container, vm'],
  ['a container with neither rootfs nor image', { kind: 'container', container: { command: ['true'] } }, 'spec.container.rootfs or image is required (exactly one of them)'],
  ['a container with both rootfs and image', { kind: 'container', container: { rootfs: '/r', image: 'busybox', command: ['true'] } }, 'spec.container.rootfs or image is required (exactly one of them)'],
  ['a container with an empty command', { kind: 'container', container: { image: 'busybox', command: [] } }, 'spec.container.command must have at least 1 item'],
  ['an unknown image', { kind: 'container', container: { image: 'ubuntu', command: ['true'] } }, 'spec.container.image must be "busybox"'],
  ['a relative mount target', { kind: 'container', container: { image: 'busybox', command: ['true'], mounts: [{ share: 's', target: 'data' }] } }, 'spec.container.mounts[0].target must be an absolute path'],
  ['a VM with nothing to boot', { kind: 'vm', vm: {} }, 'spec.vm.kernel is required when the VM has no disk to boot from (vm.images or disks)'],
  ['a VM with an initramfs but no kernel', { kind: 'vm', vm: { initramfs: '/i', images: [{ path: '/d.img' }] } }, 'spec.vm.kernel is required with vm.initramfs or vm.cmdline'],
  ['a NIC on a network the system is not on', { kind: 'vm', vm: { kernel: '/k', nics: [{ network: 'v2' }] }, networks: ['v1'] }, 'spec.vm.nics[0].network must be one of spec.networks (v1)'],
  ['a bad MAC', { kind: 'vm', vm: { kernel: '/k', nics: [{ network: 'v1', mac: '52:54:00:12:34' }] }, networks: ['v1'] }, 'spec.vm.nics[0].mac must be a MAC address (lowercase, colon-separated)'],
  ['a bad env name', { kind: 'process', process: { command: 'x', env: { '1A': 'x' } } }, 'spec.process.env.1A is not an environment variable name (letters, digits, _; not starting with a digit)'],
  ['a bad user', { kind: 'process', process: { command: 'x', user: 'Root User' } }, 'spec.process.user must be a user name, a uid or uid:gid'],
  ['an unknown restart policy', { kind: 'process', process: { command: 'x' }, restart: 'sometimes' }, 'spec.restart must be one of always, on-failure, never'],
  ['a back-off whose max is below its start', { kind: 'process', process: { command: 'x' }, backoff: { initialMs: 100, maxMs: 10 } }, 'spec.backoff.maxMs must be >= backoff.initialMs'],
  ['a negative back-off', { kind: 'process', process: { command: 'x' }, backoff: { initialMs: -1 } }, 'spec.backoff.initialMs must be >= 0'],
  ['a placement that contradicts the pin', { kind: 'process', process: { command: 'x' }, node: 'n1', placement: { node: 'n2', term: 1 } }, 'spec.placement.node must be the pinned node n1 (or absent)'],
  ['a misspelled section field', { kind: 'process', process: { command: 'x', argv: [] } }, 'spec.process: unknown field "argv"'],
];

for (const [what, spec, error] of invalid) {
  test(`invalid: ${what}`, (t) => {
    const r = validateObject(sys(spec));
    t.false(r.ok);
    if (!r.ok) t.is(r.error, `system "s1": ${error}`);
  });
}
