// Every command's --help ends with examples, and every command that prints
// its result takes -o/--output and --json.
import test from 'ava';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/program.ts';

function all(c: Command, path = 'acp'): [string, Command][] {
  return c.commands.filter((s) => s.name() !== 'help').flatMap((s) => [[`${path} ${s.name()}`, s] as [string, Command], ...all(s, `${path} ${s.name()}`)]);
}

function helpOf(c: Command): string {
  let out = '';
  c.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  c.outputHelp();
  return out;
}

test('every --help has examples', async (t) => {
  const program = await buildProgram('all');
  t.regex(helpOf(program), /\nExamples:\n {2}\$ acp /);
  t.regex(helpOf(program), /\nExit codes:\n {2}0 {2}success\n/);
  for (const [path, c] of all(program)) t.regex(helpOf(c), /\nExamples:\n {2}\$ acp /, path);
});

test('every command that prints takes -o/--output and --json', async (t) => {
  const program = await buildProgram('all');
  // `node start` logs to stderr and prints nothing; `completion` prints a shell script.
  const silent = new Set(['acp node start', 'acp completion']);
  const printing = all(program).filter(([path, c]) => c.commands.length === 0 && !silent.has(path));
  t.true(printing.length >= 14);
  for (const [path, c] of printing) {
    const longs = c.options.map((o) => o.long);
    t.true(longs.includes('--output') && longs.includes('--json'), path);
    t.is(c.options.find((o) => o.long === '--output')?.short, '-o', path);
  }
});
