#!/usr/bin/env node
import { processIo, runCli } from './cli';

// The operator CLI's entry point (bin: pki-siem-export). Setting exitCode instead of
// calling process.exit lets piped output drain before the process ends.
void runCli(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
