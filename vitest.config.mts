import { defineConfig } from 'vitest/config';
import { prepareTestTrust } from './test/support/testCa';

// Workers are forked after this runs: they inherit NODE_EXTRA_CA_CERTS (the
// machine's bundle plus this run's test CA) and so trust the HTTPS stand-ins.
await prepareTestTrust();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/support/globalSetup.ts'],
    setupFiles: ['test/support/functionsHost/setup.ts'],
    reporters: ['default', './test/support/closingLineReporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
