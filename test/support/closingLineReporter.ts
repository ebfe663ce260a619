import type { Reporter, TestModule } from 'vitest/node';

/**
 * CI reads a plain closing line `N passed, N failed` rather than vitest's own
 * summary. A test file that fails outside its test cases (a broken import, a
 * throwing beforeAll that leaves every case skipped) counts as one failure: it
 * must never read as a clean run.
 */
export default class ClosingLineReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<unknown>,
    reason: 'passed' | 'interrupted' | 'failed',
  ): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      let failedCases = 0;
      for (const testCase of testModule.children.allTests()) {
        const state = testCase.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failedCases += 1;
        else skipped += 1;
      }
      failed += failedCases;
      if (failedCases === 0 && testModule.state() === 'failed') failed += 1;
    }
    failed += unhandledErrors.length;
    // A run that failed before any test could (a global setup that threw) must not read as clean.
    if (reason !== 'passed' && failed === 0) failed = 1;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}
