// Files of objects for `acp apply -f` and `acp delete -f`: JSON (an object or
// an array of objects) or YAML (one or more documents, each an object or a
// list), `-` for stdin; `{ items: [...] }` is a list too. Every object is named
// by where it came from (`pools.yaml, object 2`) so that an error can say
// which one is wrong. The `yaml` module is loaded only for YAML.
import { readFileSync } from 'node:fs';
import { UsageError } from './errors.ts';

export interface Doc {
  /** where the object came from: the file, and its position when the file holds several */
  source: string;
  value: unknown;
}

function readText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`-f ${file}: no such file`);
    if (code === 'EISDIR') throw new UsageError(`-f ${file} is a directory, not a file`);
    if (code === 'EACCES' || code === 'EPERM') throw new UsageError(`-f ${file}: permission denied`);
    throw new UsageError(`cannot read -f ${file}: ${(e as Error).message}`);
  }
}

/** The values a file holds, before they are split into objects. */
export async function parseText(text: string, name: string): Promise<unknown[]> {
  const trimmed = text.trimStart();
  if (trimmed.length === 0) throw new UsageError(`${name} is empty: no objects to apply`);
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return [JSON.parse(text)];
    } catch (e) {
      throw new UsageError(`${name} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const { parseAllDocuments } = await import('yaml');
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const d of list) {
    const err = d.errors[0];
    if (err) {
      // The first line of the message says where: "… at line 3, column 1:".
      throw new UsageError(`${name} is not valid YAML: ${err.message.split('\n')[0]!.replace(/:$/, '')}`);
    }
    const v = d.toJS() as unknown;
    if (v !== null && v !== undefined) out.push(v);
  }
  if (out.length === 0) throw new UsageError(`${name} holds no objects`);
  return out;
}

/** Lists (arrays, `{ items }`) flattened into their objects. */
function flatten(v: unknown): unknown[] {
  if (Array.isArray(v)) return v.flatMap(flatten);
  if (v !== null && typeof v === 'object' && !('type' in v) && Array.isArray((v as { items?: unknown }).items)) return flatten((v as { items: unknown[] }).items);
  return [v];
}

/** Every object of the files given (in order), each named by its source. */
export async function readDocs(files: readonly string[]): Promise<Doc[]> {
  if (files.length === 0) throw new UsageError('give the objects with -f FILE (JSON or YAML; -f - reads stdin)');
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('-f - (stdin) can be given once');
  const docs: Doc[] = [];
  for (const f of files) {
    const name = f === '-' ? 'stdin' : f;
    const values = (await parseText(readText(f), name)).flatMap(flatten);
    if (values.length === 0) throw new UsageError(`${name} holds no objects`);
    values.forEach((value, i) => docs.push({ source: values.length === 1 ? name : `${name}, object ${i + 1}`, value }));
  }
  return docs;
}
