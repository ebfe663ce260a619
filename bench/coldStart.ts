import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Cold start of the built app: a fresh `node` process that loads what the
 * worker loads at startup (every dist/functions/*.js, with
 * @azure/functions-core provided as the worker provides it), compared with
 * `node -e 0` measured the same way. Runs alternate so machine noise hits
 * both alike. The figures are the fastest run of each: interference from
 * other work on the machine only ever adds time, so the minimum estimates the
 * start-up's own cost (a median moved by +/- 300 ms within minutes on this
 * shared 2-core machine; the medians are reported besides).
 */
export interface ColdStart {
  coldStartMs: number;
  bareNodeMs: number;
  coldStartMedianMs: number;
  bareNodeMedianMs: number;
}

export function measureColdStart(root: string, runs = 15): ColdStart {
  const dist = path.join(root, 'dist');
  const entryPoints = readdirSync(path.join(dist, 'functions'))
    .filter((file) => file.endsWith('.js'))
    .map((file) => path.join(dist, 'functions', file));
  const hook = path.join(root, 'bench', 'functionsCoreHook.cjs');
  const load = entryPoints.map((file) => `require(${JSON.stringify(file)});`).join('');
  const app = [process.execPath, ['-r', hook, '-e', load]] as const;
  const bare = [process.execPath, ['-e', '0']] as const;

  const time = ([command, args]: readonly [string, readonly string[]]): number => {
    const started = process.hrtime.bigint();
    const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0) {
      throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString('utf8')}`);
    }
    return elapsed;
  };
  time(bare); // warm the file system cache for both
  time(app);
  const appTimes: number[] = [];
  const bareTimes: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    bareTimes.push(time(bare));
    appTimes.push(time(app));
  }
  return {
    coldStartMs: fastest(appTimes),
    bareNodeMs: fastest(bareTimes),
    coldStartMedianMs: median(appTimes),
    bareNodeMedianMs: median(bareTimes),
  };
}

function fastest(values: number[]): number {
  return Math.round(Math.min(...values) * 10) / 10;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 === 1 ? sorted[middle] : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return Math.round((value ?? 0) * 10) / 10;
}
