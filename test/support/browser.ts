import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * Headless Chromium for the browser tests: Debian's `chromium` package, driven by playwright-core,
 * which downloads no browser of its own. `.ci/run` installs the package when it is missing; a
 * machine without it fails the browser tests, saying how to install it, unless `.ci/run` could not
 * install it (apt-get failed) and said so in BROWSER_UNAVAILABLE: then they are skipped with that reason.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests are skipped, or undefined when they run (or must fail for want of a browser). */
export function browserSkipReason(
  chromiumPath = CHROMIUM_PATH,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (existsSync(chromiumPath)) return undefined;
  const reason = env.BROWSER_UNAVAILABLE;
  return reason ? `${reason}; the settings panel was NOT tested in a browser.` : undefined;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh browser profile (its own --user-data-dir) that is deleted on close. */
export async function launchChromium(chromiumPath = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is not installed at ${chromiumPath}, so the settings panel cannot be tested in a browser. ` +
        'Install it with: apt-get update && apt-get install -y chromium (.ci/run does this).',
    );
  }
  const profile = mkdtempSync(path.join(tmpdir(), 'pki-chromium-'));
  try {
    // playwright-core turns the profile directory into --user-data-dir itself.
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1000, height: 900 },
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Where screenshots go: docs/images when UPDATE_SCREENSHOTS=1 (to refresh the pictures the docs show),
 * otherwise a temporary directory, so a plain test run changes nothing in the checkout.
 */
export function screenshotDirectory(): { dir: string; cleanup: () => void } {
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const dir = path.resolve(import.meta.dirname, '../../docs/images');
    mkdirSync(dir, { recursive: true });
    return { dir, cleanup: () => undefined };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'pki-screenshots-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
