import { defineConfig } from 'vitest/config';

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
