// `acp version`: the versions of acp and of the Node.js running it (as
// `kubectl version --client`); `acp -V` prints acp's alone.
import type { Command } from 'commander';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';
import { PKG } from '../pkg.ts';

export function register(cmd: Command): void {
  outputOptions(cmd)
    .addHelpText('after', '\nExamples:\n  $ acp version\n  $ acp version -o json')
    .action(async (o: OutputOptions) => {
      const format = formatOf(o);
      const v = { acp: PKG.version, node: process.version, nodePath: process.execPath, platform: `${process.platform}/${process.arch}` };
      await emit(format, v, (wide) => `acp ${v.acp}\nnode ${v.node}${wide ? ` (${v.nodePath}, ${v.platform})` : ''}`);
    });
}
