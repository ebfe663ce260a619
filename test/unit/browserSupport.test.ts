import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, browserSkipReason, launchChromium } from '../support/browser';

/**
 * The browser tests never pass by not running: without Chromium they fail, saying how to install it,
 * and are skipped only when .ci/run tried to install it and could not (and said so).
 */

const NOWHERE = '/nonexistent/chromium';

describe('browser test support', () => {
  it('runs the browser tests whenever Chromium is installed', () => {
    expect(browserSkipReason(process.execPath, { BROWSER_UNAVAILABLE: 'apt-get failed' })).toBeUndefined();
  });

  it('does not skip a missing browser unless .ci/run reported that it could not install one', () => {
    expect(browserSkipReason(NOWHERE, {})).toBeUndefined();
    expect(browserSkipReason(NOWHERE, { BROWSER_UNAVAILABLE: 'apt-get failed' })).toBe(
      'apt-get failed; the settings panel was NOT tested in a browser.',
    );
  });

  it('fails to launch a missing browser with how to install it', async () => {
    await expect(launchChromium(NOWHERE)).rejects.toThrow(
      'Chromium is not installed at /nonexistent/chromium, so the settings panel cannot be tested in a browser. Install it with: apt-get update && apt-get install -y chromium',
    );
  });

  it('.ci/run installs the browser the tests launch and reports through the variable they read', () => {
    const script = readFileSync('.ci/run', 'utf8');
    expect(script).toContain(`[ -x ${CHROMIUM_PATH} ] || missing+=(chromium)`);
    expect(script).toMatch(/apt-get install -y "\$\{missing\[@\]\}"/);
    expect(script).toMatch(
      new RegExp(`if \\[ ! -x ${CHROMIUM_PATH} \\]; then\\n  export BROWSER_UNAVAILABLE=`),
    );
  });
});
