import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * `npx tsx bench/profileSummary.ts <dir or .cpuprofile> [top]`: self time of a
 * V8 CPU profile (BENCH_PROFILE_DIR) summed by package (node_modules/<name>),
 * by file of ours (src/, dist/, bench/), and by Node's internals, biggest
 * first; then the top functions of ours. For finding what to cut, not a figure.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code comes from: a package, a file of ours, Node itself, or V8 (GC, idle, program). */
function bucketOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'anonymous'})`;
  const file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = file.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? file);
  }
  if (file.startsWith('node:')) return 'node:' + (file.slice(5).split('/')[0] ?? '');
  const ours = /\/(dist|src|bench)\/(.*)$/.exec(file);
  if (ours) return `${ours[1]}/${ours[2]}`;
  return path.basename(file);
}

function summarize(profile: CpuProfile): {
  total: number;
  buckets: Map<string, number>;
  functions: Map<string, number>;
} {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const { url, functionName, lineNumber } = node.callFrame;
    total += micros;
    const bucket = bucketOf(url, functionName);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + micros);
    if (/^(dist|src|bench)\//.test(bucket)) {
      const key = `${bucket}:${lineNumber + 1} ${functionName || '(anonymous)'}`;
      functions.set(key, (functions.get(key) ?? 0) + micros);
    }
  });
  return { total, buckets, functions };
}

function print(title: string, entries: Map<string, number>, total: number, top: number): void {
  console.log(`\n${title}`);
  for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${(micros / 1000).toFixed(0).padStart(8)} ms ${((micros * 100) / total).toFixed(1).padStart(5)}%  ${name}`,
    );
  }
}

const [target = '.', topText = '25'] = process.argv.slice(2);
const files = target.endsWith('.cpuprofile')
  ? [target]
  : readdirSync(target)
      .filter((name) => name.endsWith('.cpuprofile'))
      .map((name) => path.join(target, name));
for (const file of files) {
  const { total, buckets, functions } = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  console.log(`\n== ${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  print('self time by package / file', buckets, total, Number(topText));
  print('self time, functions of ours', functions, total, Number(topText));
}
