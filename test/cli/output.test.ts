// The CLI's one output module and its exit codes: formats, tables, errors in
// the asked format, the exit code of each reply code, and the README's table.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { CliError, EXIT, EXIT_TABLE, exitForReplyCode, NotFoundError, UnreachableError, UsageError } from '../../cli/errors.ts';
import { emit, formatFromArgv, formatOf, renderError, table } from '../../cli/output.ts';

test('the format asked for: -o, --output, --output=, -oX, and --json meaning -o json', (t) => {
  t.is(formatOf({}), 'text');
  t.is(formatOf({ output: 'wide' }), 'wide');
  t.is(formatOf({ json: true }), 'json');
  t.is(formatOf({ json: true, output: 'json' }), 'json');
  t.throws(() => formatOf({ json: true, output: 'yaml' }), { instanceOf: UsageError, message: /--json and -o yaml disagree/ });
});

test('the format read from argv (for errors before or outside an action)', (t) => {
  const fresh = formatFromArgv;
  t.is(fresh(['cdb', 'get', 'x', '-o', 'json']), 'json');
  t.is(fresh(['cdb', 'get', 'x', '--output=yaml']), 'yaml');
  t.is(fresh(['cdb', 'get', 'x', '-oyaml']), 'yaml');
  t.is(fresh(['status', '--json']), 'json');
  t.is(fresh(['status', '--json', '--dir', 'x']), 'json');
  // `acp sim --json FILE` (old spelling of --summary FILE) asks for no JSON on stdout.
  t.is(fresh(['sim', 's.ts', '--json', 'out.json']), undefined);
  t.is(fresh(['status', '-o', 'xml']), undefined);
  t.is(fresh(['status', '--', '-o', 'json']), undefined);
});

test('tables: padded columns, no trailing blanks', (t) => {
  t.is(table(['A', 'LONGER', 'C'], [['xx', '', '1'], ['y', 'z', '']]), 'A   LONGER  C\nxx          1\ny   z');
});

test('errors: one line of text, or one JSON line / a YAML document with kind and exit code', async (t) => {
  const e = new NotFoundError('system/vm1 not found (revision 7)');
  t.is(await renderError(e, 'text'), 'acp: system/vm1 not found (revision 7)\n');
  t.is(await renderError(e, undefined), 'acp: system/vm1 not found (revision 7)\n');
  const j = await renderError(e, 'json');
  t.is(j.trim().split('\n').length, 1);
  t.deepEqual(JSON.parse(j), { error: { kind: 'not-found', exitCode: 3, message: 'system/vm1 not found (revision 7)' } });
  t.is(await renderError(new UnreachableError('no node answered'), 'yaml'), 'error:\n  kind: unreachable\n  exitCode: 4\n  message: no node answered\n');
  t.is(new UsageError('x').exitCode, EXIT.invalid);
  t.is(new CliError('x').kind, 'failed');
});

test('emit: JSON, YAML, text and wide go to stdout', async (t) => {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
  try {
    const v = { a: 1, b: ['x'] };
    await emit('json', v, () => 'text');
    await emit('yaml', v, () => 'text');
    await emit('text', v, (wide) => (wide ? 'wide' : 'text'));
    await emit('wide', v, (wide) => (wide ? 'wide' : 'text'));
  } finally {
    process.stdout.write = write;
  }
  t.deepEqual(out, ['{\n  "a": 1,\n  "b": [\n    "x"\n  ]\n}\n', 'a: 1\nb:\n  - x\n', 'text\n', 'wide\n']);
});

test('exit code of each node reply code', (t) => {
  t.is(exitForReplyCode('invalid'), 2);
  t.is(exitForReplyCode('not-found'), 3);
  t.is(exitForReplyCode('unavailable'), 4);
  t.is(exitForReplyCode('not-leader'), 4);
  t.is(exitForReplyCode('conflict'), 1);
  t.is(exitForReplyCode('indeterminate'), 1);
  t.is(exitForReplyCode(undefined), 1);
});

test("the README's exit-code table is cli/errors.ts's", (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = [...readme.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2]! }));
  t.deepEqual(rows, [...EXIT_TABLE]);
  t.deepEqual(
    EXIT_TABLE.map((e) => e.code),
    [0, 1, 2, 3, 4, 5],
  );
});
