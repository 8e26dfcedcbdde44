// `acp`: the supervisor CLI. Each command lives in cli/commands/ and is
// loaded only when it is the one being run: a command's module (and what it
// imports: the control-socket client, the node, the simulator) costs start-up
// time that `acp --help` or `acp cdb get` should not pay for the others. The
// table below names and describes every command, so help and suggestions work
// without loading them. This file also turns errors into one line (or one
// JSON/YAML object when that output was asked for) and an exit code from
// cli/errors.ts. (cli/acp.ts is the entry point that loads it.)
import { Command, CommanderError } from 'commander';
import { CliError, EXIT, EXIT_TABLE, UsageError } from './errors.ts';
import { formatFromArgv, recordedFormat, renderError } from './output.ts';
import { PKG } from './pkg.ts';

interface CommandModule {
  register(cmd: Command, ctx: { fullProgram: () => Promise<Command> }): void;
}

interface CommandEntry {
  name: string;
  /** Arguments, as the command declares them (shown in the command list). */
  args?: string;
  summary: string;
  load: () => Promise<CommandModule>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'up', summary: 'start a local cluster of real node processes on loopback', load: () => import('./commands/up.ts') },
  { name: 'down', summary: 'stop the cluster running in --dir (started with acp up --detach)', load: () => import('./commands/down.ts') },
  { name: 'status', summary: 'show the cluster: nodes, Raft leader and term, Monitor primary, health, actors', load: () => import('./commands/status.ts') },
  { name: 'get', args: '<kind> [id]', summary: 'list nodes, networks, devices, pools, shares, systems or services with state, reason and stats', load: () => import('./commands/get.ts') },
  { name: 'describe', args: '<type/id> [id]', summary: 'everything about one object: spec, state per node, info, stats, history', load: () => import('./commands/describe.ts') },
  { name: 'apply', summary: 'create or update the objects in a JSON or YAML file (-f FILE)', load: () => import('./commands/apply.ts') },
  { name: 'delete', args: '[objects...]', summary: 'delete objects (TYPE/ID, or -f FILE)', load: () => import('./commands/delete.ts') },
  { name: 'logs', args: '<system>', summary: "a system's stdout and stderr, from the node it runs on (-f follows)", load: () => import('./commands/logs.ts') },
  { name: 'system', summary: 'start, stop or restart a system', load: () => import('./commands/system.ts') },
  { name: 'capabilities', summary: 'what each node can do (bridges, VLANs, VXLAN, loop devices, btrfs, …)', load: () => import('./commands/capabilities.ts') },
  { name: 'cdb', summary: 'read and write the cluster database', load: () => import('./commands/cdb.ts') },
  { name: 'explain', args: '[type]', summary: 'the fields of an object type (system, storage/pool, …)', load: () => import('./commands/explain.ts') },
  { name: 'monitor', summary: 'the Monitor: health, alerts and alarms', load: () => import('./commands/monitor.ts') },
  { name: 'node', summary: 'run a node of a cluster', load: () => import('./commands/node.ts') },
  { name: 'init', summary: 'create a cluster CA, node certificates, the API key and node configs for real machines', load: () => import('./commands/init.ts') },
  { name: 'sim', args: '<script>', summary: 'run a deterministic cluster simulation from a scenario script', load: () => import('./commands/sim.ts') },
  { name: 'version', summary: 'print the versions of acp and of the Node.js running it', load: () => import('./commands/version.ts') },
  { name: 'completion', args: '<shell>', summary: 'print a shell completion script (bash or zsh)', load: () => import('./commands/completion.ts') },
];

const EXAMPLES = `
Examples:
  $ acp up --detach                 # a 3-node cluster in ./.acp, in the background
  $ acp status                      # exit 0 healthy, 5 degraded, 4 unreachable
  $ acp apply -f lan.yaml            # create or update the objects in a file
  $ acp get networks                # state, reason, nodes and stats of each
  $ acp describe network/lan
  $ acp cdb get system/vm1 -o yaml
  $ acp explain system
  $ acp down

Environment:
  ACP_DIR       the cluster directory when --dir is not given (default ./.acp)
  ACP_API_KEY   the API key (default: DIR/pki/api.key); or --api-key-file FILE
  ACP_DEBUG     print stack traces of internal errors

Exit codes:
${EXIT_TABLE.map((e) => `  ${e.code}  ${e.meaning}`).join('\n')}

Run "acp COMMAND --help" for a command's options and examples.`;

/** The command `args` runs (the first word that is not an option), if any; `acp help X` runs X's help. */
function commandOf(args: readonly string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/**
 * The program with every command listed; `load` says which commands get
 * their options and actions: 'all' (shell completion needs the whole tree),
 * or the one named (the others are listed by name and summary only).
 */
export async function buildProgram(load: 'all' | string | undefined, o: { onParseError?: (message: string) => void } = {}): Promise<Command> {
  const program = new Command('acp')
    .description('ACP — run a cluster of machines as an actor system')
    .version(PKG.version, '-V, --version', 'print the ACP version')
    .exitOverride()
    .addHelpText('after', EXAMPLES);
  // Set before the commands are added: they copy these settings when created.
  const onParseError = o.onParseError;
  if (onParseError) program.configureOutput({ outputError: (str) => onParseError(str.replace(/^error: /, '').trim()) });
  else program.showHelpAfterError('(run with --help for usage)');
  for (const c of COMMANDS) {
    const cmd = program.command(c.name).description(c.summary);
    if (load === 'all' || load === c.name) (await c.load()).register(cmd, { fullProgram: () => buildProgram('all') });
    else if (c.args) cmd.arguments(c.args);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `acp get nodes | head -1`: a reader that leaves early ends the command quietly, not with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const args = argv.slice(2);
  let format = formatFromArgv(args);
  const structured = format === 'json' || format === 'yaml';
  let parseError: string | undefined;
  try {
    // With JSON or YAML asked for, commander's own errors (unknown option, missing argument) are printed in it too.
    const program = await buildProgram(commandOf(args), structured ? { onParseError: (m) => (parseError = m) } : {});
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    format = recordedFormat() ?? format;
    if (e instanceof CommanderError) {
      // Help and version exit through here with code 0; commander already printed.
      if (e.exitCode === 0) return 0;
      if (parseError !== undefined) process.stderr.write(await renderError(new UsageError(parseError), format));
      return EXIT.invalid;
    }
    if (e instanceof CliError) {
      process.stderr.write(await renderError(e, format));
      return e.exitCode;
    }
    const internal = new CliError(`internal error: ${e instanceof Error ? e.message : String(e)}`, EXIT.failed);
    process.stderr.write(await renderError(internal, format));
    if (process.env.ACP_DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : ''}\n`);
    return EXIT.failed;
  }
}
