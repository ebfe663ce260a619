import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  evaluateTargets,
  median,
  percentile,
  readWorld,
  TARGETS,
  verdictTable,
  writeWorld,
  type BenchWorld,
} from '../../bench/figures';

// The benchmark's own pure helpers (npm run bench): statistics, target verdicts, the world file.

describe('percentile', () => {
  it('takes the nearest rank of unsorted values', () => {
    const values = Array.from({ length: 100 }, (_, index) => 100 - index); // 100 … 1
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 1)).toBe(1);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(median([10, 40, 20, 30])).toBe(20);
  });

  it('is NaN for no values rather than a made-up number', () => {
    expect(percentile([], 95)).toBeNaN();
  });
});

const passing = {
  pipeline_events_per_s: 1300,
  straightforward_events_per_s: 1000,
  pipeline_events_per_s_1000_tenants: 900,
  straightforward_events_per_s_1000_tenants: 900,
  requests_per_1000_events: 10,
  straightforward_requests_per_1000_events: 20,
  requests_per_1000_events_1000_tenants: 50,
  straightforward_requests_per_1000_events_1000_tenants: 200,
  peak_rss_mb: 300,
  peak_rss_mb_10000_tenants: 449,
  cold_start_ms: 160,
  bare_node_ms: 100,
  isolation_p95_ratio: 1.2,
};

describe('evaluateTargets', () => {
  it('meets every target at its limit', () => {
    const verdicts = evaluateTargets(passing);
    expect(verdicts).toHaveLength(TARGETS.length);
    expect(verdicts.filter((verdict) => verdict.met !== true)).toEqual([]);
    expect(verdicts[0]).toMatchObject({ measured: 1.3, comparison: '>=', limit: 1.2 });
    expect(verdicts.find((verdict) => verdict.target.startsWith('cold start'))?.limit).toBe(160);
  });

  it('says which target is missed, with the measured ratio', () => {
    const verdicts = evaluateTargets({
      ...passing,
      pipeline_events_per_s: 1100,
      requests_per_1000_events: 11,
      cold_start_ms: 161,
    });
    const missed = verdicts.filter((verdict) => verdict.met === false);
    expect(missed.map((verdict) => [verdict.target, verdict.measured])).toEqual([
      ['pipeline / straightforward, 50 tenants', 1.1],
      ['our requests / straightforward requests, 50 tenants', 0.55],
      ['cold start (ms), at most bare node + 60', 161],
    ]);
  });

  it('reports a target whose figures are missing as not measured, not as met', () => {
    const { isolation_p95_ratio: _omitted, ...rest } = passing;
    const verdict = evaluateTargets(rest).find((candidate) => candidate.target.startsWith('isolation'));
    expect(verdict).toMatchObject({ measured: null, met: null });
    expect(verdictTable(evaluateTargets(rest))).toMatch(/isolation p95 ratio.*not measured/);
  });

  it('prints each target with its measured value, limit and result', () => {
    const table = verdictTable(evaluateTargets({ ...passing, peak_rss_mb: 301 })).split('\n');
    expect(table[0]).toMatch(/^target\s+measured\s+required\s+result$/);
    expect(table.find((line) => line.startsWith('peak RSS (MB), 50 tenants'))).toMatch(
      /301\s+<= 300\s+NOT met$/,
    );
  });
});

describe('world file', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const file = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-world-'));
    dirs.push(dir);
    return path.join(dir, 'world.json');
  };

  it('carries thousands of tenants from the services process to the measured one', () => {
    const world: BenchWorld = {
      settings: { AUDIT_QUEUE_NAME: 'bench-1' },
      azureStandInUrl: 'https://127.0.0.1:4443',
      tenants: Array.from({ length: 10_000 }, (_, index) => ({
        tenantId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
        workspaceId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w${index}`,
        endpoint: `https://127.0.0.1:4443/ingest/dcr-${index}`,
        dcrImmutableId: `dcr-${index}`,
        streams: { EZCA_CAs_CL: 'Custom-EZCA_CAs_CL' },
      })),
    };
    const target = file();
    writeWorld(target, world);
    expect(readWorld(target)).toEqual(world);
  });

  it('names the file and the field when the world is malformed', () => {
    const target = file();
    writeFileSync(
      target,
      JSON.stringify({ settings: {}, azureStandInUrl: 'https://127.0.0.1:1', tenants: [{}] }),
    );
    expect(() => readWorld(target)).toThrow(
      new RegExp(`${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*malformed[\\s\\S]*tenantId`),
    );
  });
});
