// `acp explain` (derived from the CDB's zod schemas) and `acp completion`
// (generated from the command tree).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as schema from '../../actors/cdb/schema.ts';
import { buildProgram } from '../../cli/program.ts';
import { completionScript, specOf } from '../../cli/commands/completion.ts';
import { explain, fieldRows, renderExplained } from '../../cli/commands/explain.ts';
import { NotFoundError } from '../../cli/errors.ts';

test('every object type: its example object is valid, and its fields are listed', async (t) => {
  for (const type of Object.keys(schema.OBJECT_SCHEMAS)) {
    const e = await explain(type);
    const v = schema.validateObject(e.example);
    t.true(v.ok, `${type}: ${v.ok ? '' : v.error}`);
    const fields = fieldRows(e.schema, schema).map((r) => r.field.trim());
    t.true(fields.includes('id') && fields.includes('spec'), type);
    t.false(fields.includes('subtype') !== type.includes('/'), `${type}: subtype listed only for types that have one`);
  }
});

test('explain system: the fields with types, required and constraints, and an example put', async (t) => {
  const text = renderExplained(await explain('system'), schema);
  t.regex(text, /^NAMED: +system\/ID/m);
  t.regex(text, /^ {2}vcpus +integer +required +1\.\.1024$/m);
  t.regex(text, /^ {2}disks\[\] +array of object +0-64 items$/m);
  t.regex(text, /^ {4}sizeBytes +integer +required +>= 0$/m);
  t.regex(text, /^revision +integer +set by the store/m);
  t.regex(text, /acp cdb put '\{"type":"system","id":"example","spec":\{"name":"example","vcpus":1,"memoryMb":16\}\}'/);
});

test('explain: a type with sub-types names them; an unknown type lists the types', async (t) => {
  await t.throwsAsync(() => explain('storage'), { instanceOf: NotFoundError, message: /storage has sub-types: explain one of storage\/device, storage\/pool, storage\/share/ });
  await t.throwsAsync(() => explain('vm'), { instanceOf: NotFoundError, message: /no object type "vm"; the types are: system, node, storage\/device/ });
  t.is((await explain('Storage/Pool/')).type, 'storage/pool');
});

test('completion: every command path with its sub-commands and options, from the tree', async (t) => {
  const spec = specOf(await buildProgram('all'), { 'acp explain': ['system'] });
  t.true(spec.words['acp']!.includes('cdb') && spec.words['acp']!.includes('completion') && spec.words['acp']!.includes('--version'));
  t.deepEqual(spec.words['acp cdb']!.filter((w) => !w.startsWith('-')).sort(), ['delete', 'get', 'ls', 'meta', 'put', 'watch']);
  for (const w of ['--dir', '--api-key-file', '--node', '-o', '--output', '--json', '--stale', '--help']) t.true(spec.words['acp cdb get']!.includes(w), w);
  t.false(spec.words['acp cdb get']!.includes('--api-key'), 'hidden options are not offered');
  t.true(spec.words['acp explain']!.includes('system'));
  t.true(spec.words['acp node start']!.includes('--config'));
  for (const w of ['-w', '--watch', '-o', '--node', '--dir']) t.true(spec.words['acp get']!.includes(w), `acp get ${w}`);
  for (const w of ['-f', '--file', '--dry-run']) t.true(spec.words['acp apply']!.includes(w), `acp apply ${w}`);
  t.true(spec.words['acp delete']!.includes('--ignore-not-found'));
  t.true(spec.words['acp capabilities']!.includes('--node'));
});

test('completion: acp get completes kinds, describe and delete object names, apply -f files', async (t) => {
  const out = spawnSync(process.execPath, [fileURLToPath(new URL('../../cli/acp.ts', import.meta.url)), 'completion', 'bash'], { encoding: 'utf8' });
  t.is(out.status, 0, out.stderr);
  const complete = (...words: string[]): string[] => {
    const r = spawnSync('bash', ['-c', `${out.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acp; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    return r.stdout.split('\n').filter(Boolean);
  };
  t.deepEqual(complete('acp', 'get', 'po'), ['pools', 'pool']);
  t.deepEqual(complete('acp', 'get', 'n'), ['nodes', 'node', 'networks', 'network']);
  t.deepEqual(complete('acp', 'describe', 'st'), ['storage/']);
  t.deepEqual(complete('acp', 'delete', 'po'), ['pool/']);
  t.deepEqual(complete('acp', 'ca'), ['capabilities']);
});

test('completion: the bash script parses, and completes commands, options and -o values', async (t) => {
  const spec = specOf(await buildProgram('all'), { 'acp explain': ['system', 'storage/pool'] });
  const script = completionScript('bash', spec);
  t.is(spawnSync('bash', ['-n'], { input: script }).status, 0);
  const complete = (...words: string[]): string[] => {
    const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _acp; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    return r.stdout.split('\n').filter(Boolean);
  };
  t.deepEqual(complete('acp', 'st'), ['status']);
  t.deepEqual(complete('acp', 'cdb', 'g'), ['get']);
  t.deepEqual(complete('acp', 'cdb', 'get', '--dir', 'x', '--st'), ['--stale']);
  t.deepEqual(complete('acp', 'status', '-o', ''), ['text', 'wide', 'json', 'yaml']);
  t.deepEqual(complete('acp', 'explain', 'sto'), ['storage/pool']);
  const zsh = completionScript('zsh', spec);
  t.regex(zsh, /^#compdef acp/);
  t.regex(zsh, /'acp cdb get'\) opts='[^']*--stale/);
});
