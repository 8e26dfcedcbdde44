// How every `acp` command prints: `-o text|wide|json|yaml` (`--json` is
// `-o json`, the same everywhere), the padded tables of the text forms, and
// errors in the format that was asked for. The `yaml` module is loaded only
// when YAML is asked for.
import { Option, type Command } from 'commander';
import { CliError, errorValue, UsageError } from './errors.ts';

export const FORMATS = ['text', 'wide', 'json', 'yaml'] as const;
export type Format = (typeof FORMATS)[number];

export interface OutputOptions {
  output?: string;
  json?: boolean;
}

/** `-o, --output FORMAT`. */
export function formatOption(): Option {
  return new Option('-o, --output <format>', 'output format (wide: more columns)').choices(FORMATS);
}

/** Add `-o, --output` and `--json` to a command that prints. */
export function outputOptions(c: Command): Command {
  return c.addOption(formatOption()).option('--json', 'same as -o json');
}

// The format of the command being run, once its options are known: errors are printed in it.
let current: Format | undefined;

/** The format asked for by a command's options (and remembered for printing errors). */
export function formatOf(o: OutputOptions): Format {
  const out = o.output as Format | undefined;
  if (o.json && out !== undefined && out !== 'json') throw new UsageError(`--json and -o ${out} disagree; give one of them`);
  current = o.json ? 'json' : (out ?? 'text');
  return current;
}

/** The format the running command's options asked for, once formatOf has read them. */
export function recordedFormat(): Format | undefined {
  return current;
}

/**
 * The format the command line asks for, read from argv before (or without)
 * commander: used to print commander's own errors and errors raised before an
 * action read its options.
 */
export function formatFromArgv(args: readonly string[]): Format | undefined {
  let f: Format | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    let v: string | undefined;
    if (a === '-o' || a === '--output') v = args[i + 1];
    else if (a.startsWith('--output=')) v = a.slice('--output='.length);
    else if (a.startsWith('-o') && a.length > 2 && !a.startsWith('--')) v = a.slice(2);
    else if (a === '--json' && (i + 1 >= args.length || args[i + 1]!.startsWith('-'))) v = 'json';
    if (v !== undefined && (FORMATS as readonly string[]).includes(v)) f = v as Format;
  }
  return f;
}

async function yamlOf(value: unknown): Promise<string> {
  const { stringify } = await import('yaml');
  return stringify(value, { lineWidth: 0 });
}

/** The text of `value` in a structured format. */
export async function structured(format: 'json' | 'yaml', value: unknown): Promise<string> {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : await yamlOf(value);
}

/**
 * Print a command's result: JSON or YAML of `value`, or the text form (`text(true)` for wide).
 * A text form that ends without a newline gets one.
 */
export async function emit(format: Format, value: unknown, text: (wide: boolean) => string): Promise<void> {
  let s: string;
  if (format === 'json' || format === 'yaml') s = await structured(format, value);
  else {
    s = text(format === 'wide');
    if (s.length > 0 && !s.endsWith('\n')) s += '\n';
  }
  process.stdout.write(s);
}

/** One event of a stream (watch): a JSON line, a YAML document, or a text line. */
export async function emitEvent(format: Format, value: unknown, text: (wide: boolean) => string): Promise<void> {
  if (format === 'json') process.stdout.write(JSON.stringify(value) + '\n');
  else if (format === 'yaml') process.stdout.write('---\n' + (await yamlOf(value)));
  else process.stdout.write(text(format === 'wide') + '\n');
}

/** Columns padded to their widest cell; the last column is not padded (no trailing blanks). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** An error as the command prints it: `acp: message`, or one JSON line / a YAML document. */
export async function renderError(e: CliError, format: Format | undefined): Promise<string> {
  if (format === 'json') return JSON.stringify(errorValue(e)) + '\n';
  if (format === 'yaml') return await yamlOf(errorValue(e));
  return `acp: ${e.message}\n`;
}
