import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * The benchmark's pure parts: statistics, the targets of issue 16 and how a
 * set of figures meets them, and the world file the services process hands
 * to the measured processes (a file: a world of thousands of tenants does not
 * fit in an environment variable, `spawn E2BIG`).
 */

/** The value at the given percentile (nearest rank), of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

export type Figures = Readonly<Record<string, number>>;

export interface Target {
  /** What is compared, in words. */
  name: string;
  /** The measured side, computed from the figures. */
  measured: (figures: Figures) => number;
  comparison: '>=' | '<=';
  /** The limit, computed from the figures (a ratio's limit is constant; cold start's depends on bare node). */
  limit: (figures: Figures) => number;
  /** The figures it needs; a target whose figures are missing is reported as not measured. */
  needs: readonly string[];
}

const ratio = (a: string, b: string) => (figures: Figures) => (figures[a] ?? NaN) / (figures[b] ?? NaN);
const value = (name: string) => (figures: Figures) => figures[name] ?? NaN;
const constant = (limit: number) => () => limit;

/** Issue 16, item 8. */
export const TARGETS: readonly Target[] = [
  {
    name: 'pipeline / straightforward, 50 tenants',
    measured: ratio('pipeline_events_per_s', 'straightforward_events_per_s'),
    comparison: '>=',
    limit: constant(1.2),
    needs: ['pipeline_events_per_s', 'straightforward_events_per_s'],
  },
  {
    name: 'pipeline / straightforward, 1,000 tenants',
    measured: ratio('pipeline_events_per_s_1000_tenants', 'straightforward_events_per_s_1000_tenants'),
    comparison: '>=',
    limit: constant(1.0),
    needs: ['pipeline_events_per_s_1000_tenants', 'straightforward_events_per_s_1000_tenants'],
  },
  {
    name: 'our requests / straightforward requests, 50 tenants',
    measured: ratio('requests_per_1000_events', 'straightforward_requests_per_1000_events'),
    comparison: '<=',
    limit: constant(0.5),
    needs: ['requests_per_1000_events', 'straightforward_requests_per_1000_events'],
  },
  {
    name: 'our requests / straightforward requests, 1,000 tenants',
    measured: ratio(
      'requests_per_1000_events_1000_tenants',
      'straightforward_requests_per_1000_events_1000_tenants',
    ),
    comparison: '<=',
    limit: constant(0.5),
    needs: ['requests_per_1000_events_1000_tenants', 'straightforward_requests_per_1000_events_1000_tenants'],
  },
  {
    name: 'peak RSS (MB), 50 tenants',
    measured: value('peak_rss_mb'),
    comparison: '<=',
    limit: constant(300),
    needs: ['peak_rss_mb'],
  },
  {
    name: 'peak RSS (MB), 10,000 tenants',
    measured: value('peak_rss_mb_10000_tenants'),
    comparison: '<=',
    limit: constant(450),
    needs: ['peak_rss_mb_10000_tenants'],
  },
  {
    name: 'cold start (ms), at most bare node + 60',
    measured: value('cold_start_ms'),
    comparison: '<=',
    limit: (figures) => (figures.bare_node_ms ?? NaN) + 60,
    needs: ['cold_start_ms', 'bare_node_ms'],
  },
  {
    name: 'isolation p95 ratio (one tenant 503 / no faults)',
    measured: value('isolation_p95_ratio'),
    comparison: '<=',
    limit: constant(1.2),
    needs: ['isolation_p95_ratio'],
  },
];

export interface Verdict {
  target: string;
  measured: number | null;
  comparison: Target['comparison'];
  limit: number | null;
  /** null: a figure it needs was not measured. */
  met: boolean | null;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

export function evaluateTargets(figures: Figures, targets: readonly Target[] = TARGETS): Verdict[] {
  return targets.map((target) => {
    const missing = target.needs.some((name) => !Number.isFinite(figures[name]));
    if (missing) {
      return { target: target.name, measured: null, comparison: target.comparison, limit: null, met: null };
    }
    const measured = target.measured(figures);
    const limit = target.limit(figures);
    const met =
      Number.isFinite(measured) && (target.comparison === '>=' ? measured >= limit : measured <= limit);
    return {
      target: target.name,
      measured: round2(measured),
      comparison: target.comparison,
      limit: round2(limit),
      met,
    };
  });
}

/** A plain-text table of the verdicts, for a person reading the run. */
export function verdictTable(verdicts: readonly Verdict[]): string {
  const rows = verdicts.map((verdict) => [
    verdict.target,
    verdict.measured === null ? '-' : String(verdict.measured),
    verdict.limit === null ? '-' : `${verdict.comparison} ${verdict.limit}`,
    verdict.met === null ? 'not measured' : verdict.met ? 'met' : 'NOT met',
  ]);
  const header = ['target', 'measured', 'required', 'result'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

const worldTenant = z.object({
  tenantId: z.string().min(1),
  workspaceId: z.string().min(1),
  endpoint: z.string().url(),
  dcrImmutableId: z.string().min(1),
  streams: z.record(z.string(), z.string()),
});

const worldSchema = z.object({
  settings: z.record(z.string(), z.string()),
  azureStandInUrl: z.string().url(),
  tenants: z.array(worldTenant).min(1),
});

/** What the measured processes need to know of the services process's world. */
export type BenchWorld = z.infer<typeof worldSchema>;
export type BenchTenant = BenchWorld['tenants'][number];

export function writeWorld(file: string, world: BenchWorld): void {
  writeFileSync(file, JSON.stringify(world), { mode: 0o600 });
}

export function readWorld(file: string): BenchWorld {
  const parsed = worldSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new Error(`the benchmark world file ${file} is malformed: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
