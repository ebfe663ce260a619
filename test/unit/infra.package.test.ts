import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ignore from 'ignore';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreToolsFuncIgnore } from '../support/coreToolsFuncIgnore';

/**
 * What `func azure functionapp publish` would upload from this checkout after
 * the publish steps of docs/operations.md, computed without Core Tools: the files Core
 * Tools walks, filtered by .funcignore (with Core Tools' own matcher and with
 * gitignore semantics, which must agree), with node_modules reduced to what
 * `npm prune` keeps.
 */

const ROOT = process.cwd();
const funcignore = readFileSync('.funcignore', 'utf8');
const packageJson = JSON.parse(readFileSync('package.json', 'utf8')) as {
  main: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function run(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Core Tools' FileSystemHelpers.GetLocalFiles: every file, minus these directories and file names. */
function localFiles(directory = ROOT): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '.git' && entry.name !== '.vscode') files.push(...localFiles(path));
    } else if (
      entry.isFile() &&
      !['.funcignore', '.gitignore', 'local.settings.json', 'project.lock.json'].includes(entry.name)
    ) {
      files.push(relative(ROOT, path).split(sep).join('/'));
    }
  }
  return files;
}

/** The operations guide's publish recipe: the fenced block of its "Publish" step. */
function publishRecipe(): string[] {
  const guide = readFileSync('docs/operations.md', 'utf8');
  const section = /^### (?:\d+\. )?Publish\n([\s\S]*?)(?=^#{1,3} )/m.exec(guide)?.[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

/** `node_modules/a/node_modules/@s/b/lib/x.js` -> `node_modules/a/node_modules/@s/b`. */
function packageDirOf(path: string): string | undefined {
  return /^((?:node_modules\/(?:@[^/]+\/)?[^/]+\/)*node_modules\/(?:@[^/]+\/)?[^/.][^/]*)\//.exec(path)?.[1];
}

let files: string[] = [];
let shipped: string[] = [];
let keptPackages = new Set<string>();
let coreToolsAccepts: (path: string) => boolean;

beforeAll(() => {
  const build = run('npm', ['run', 'build']);
  expect(build.status, build.stdout + build.stderr).toBe(0);

  // npm's own answer to "what stays after the guide's prune".
  const omit = (publishRecipe().find((line) => line.startsWith('npm prune')) ?? '')
    .split(/\s+/)
    .filter((arg) => arg.startsWith('--omit='));
  const tree = run('npm', ['ls', ...omit, '--all', '--parseable']);
  expect(tree.status, tree.stderr).toBe(0);
  keptPackages = new Set(
    tree.stdout
      .split('\n')
      .filter(Boolean)
      .map((path) => relative(ROOT, path).split(sep).join('/'))
      .filter((path) => path !== ''),
  );

  const matcher = new CoreToolsFuncIgnore(funcignore);
  coreToolsAccepts = (path) => matcher.accepts(path);
  files = localFiles();
  shipped = files.filter((path) => {
    if (!coreToolsAccepts(path)) return false;
    const packageDir = packageDirOf(path);
    return packageDir === undefined || keptPackages.has(packageDir);
  });
}, 120_000);

describe('the published package', () => {
  it('is what gitignore semantics and Core Tools’ own .funcignore matcher both let through', () => {
    const gitignore = ignore().add(funcignore);
    const disagreements = files.filter((path) => coreToolsAccepts(path) === gitignore.ignores(path));
    expect(disagreements).toEqual([]);
  });

  it('holds only the built app, host.json, the package manifest and lockfile, and dependencies', () => {
    const allowed = [
      /^dist\/.+\.js$/,
      /^host\.json$/,
      /^package\.json$/,
      /^package-lock\.json$/,
      /^node_modules\//,
    ];
    expect(shipped.filter((path) => !allowed.some((pattern) => pattern.test(path)))).toEqual([]);
    for (const path of ['host.json', 'package.json', 'package-lock.json']) expect(shipped).toContain(path);
    for (const excluded of [
      'src/config.ts',
      'test/unit/infra.package.test.ts',
      'infra/azuredeploy.json',
      'infra/scripts/register-customer-app.sh',
      '.ci/run',
      'tsconfig.json',
      'tsconfig.build.json',
      'local.settings.sample.json',
      'README.md',
      'vitest.config.mts',
      'eslint.config.mjs',
    ]) {
      expect(files, `${excluded} should exist to be excluded`).toContain(excluded);
      expect(shipped).not.toContain(excluded);
    }
  });

  it('contains every compiled source file, and no sources, maps or leftovers', () => {
    const sources = localFiles(join(ROOT, 'src'))
      .filter((path) => path.endsWith('.ts'))
      .map((path) => path.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'));
    expect(sources.length).toBeGreaterThan(0);
    const built = shipped.filter((path) => path.startsWith('dist/'));
    expect(built.sort()).toEqual(sources.sort());
    expect(packageJson.main.startsWith('dist/')).toBe(true);
  });

  it('carries every production dependency and none of the development-only ones', () => {
    for (const name of Object.keys(packageJson.dependencies)) {
      expect(shipped, name).toContain(`node_modules/${name}/package.json`);
    }
    const devOnly = Object.keys(packageJson.devDependencies).filter(
      (name) => !keptPackages.has(`node_modules/${name}`),
    );
    expect(devOnly).toEqual(expect.arrayContaining(['vitest', 'typescript', 'azurite', 'eslint']));
    for (const name of devOnly) {
      expect(
        shipped.filter((path) => path.startsWith(`node_modules/${name}/`)),
        name,
      ).toEqual([]);
    }
  });
});

describe('the publish recipe (docs/operations.md)', () => {
  it('builds, keeps production dependencies only, and publishes without a remote build', () => {
    const recipe = publishRecipe();
    const step = (pattern: RegExp): number => recipe.findIndex((line) => pattern.test(line));
    const install = step(/^npm ci$/);
    const build = step(/^npm run build$/);
    const prune = step(/^npm prune --omit=dev --omit=optional$/);
    const publish = step(/^func azure functionapp publish <app> --no-build$/);
    expect(
      [install, build, prune, publish].every((index) => index >= 0),
      recipe.join('\n'),
    ).toBe(true);
    expect(install).toBeLessThan(build);
    expect(build).toBeLessThan(prune);
    expect(prune).toBeLessThan(publish);
  });

  it('prunes without installing anything (optional Core Tools would ship otherwise) and drops dev tools', () => {
    const prune = publishRecipe().find((line) => line.startsWith('npm prune'));
    expect(prune).toBeDefined();
    const [command, ...args] = (prune as string).split(/\s+/);
    const dryRun = run(command as string, [...args, '--dry-run']);
    expect(dryRun.status, dryRun.stderr).toBe(0);
    const lines = dryRun.stdout.split('\n').filter(Boolean);
    // `add`/`change` lines (and an "added N packages" summary) would mean prune fetches something.
    expect(lines.filter((line) => !/^remove |^removed \d+ packages? in /.test(line))).toEqual([]);
    const removed = new Set(lines.map((line) => line.split(' ')[1]));
    for (const tool of ['vitest', 'typescript', 'azurite', 'eslint', 'prettier'])
      expect(removed).toContain(tool);
  });

  it('keeps Core Tools, an optional dependency the install tolerates failing, out of the upload', () => {
    const lockfile = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
      packages: Record<string, { optional?: boolean; dev?: boolean }>;
    };
    expect(lockfile.packages['node_modules/azure-functions-core-tools']?.optional).toBe(true);
    expect(keptPackages.has('node_modules/azure-functions-core-tools')).toBe(false);
  });
});

describe('the Core Tools matcher port', () => {
  it('lets any negation win wherever it stands, unlike gitignore', () => {
    const content = '*\n!dist/**\ndist/**/*.map\n';
    expect(new CoreToolsFuncIgnore(content).accepts('dist/index.js.map')).toBe(true);
    expect(ignore().add(content).ignores('dist/index.js.map')).toBe(true);
    expect(new CoreToolsFuncIgnore(content).accepts('src/index.ts')).toBe(false);
  });
});
