#!/usr/bin/env node
// Entry point of `acp`. Before anything else is loaded it turns on Node's
// compile cache: loading a cold CLI type-strips and compiles every module
// again, which was half of a short command's run time. The cache lives in
// node_modules/.cache/acp (or wherever NODE_COMPILE_CACHE points); entries
// are checked against the source, so an edited file is simply compiled again.
// The variable is exported so the node processes, actor workers and
// simulation workers this command starts use the same cache. A cache that
// cannot be written is skipped silently: it only costs time.
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';

const dir = process.env.NODE_COMPILE_CACHE || fileURLToPath(new URL('../node_modules/.cache/acp', import.meta.url));
if (enableCompileCache(dir).directory !== undefined) process.env.NODE_COMPILE_CACHE = dir;

const { main } = await import('./program.ts');
process.exitCode = await main(process.argv);
