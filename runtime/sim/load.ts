// Loading a scenario script from a file, with every way that can go wrong
// turned into one ScenarioError line (missing file, syntax error, no default
// export, invalid scenario) rather than a stack trace.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScenarioError, isScenario } from './scenario.ts';
import type { Scenario } from './scenario.ts';

export async function loadScenario(file: string): Promise<Scenario> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ScenarioError(`scenario script not found: ${file}`);
  if (!/\.(ts|mts|js|mjs)$/.test(path)) throw new ScenarioError(`scenario script must be a .ts or .js file: ${file}`);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    if (e instanceof ScenarioError) throw new ScenarioError(`${file}: ${e.message}`);
    const err = e as Error;
    const first = String(err?.message ?? err).split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
    throw new ScenarioError(`${file}: cannot load scenario script: ${err?.name ?? 'Error'}: ${first.trim()}`);
  }
  if (!isScenario(mod.default)) {
    throw new ScenarioError(`${file}: the script must \`export default defineScenario({...})\``);
  }
  return mod.default;
}
