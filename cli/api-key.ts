// Where a command gets the cluster's API key: --api-key-file FILE, else
// $ACP_API_KEY, else DIR/pki/api.key. Never from the command line itself: a
// key there is visible to every user through `ps` and stays in the shell's
// history. Key files must be readable by their owner only, as ssh keys.
//
// DIR/pki/api.key is read here rather than through runtime/net/pki.ts, which
// would load the X.509 library (a third of a short command's start-up) to
// read 64 hex characters; the checks are the same.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT, UsageError } from './errors.ts';
import type { KeyOptions } from './options.ts';

export function readKeyFile(file: string, what: string, fromOption: boolean): string {
  const bad = fromOption ? EXIT.invalid : EXIT.failed;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`cannot read ${what}: ${file} does not exist`, fromOption ? EXIT.invalid : EXIT.notFound);
    throw new CliError(`cannot read ${what} ${file}: ${(e as Error).message}`, bad);
  }
  if ((mode & 0o170000) !== 0o100000) throw new CliError(`${what} ${file} is not a regular file`, bad);
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new CliError(`${what} ${file} has mode 0${(mode & 0o777).toString(8)}; it must be readable by its owner only (chmod 600 ${file})`, bad);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new CliError(`cannot read ${what} ${file}: ${(e as Error).message}`, bad);
  }
  if (text.length === 0 || /\s/.test(text)) throw new CliError(`${what} ${file} must hold the key on one line`, bad);
  return text;
}

/** The API key for the cluster in `dir`. */
export function apiKeyFor(dir: string, o: Omit<KeyOptions, 'dir'>): string {
  if (o.apiKey !== undefined) {
    throw new UsageError('--api-key is gone (a key on the command line shows in `ps` and in shell history): set ACP_API_KEY or use --api-key-file FILE');
  }
  if (o.apiKeyFile !== undefined) return readKeyFile(o.apiKeyFile, 'the API key file', true);
  const env = process.env.ACP_API_KEY;
  if (env) return env;
  return clusterKey(dir);
}

/** The key `acp up`/`acp init` wrote: DIR/pki/api.key. */
export function clusterKey(dir: string): string {
  const file = join(dir, 'pki', 'api.key');
  const key = readKeyFile(file, 'the API key', false);
  if (!/^[0-9a-f]{64}$/.test(key)) throw new CliError(`garbled API key in ${file}: expected 64 hex characters`);
  return key;
}
