import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { build } from 'esbuild';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { prepareTestTrust } from '../test/support/testCa';
import { measureColdStart } from './coldStart';

/**
 * `npm run bench` (after `npm run build`): starts the services (Azurite, the
 * Service Bus and Azure stand-ins) in one process, runs the measured function
 * app in another, then times cold starts. Prints one JSON line per figure on
 * stdout, `{"figure": NAME, "value": NUMBER}`; progress goes to stderr.
 */

const ROOT = path.resolve(__dirname, '..');

function servicesProcess(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'services.ts')], {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/**
 * The measured process runs plain JavaScript, as the Functions worker does:
 * the harness (host stand-in and this script) is bundled with esbuild rather
 * than loaded through tsx, whose loader alone would add ~35 MB to the process.
 * The app itself is the tsc build in dist/, loaded as the worker loads it.
 */
async function bundlePipeline(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pki-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const outfile = path.join(dir, 'pipeline.js');
  await build({
    entryPoints: [path.join(ROOT, 'bench', 'pipeline.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) throw new Error('no stdout');
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      lines.close();
      resolve(line);
    });
    child.once('exit', (code) =>
      reject(new Error(`the services process exited with ${code} before it was ready`)),
    );
  });
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<void> {
  const trust = await prepareTestTrust();
  const env = { ...process.env, ...trust.env };
  const services = servicesProcess(env);
  try {
    const world = await firstLine(services);
    // BENCH_PROFILE_DIR=<dir> writes a CPU profile of the measured process there (for tuning, not the figures).
    const profile = process.env.BENCH_PROFILE_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : [];
    const pipeline = spawn(process.execPath, [...profile, await bundlePipeline()], {
      cwd: ROOT,
      env: { ...env, BENCH_WORLD: world, BENCH_ROOT: ROOT, NODE_PATH: path.join(ROOT, 'node_modules') },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const code = await exited(pipeline);
    if (code !== 0) throw new Error(`the pipeline benchmark failed (exit code ${code})`);
  } finally {
    services.stdin?.end();
    await exited(services);
  }
  process.stderr.write('bench: cold start of the built app and of bare node\n');
  const { coldStartMs, bareNodeMs } = measureColdStart(ROOT);
  process.stdout.write(`${JSON.stringify({ figure: 'cold_start_ms', value: coldStartMs })}\n`);
  process.stdout.write(`${JSON.stringify({ figure: 'bare_node_ms', value: bareNodeMs })}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
