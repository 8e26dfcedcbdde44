// `acp`: the supervisor CLI. Each command lives in cli/commands/ and
// registers itself on the program; this file only wires them and turns
// user mistakes into one clear line and a non-zero exit code. (cli/acp.ts is
// the entry point that loads it.)
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { register as registerSim } from './commands/sim.ts';
import { register as registerUp } from './commands/up.ts';
import { register as registerDown } from './commands/down.ts';
import { register as registerNode } from './commands/node.ts';
import { register as registerStatus } from './commands/status.ts';
import { register as registerCdb } from './commands/cdb.ts';
import { register as registerMonitor } from './commands/monitor.ts';
import { register as registerInit } from './commands/init.ts';
import { UsageError } from './errors.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('acp')
    .description('ACP — run a cluster of machines as an actor system')
    .version(pkg.version, '-V, --version', 'print the ACP version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerUp(program);
  registerDown(program);
  registerStatus(program);
  registerCdb(program);
  registerMonitor(program);
  registerNode(program);
  registerInit(program);
  registerSim(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit through here with code 0; commander already printed.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`acp: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`acp: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.ACP_DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : ''}\n`);
    return 1;
  }
}

