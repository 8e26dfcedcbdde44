// This package's package.json: the version `acp -V` and `acp version` print.
import { readFileSync } from 'node:fs';

export const PKG = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; engines?: { node?: string } };
