// `acp capabilities [--node N]`: what each node can do — bridges, VLANs,
// VXLAN, namespaces, loop devices, btrfs, NFS/NBD servers, … — as the node
// probed it at start and published in its node object's meta `info`
// (`cap.<name>`: true, or the reason it is missing).
import type { Command } from 'commander';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';

type Options = KeyOptions & OutputOptions & { node?: string; ask?: string };

export function register(cmd: Command): void {
  dirOption(cmd);
  apiKeyOption(cmd);
  cmd.option('--node <name>', 'only this node\'s capabilities').option('--ask <name>', 'ask this node (default: any)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
A capability a node lacks shows the reason (the missing module, tool or
privilege); an object that needs it is "unsupported" on that node, with that
reason. -o wide adds the other facts the node reports.

Exit codes: 3 when --node names no node, 4 when no node answers.

Examples:
  $ acp capabilities
  $ acp capabilities --node n2
  $ acp capabilities -o json | jq '.nodes[] | {node, missing: [.capabilities[] | select(.available | not) | .name]}'`,
    )
    .action(async (o: Options) => {
      const format = formatOf(o);
      const { target } = await import('../client.ts');
      const { Session, listKind, getOfKind, withStatus } = await import('../objects.ts');
      const { nodeCapabilities, renderCapabilities } = await import('../object-view.ts');
      const { kindNamed } = await import('../kinds.ts');
      const nodes = kindNamed('nodes')!;
      const s = await Session.open(target(o), o.ask);
      try {
        const objects = o.node !== undefined ? [(await getOfKind(s, nodes, o.node)).object] : (await listKind(s, nodes)).objects;
        const list = (await withStatus(s, objects)).map(nodeCapabilities);
        await emit(format, { nodes: list }, (wide) => (list.length === 0 ? 'no nodes' : renderCapabilities(list, wide)));
      } finally {
        s.close();
      }
    });
}
