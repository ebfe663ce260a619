import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import picomatch from 'picomatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFunctions, startFunctionApp } from '../support/functionsHost';

/**
 * The worker loads exactly the files package.json `main` matches (globby, picomatch semantics), and a
 * glob matching nothing is no error: the app would start with zero functions. So build for real and
 * check the glob against what the build emits.
 */
const repoRoot = path.resolve(import.meta.dirname, '../..');
// Inside node_modules so the built files resolve @azure/functions like dist/ does, without touching dist/.
const outDir = path.join(repoRoot, 'node_modules', '.cache', `main-glob-test-${process.pid}`);

let emitted: string[];
let mainGlob: string;

beforeAll(async () => {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], {
    cwd: repoRoot,
  });
  const entries = await readdir(outDir, { recursive: true, withFileTypes: true });
  emitted = entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(outDir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .map((relative) => `dist/${relative}`)
    .sort();
  mainGlob = (JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { main: string })
    .main;
}, 120_000);

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

async function functionSourceStems(): Promise<string[]> {
  const names = await readdir(path.join(repoRoot, 'src', 'functions')).catch(() => [] as string[]);
  return names
    .filter((name) => /\.ts$/.test(name) && !/\.d\.ts$/.test(name))
    .map((name) => name.slice(0, -3));
}

describe("package.json's main glob", () => {
  it('matches exactly the built function files', async () => {
    const isMatch = picomatch(mainGlob);
    const expected = (await functionSourceStems()).map((stem) => `dist/functions/${stem}.js`);
    expect(emitted).toEqual(expect.arrayContaining(expected));
    // The build also emits domain, adapters and config files: the glob must leave them out.
    expect(emitted).toContain('dist/config.js');
    expect(emitted.filter((file) => isMatch(file)).sort()).toEqual(expected.sort());
  });

  it('would pick up a function file added later, and never maps, nested or non-function files', () => {
    const isMatch = picomatch(mainGlob);
    expect(isMatch('dist/functions/futureFunction.js')).toBe(true);
    for (const file of [
      'dist/functions/futureFunction.js.map',
      'dist/index.js',
      'dist/functions/nested/helper.js',
      'dist/domain/catalog.js',
      'dist/adapters/ingestion.js',
      'dist/config.js',
      'src/index.ts',
    ]) {
      expect(isMatch(file), file).toBe(false);
    }
  });

  it('loads through the worker: every function file registers, and no capability is declared', async () => {
    const isMatch = picomatch(mainGlob);
    const entryPoints = emitted.filter((file) => isMatch(file)).map((file) => file.replace(/^dist\//, ''));
    const functionFiles = entryPoints.filter((file) => file.startsWith('functions/'));
    const capabilities = await startFunctionApp({ entryPoints, functionAppDirectory: outDir });
    // The forwarder takes its bodies as bytes, which the host never drops, so it needs no
    // IncludeEmptyEntriesInMessagePayload (which would cost ~13 failed JSON.parse calls per message).
    expect(capabilities.IncludeEmptyEntriesInMessagePayload).toBeUndefined();
    const registeringFiles = new Set(listFunctions().map((f) => f.scriptFile));
    for (const file of functionFiles) {
      expect(registeringFiles, `${file} registers no function`).toContain(path.basename(file));
    }
  });
});
