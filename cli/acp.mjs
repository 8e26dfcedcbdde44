#!/usr/bin/env node
// The `acp` command (package.json "bin"). ACP is TypeScript run by Node.js 24
// directly (type stripping); an older Node cannot even load a .ts file (it
// stops with ERR_UNKNOWN_FILE_EXTENSION and a stack trace). So this launcher is
// plain JavaScript that any Node parses — no static imports, no syntax newer
// than dynamic import() — and checks the version before loading cli/acp.ts.
//
// It also turns on Node's compile cache before the first .ts file is loaded:
// with the stripped TypeScript in the cache, Node does not even load its
// TypeScript stripper (about 150 ms of a short command's start-up).
var need = 24;
var major = Number(process.versions.node.split('.')[0]);
if (!(major >= need)) {
  var project = decodeURIComponent(new URL('..', import.meta.url).pathname).replace(/\/$/, '');
  process.stderr.write(
    'acp: needs Node.js ' + need + ' or newer, but ' + process.execPath + ' is ' + process.version +
      '; run "npx acp" in ' + project + ' (npm ci brings Node ' + need + '), or put its Node first: export PATH="' + project + '/node_modules/.bin:$PATH"\n',
  );
  process.exitCode = 1;
} else {
  import('node:module').then(function (m) {
    var dir = process.env.NODE_COMPILE_CACHE || decodeURIComponent(new URL('../node_modules/.cache/acp', import.meta.url).pathname);
    // A cache that cannot be written is skipped: it only costs time.
    if (m.enableCompileCache(dir).directory !== undefined) process.env.NODE_COMPILE_CACHE = dir;
    return import('./acp.ts');
  });
}
