// Preloaded by test/cli/commands.test.ts (node --import): appends the URL of
// every module the process loads to $ACP_LOAD_LOG, to check what a command
// loads. Plain JS so that it needs no type stripping itself.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const log = process.env.ACP_LOAD_LOG;
registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    if (log) appendFileSync(log, r.url + '\n');
    return r;
  },
});
