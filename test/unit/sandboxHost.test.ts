import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { functionEntryPoints } from '../../sandbox/entryPoints';
import { parseTimeSpan, readHostJson, serviceBusHostOptions } from '../../sandbox/hostJson';
import { parseSchedule } from '../../sandbox/timerScheduler';
import { SEED_ALERTS, evaluateSeedQuery, parseSeedQuery } from '../support/seedAlerts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

describe('host.json as the Service Bus extension reads it', () => {
  it('parses .NET TimeSpans', () => {
    expect(parseTimeSpan('00:00:05', 'x')).toBe(5000);
    expect(parseTimeSpan('00:00:00.80', 'x')).toBe(800);
    expect(parseTimeSpan('1.02:03:04.5', 'x')).toBe(((24 + 2) * 3600 + 3 * 60 + 4) * 1000 + 500);
    expect(parseTimeSpan('-00:00:01', 'x')).toBe(-1000);
    expect(() => parseTimeSpan('5s', 'extensions.serviceBus.maxBatchWaitTime')).toThrow(
      /maxBatchWaitTime: "5s" is not a TimeSpan/,
    );
  });

  it("takes the app's host.json settings", () => {
    const options = serviceBusHostOptions(readHostJson(repoRoot));
    const file = JSON.parse(readFileSync(path.join(repoRoot, 'host.json'), 'utf8')) as {
      extensions: { serviceBus: Record<string, unknown> };
    };
    const sb = file.extensions.serviceBus;
    expect(options.maxMessageBatchSize).toBe(sb.maxMessageBatchSize);
    expect(options.minMessageBatchSize).toBe(sb.minMessageBatchSize);
    expect(options.maxConcurrentCalls).toBe(sb.maxConcurrentCalls);
    expect(options.autoCompleteMessages).toBe(sb.autoCompleteMessages);
    expect(options.maxBatchWaitTimeMs).toBe(parseTimeSpan(sb.maxBatchWaitTime as string, 'x'));
  });

  it("fills what the file leaves out with the extension's defaults", () => {
    const options = serviceBusHostOptions({ version: '2.0' });
    expect(options).toMatchObject({
      prefetchCount: 0,
      autoCompleteMessages: true,
      maxMessageBatchSize: 1000,
      minMessageBatchSize: 1,
      maxBatchWaitTimeMs: 30_000,
      clientRetryOptions: {
        mode: 'exponential',
        tryTimeoutMs: 60_000,
        delayMs: 800,
        maxDelayMs: 60_000,
        maxRetries: 3,
      },
    });
    expect(options.maxConcurrentCalls % 16).toBe(0);
  });

  it('refuses settings the host would refuse, naming them', () => {
    expect(() => serviceBusHostOptions({ extensions: { serviceBus: { maxMessageBatchSize: 0 } } })).toThrow(
      /maxMessageBatchSize must be a positive integer/,
    );
    expect(() =>
      serviceBusHostOptions({
        extensions: { serviceBus: { minMessageBatchSize: 10, maxMessageBatchSize: 5 } },
      }),
    ).toThrow(/minMessageBatchSize must not exceed maxMessageBatchSize/);
  });
});

describe('timer schedules', () => {
  const at = new Date('2024-05-01T10:00:07Z');

  it('follows six-field NCRONTAB expressions in UTC', () => {
    expect(parseSchedule('0 */5 * * * *', 'f')(at).toISOString()).toBe('2024-05-01T10:05:00.000Z');
    expect(parseSchedule('30 0 2 * * *', 'f')(at).toISOString()).toBe('2024-05-02T02:00:30.000Z');
  });

  it('accepts a TimeSpan interval and %SETTING% references', () => {
    expect(parseSchedule('00:01:30', 'f')(at).toISOString()).toBe('2024-05-01T10:01:37.000Z');
    process.env.SANDBOX_TEST_SCHEDULE = '0 0 * * * *';
    try {
      expect(parseSchedule('%SANDBOX_TEST_SCHEDULE%', 'f')(at).toISOString()).toBe(
        '2024-05-01T11:00:00.000Z',
      );
    } finally {
      delete process.env.SANDBOX_TEST_SCHEDULE;
    }
  });

  it('refuses the five-field crontab the host refuses', () => {
    expect(() => parseSchedule('*/5 * * * *', 'retest')).toThrow(/"retest".*six fields/);
  });
});

describe('entry points', () => {
  it("are the sources of exactly what package.json's main glob loads", () => {
    const entryPoints = functionEntryPoints(repoRoot);
    expect(entryPoints).toContain('src/functions/forwardAuditEvents.ts');
    for (const entryPoint of entryPoints) {
      expect(entryPoint).toMatch(/^src\/functions\/[^/]+\.ts$/);
    }
  });
});

describe("the how-to's alert queries", () => {
  const rows = {
    EZCA_CAs_CL: [{ EventID_d: 4882 }, { EventID_d: 19 }, { EventID_d: 12 }, { EventID_d: '92' }],
    EZCA_Certificates_CL: [{ EventID_d: 4888 }, { EventID_d: 4887 }, { EventId_d: 4888 }],
  };

  it('are the four queries of the how-to, each reading one table and one event ID', () => {
    expect(SEED_ALERTS.map((alert) => parseSeedQuery(alert.query))).toEqual([
      { table: 'EZCA_Certificates_CL', column: 'EventID_d', value: 4888 },
      { table: 'EZCA_CAs_CL', column: 'EventID_d', value: 4882 },
      { table: 'EZCA_CAs_CL', column: 'EventID_d', value: 92 },
      { table: 'EZCA_CAs_CL', column: 'EventID_d', value: 19 },
    ]);
  });

  it('return the rows of their table whose column equals the number, as KQL would', () => {
    const hits = SEED_ALERTS.map((alert) => evaluateSeedQuery(alert.query, rows).length);
    // 92 stored as a string and a misspelt column name match nothing.
    expect(hits).toEqual([1, 1, 0, 1]);
    expect(
      evaluateSeedQuery('EZCA_CAs_CL | where EventID_d == 12', { EZCA_Certificates_CL: [{ EventID_d: 12 }] }),
    ).toEqual([]);
  });

  it('are word for word those of the how-to (shared/ beside the repository, as CI clones it)', () => {
    const candidates = ['../shared', '../../shared'].map((dir) =>
      path.resolve(repoRoot, dir, 'seed-ezca-siem-export-howto.txt'),
    );
    const seedPath = candidates.find((candidate) => existsSync(candidate));
    if (!seedPath) throw new Error(`The customer how-to was not found (looked at ${candidates.join(', ')}).`);
    const seed = readFileSync(seedPath, 'utf8').replace(/\r\n/g, '\n');
    for (const alert of SEED_ALERTS) {
      expect(seed).toContain(`${alert.title}\n`);
      expect(seed).toContain(`${alert.query}\n`);
      expect(seed.indexOf(alert.query, seed.indexOf(alert.title))).toBeGreaterThan(seed.indexOf(alert.title));
    }
  });

  it('refuse a query of another shape rather than guess', () => {
    expect(() => parseSeedQuery('EZCA_CAs_CL | where EventID_d in (19, 92)')).toThrow(/Not a/);
  });
});
