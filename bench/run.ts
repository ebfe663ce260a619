import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { build } from 'esbuild';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { nodeWorkerArguments, readTemplate } from '../test/support/armTemplate';
import { prepareTestTrust } from '../test/support/testCa';
import { measureColdStart } from './coldStart';
import { evaluateTargets, verdictTable } from './figures';

/**
 * `npm run bench` (after `npm run build`): per scenario (50, 1,000 and 10,000
 * tenants), starts the services (Azurite, the Service Bus and Azure
 * stand-ins) in one process, seeded with the scenario's tenants, and runs the
 * measured process (the built function app) in another, the world passed in
 * a file; then times cold starts. Prints one JSON line per figure on stdout,
 * `{"figure": NAME, "value": NUMBER}`, then one per target of issue 16
 * (`{"target", "measured", "comparison", "limit", "met"}`); progress and a
 * table of the targets go to stderr.
 */

const ROOT = path.resolve(__dirname, '..');
const TENANTS = Number(process.env.BENCH_TENANTS ?? 50);
const TENANTS_LARGE = Number(process.env.BENCH_TENANTS_LARGE ?? 1_000);
const TENANTS_RSS = Number(process.env.BENCH_TENANTS_RSS ?? 10_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
// Fewer at 1,000 tenants, where a batch carries one event per tenant (~1,000 uploads for either
// forwarder), so the whole run stays within minutes; but two rounds of `maxConcurrentCalls` (4)
// batches at once, as the host hands them over with a backlog (see pipeline.ts).
const EVENTS_LARGE = Number(process.env.BENCH_EVENTS_LARGE ?? 8_000);

/**
 * The measured process runs plain JavaScript, as the Functions worker does:
 * the harness (host stand-in and this script) is bundled with esbuild rather
 * than loaded through tsx, whose loader alone would add ~35 MB to the process.
 * The app itself is the tsc build in dist/, loaded as the worker loads it.
 */
async function bundlePipeline(dir: string): Promise<string> {
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
  const dir = mkdtempSync(path.join(tmpdir(), 'pki-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const worldFile = path.join(dir, 'world.json');
  const trust = await prepareTestTrust();
  const env = { ...process.env, ...trust.env, BENCH_WORLD_FILE: worldFile };
  const figures: Record<string, number> = {};
  const report = (line: string): void => {
    process.stdout.write(`${line}\n`);
    const parsed = JSON.parse(line) as { figure: string; value: number };
    figures[parsed.figure] = parsed.value;
  };

  const pipelineScript = await bundlePipeline(dir);
  // BENCH_PROFILE_DIR=<dir> writes a CPU profile of the measured process there, BENCH_SERVICES_PROF=<dir>
  // one of the services process (for tuning, not the figures).
  const profile = (setting: string | undefined): string[] =>
    setting ? ['--cpu-prof', `--cpu-prof-dir=${setting}`] : [];
  // The measured process gets the Node.js arguments the deployment template gives the worker on an
  // instance of its default size (the V8 heap limit): without them V8 sizes the heap from this
  // machine's memory, not the instance's. BENCH_NODE_ARGUMENTS overrides them (tuning; "" for none).
  const workerArguments =
    process.env.BENCH_NODE_ARGUMENTS !== undefined
      ? process.env.BENCH_NODE_ARGUMENTS.split(' ').filter(Boolean)
      : nodeWorkerArguments(readTemplate(path.join(ROOT, 'infra', 'azuredeploy.json')));
  process.stderr.write(
    `bench: the measured process runs with ${workerArguments.join(' ') || 'no node arguments'}\n`,
  );
  // Worlds, each with its runs of the measured process: [scenario, tenants, figure suffix, events, extra].
  const worlds: Array<[tenants: number, runs: Array<[string, number, string, number, string?]>]> = [
    [
      TENANTS,
      [
        ['compare', TENANTS, '', EVENTS, 'full'],
        ['rss', TENANTS, '', EVENTS],
      ],
    ],
    [TENANTS_LARGE, [['compare', TENANTS_LARGE, `_${TENANTS_LARGE}_tenants`, EVENTS_LARGE]]],
    // One event per tenant: every tenant touched once.
    [TENANTS_RSS, [['rss', TENANTS_RSS, `_${TENANTS_RSS}_tenants`, TENANTS_RSS]]],
  ];
  // BENCH_SCENARIOS=1,2 runs only those worlds (1: 50 tenants, 2: 1,000, 3: 10,000), for tuning.
  const only = process.env.BENCH_SCENARIOS?.split(',').map(Number);
  for (const [index, [tenants, runs]] of worlds.entries()) {
    if (only && !only.includes(index + 1)) continue;
    // A world per scenario, holding exactly its tenants: the stand-in's work per request grows with them.
    const services = spawn(
      process.execPath,
      [
        ...profile(process.env.BENCH_SERVICES_PROF),
        '--import',
        'tsx',
        path.join(ROOT, 'bench', 'services.ts'),
      ],
      {
        cwd: ROOT,
        env: { ...env, BENCH_WORLD_TENANTS: String(tenants) },
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    try {
      const ready = await firstLine(services);
      if (ready !== 'ready') throw new Error(`the services process said ${ready}`);
      for (const [scenario, count, suffix, events, extra] of runs) {
        // A process per run: peak RSS and caches start from nothing each time.
        const pipeline = spawn(
          process.execPath,
          [
            ...profile(process.env.BENCH_PROFILE_DIR),
            ...workerArguments,
            pipelineScript,
            scenario,
            String(count),
            suffix,
            ...(extra ? [extra] : []),
          ],
          {
            cwd: ROOT,
            env: {
              ...env,
              BENCH_ROOT: ROOT,
              BENCH_RUN_EVENTS: String(events),
              NODE_PATH: path.join(ROOT, 'node_modules'),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        createInterface({ input: pipeline.stdout }).on('line', report);
        const code = await exited(pipeline);
        if (code !== 0)
          throw new Error(`the ${scenario} benchmark at ${count} tenants failed (exit code ${code})`);
      }
    } finally {
      services.stdin?.end();
      await exited(services);
    }
  }
  process.stderr.write('bench: cold start of the built app and of bare node\n');
  const coldStart = measureColdStart(ROOT);
  report(JSON.stringify({ figure: 'cold_start_ms', value: coldStart.coldStartMs }));
  report(JSON.stringify({ figure: 'bare_node_ms', value: coldStart.bareNodeMs }));
  report(JSON.stringify({ figure: 'cold_start_median_ms', value: coldStart.coldStartMedianMs }));
  report(JSON.stringify({ figure: 'bare_node_median_ms', value: coldStart.bareNodeMedianMs }));

  const verdicts = evaluateTargets(figures);
  for (const verdict of verdicts) process.stdout.write(`${JSON.stringify(verdict)}\n`);
  process.stderr.write(`\n${verdictTable(verdicts)}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
