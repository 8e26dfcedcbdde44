// Options shared by the commands, and parsing of option values with errors
// that name the option.
import { Option, type Command } from 'commander';
import { UsageError } from './errors.ts';

export function intOption(name: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** `--dir`: the cluster directory, from the command line, else $ACP_DIR, else ./.acp. */
export function dirOption(c: Command, what = 'cluster directory'): Command {
  return c.addOption(new Option('--dir <dir>', what).env('ACP_DIR').default('.acp'));
}

/**
 * `--api-key-file`: where the API key comes from when not from $ACP_API_KEY or
 * DIR/pki/api.key. There is no `--api-key KEY`: a key on the command line is
 * readable by every user through `ps` and stays in the shell's history.
 */
export function apiKeyOption(c: Command): Command {
  return c
    .option('--api-key-file <file>', 'read the API key from this file (default: $ACP_API_KEY, else DIR/pki/api.key)')
    .addOption(new Option('--api-key <key>', 'removed: use $ACP_API_KEY or --api-key-file').hideHelp());
}

export interface KeyOptions {
  dir: string;
  apiKeyFile?: string;
  /** Only to say that it is gone. */
  apiKey?: string;
}
