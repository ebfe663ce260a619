import type { Reporter, TestModule } from 'vitest/node';

/**
 * CI reads a plain closing line `N passed, N failed` rather than vitest's own
 * summary. A test file that fails to load has no test cases, so it counts as
 * one failure: a broken import must never read as a clean run.
 */
export default class ClosingLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      let cases = 0;
      for (const testCase of testModule.children.allTests()) {
        cases += 1;
        const state = testCase.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failed += 1;
        else skipped += 1;
      }
      if (cases === 0 && testModule.state() === 'failed') failed += 1;
    }
    failed += unhandledErrors.length;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
  }
}
