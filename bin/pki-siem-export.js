#!/usr/bin/env node
'use strict';
// `npx pki-siem-export` / the package bin: runs the compiled CLI, or says how to build it.
const path = require('node:path');
const fs = require('node:fs');

const main = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write(
    'pki-siem-export: the CLI is not built yet; run `npm run build` first (or use `npx tsx src/cli/main.ts`)\n',
  );
  process.exitCode = 1;
} else {
  require(main);
}
