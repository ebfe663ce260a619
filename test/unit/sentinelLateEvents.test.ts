import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';
import {
  ANALYTIC_RULES_DIR,
  lateEventWindowProblems,
  letValue,
  loadSentinelContent,
  MAX_TIME_GENERATED_LAG_MINUTES,
  sentinelDurationMinutes,
  type AnalyticRule,
} from '../../scripts/sentinelContent';
import { parse as parseYaml } from 'yaml';

/**
 * Replays arrivals of high-criticality events through a small evaluator of
 * each rule's window semantics, read from the rule itself: the schedule
 * (queryFrequency, queryPeriod, which Sentinel applies to TimeGenerated), the
 * query's look-back, whether it keeps the earliest ingested copy of each
 * EventRecordId_g, and its ingestion_time() filter. Times are in minutes.
 *
 * Evidence for the two platform behaviours modelled:
 * - Log Analytics replaces a TimeGenerated more than 2 days older than the
 *   arrival with the ingestion time (TimeGenerated in src/domain/tableSchema.ts).
 * - NRT rules only see rows ingested less than 12 hours after their
 *   TimeGenerated ("Considerations" of Microsoft's near-real-time rules page).
 */

const HOUR = 60;
const DAY = 24 * HOUR;
const NRT_MAX_DELAY_MINUTES = 12 * HOUR;

interface Arrival {
  readonly recordId: string;
  /** The event's own time (EventTime_t). */
  readonly eventTime: number;
  readonly ingestedAt: number;
}

function timeGenerated(arrival: Arrival): number {
  return arrival.ingestedAt - arrival.eventTime > MAX_TIME_GENERATED_LAG_MINUTES
    ? arrival.ingestedAt
    : arrival.eventTime;
}

interface Window {
  readonly kind: string;
  readonly frequency: number;
  readonly period: number;
  readonly lookback: number | undefined;
  readonly runFrequency: number | undefined;
  readonly keepsFirstCopy: boolean;
  readonly filtersOnIngestion: boolean;
}

function windowOf(rule: AnalyticRule): Window {
  const normalized = rule.query.replace(/\s+/g, ' ');
  const lookback = letValue(rule.query, 'lookback');
  const runFrequency = letValue(rule.query, 'runFrequency');
  return {
    kind: rule.kind,
    frequency: rule.kind === 'Scheduled' ? sentinelDurationMinutes(rule.queryFrequency) : 1,
    period: rule.kind === 'Scheduled' ? sentinelDurationMinutes(rule.queryPeriod) : Infinity,
    lookback:
      lookback !== undefined && normalized.includes('| where TimeGenerated > ago(lookback)')
        ? sentinelDurationMinutes(lookback)
        : undefined,
    runFrequency: runFrequency === undefined ? undefined : sentinelDurationMinutes(runFrequency),
    keepsFirstCopy: normalized.includes('| summarize arg_min(IngestedAt, *) by EventRecordId_g'),
    filtersOnIngestion: normalized.includes('| where IngestedAt > ago(runFrequency)'),
  };
}

/** The record ids each run reports, run after run, from time 0 to `until`. */
function replay(window: Window, arrivals: readonly Arrival[], until: number): string[] {
  const reported: string[] = [];
  for (let run = window.frequency; run <= until; run += window.frequency) {
    if (window.kind === 'NRT') {
      // Each run sees the rows ingested since the previous one, if they are not too late.
      reported.push(
        ...arrivals
          .filter((arrival) => arrival.ingestedAt > run - 1 && arrival.ingestedAt <= run)
          .filter((arrival) => arrival.ingestedAt - timeGenerated(arrival) < NRT_MAX_DELAY_MINUTES)
          .map((arrival) => arrival.recordId),
      );
      continue;
    }
    const visible = arrivals.filter(
      (arrival) =>
        arrival.ingestedAt <= run &&
        timeGenerated(arrival) > run - window.period &&
        (window.lookback === undefined || timeGenerated(arrival) > run - window.lookback),
    );
    const rows = window.keepsFirstCopy
      ? [...new Set(visible.map((arrival) => arrival.recordId))].map((recordId) => ({
          recordId,
          ingestedAt: Math.min(
            ...visible
              .filter((arrival) => arrival.recordId === recordId)
              .map((arrival) => arrival.ingestedAt),
          ),
        }))
      : visible;
    reported.push(
      ...rows
        .filter(
          (row) =>
            !window.filtersOnIngestion ||
            (window.runFrequency !== undefined && row.ingestedAt > run - window.runFrequency),
        )
        .map((row) => row.recordId),
    );
  }
  return reported;
}

const start = 2 * DAY + 17;
/** On time, 13 hours late, 47 hours late, 3 days late, and two redelivered events. */
const ARRIVALS: readonly Arrival[] = [
  { recordId: 'on-time', eventTime: start, ingestedAt: start + 3 },
  { recordId: 'late-13h', eventTime: start + 10, ingestedAt: start + 10 + 13 * HOUR },
  { recordId: 'late-47h', eventTime: start + 20, ingestedAt: start + 20 + 47 * HOUR },
  { recordId: 'late-3d', eventTime: start + 30, ingestedAt: start + 30 + 3 * DAY },
  { recordId: 'duplicated', eventTime: start + 40, ingestedAt: start + 41 },
  { recordId: 'duplicated', eventTime: start + 40, ingestedAt: start + 41 + 5 * HOUR },
  { recordId: 'late-and-duplicated', eventTime: start + 50, ingestedAt: start + 50 + 3 * DAY },
  { recordId: 'late-and-duplicated', eventTime: start + 50, ingestedAt: start + 50 + 4 * DAY + 7 },
];
const RECORD_IDS = [...new Set(ARRIVALS.map((arrival) => arrival.recordId))].sort();
const UNTIL = start + 10 * DAY;

function alertCounts(reported: readonly string[]): Record<string, number> {
  return Object.fromEntries(
    RECORD_IDS.map((recordId) => [recordId, reported.filter((id) => id === recordId).length]),
  );
}
const EXACTLY_ONCE = Object.fromEntries(RECORD_IDS.map((recordId) => [recordId, 1]));

const content = loadSentinelContent();
const highRules = content.analyticRules.filter(({ content: rule }) => rule.severity === 'High');

describe('every high-event rule alerts on each event exactly once, however late it arrives', () => {
  it('covers the five high-criticality rules', () => {
    expect(highRules).toHaveLength(5);
  });

  it.each(highRules.map(({ file, content: rule }) => [file, rule] as const))('%s', (_file, rule) => {
    expect(alertCounts(replay(windowOf(rule), ARRIVALS, UNTIL))).toEqual(EXACTLY_ONCE);
    expect(lateEventWindowProblems(rule)).toEqual([]);
  });
});

describe('the evaluator and the validation catch a broken late-event window', () => {
  const file = join(ANALYTIC_RULES_DIR, 'EZCA_CaDeleted.yaml');
  const text = readFileSync(file, 'utf8');
  const rule = parseYaml(text) as AnalyticRule;

  function variant(change: (document: ReturnType<typeof parseDocument>) => void): AnalyticRule {
    const document = parseDocument(text);
    change(document);
    return parseYaml(stringify(document.toJS())) as AnalyticRule;
  }
  const withQuery = (from: string, to: string): AnalyticRule =>
    variant((document) => document.setIn(['query'], rule.query.replace(from, to)));

  it('the committed rule passes both', () => {
    expect(alertCounts(replay(windowOf(rule), ARRIVALS, UNTIL))).toEqual(EXACTLY_ONCE);
  });

  it('an NRT rule misses events ingested 13 hours late or more', () => {
    const nrt = variant((document) => {
      document.setIn(['kind'], 'NRT');
      for (const key of ['queryFrequency', 'queryPeriod', 'triggerOperator', 'triggerThreshold']) {
        document.deleteIn([key]);
      }
    });
    const counts = alertCounts(replay(windowOf(nrt), ARRIVALS, UNTIL));
    expect(counts['late-13h']).toBe(0);
    expect(counts['late-47h']).toBe(0);
    expect(counts.duplicated).toBe(2);
    expect(lateEventWindowProblems(nrt).join('\n')).toMatch(/must be Scheduled/);
  });

  it('a period shorter than 2 days plus the frequency misses an event 47 hours late', () => {
    const short = variant((document) => {
      document.setIn(['queryPeriod'], '1d');
      document.setIn(['query'], rule.query.replace('let lookback = 14d;', 'let lookback = 1d;'));
    });
    expect(alertCounts(replay(windowOf(short), ARRIVALS, UNTIL))['late-47h']).toBe(0);
    expect(lateEventWindowProblems(short).join('\n')).toMatch(/at least 2 days plus queryFrequency/);
  });

  it('an ingestion filter narrower than the schedule misses events', () => {
    const narrow = withQuery('let runFrequency = 1h;', 'let runFrequency = 30m;');
    const counts = alertCounts(replay(windowOf(narrow), ARRIVALS, UNTIL));
    expect(Object.values(counts).some((count) => count === 0)).toBe(true);
    expect(lateEventWindowProblems(narrow).join('\n')).toMatch(/must match queryFrequency/);
  });

  it('without the first-copy dedupe a redelivered event alerts twice', () => {
    const noDedupe = withQuery('| summarize arg_min(IngestedAt, *) by EventRecordId_g\n', '');
    expect(alertCounts(replay(windowOf(noDedupe), ARRIVALS, UNTIL)).duplicated).toBe(2);
    expect(lateEventWindowProblems(noDedupe).join('\n')).toMatch(/keeps the first ingested copy/);
  });

  it('without the ingestion-time filter every run alerts again', () => {
    const noFilter = withQuery('| where IngestedAt > ago(runFrequency)\n', '');
    expect(alertCounts(replay(windowOf(noFilter), ARRIVALS, UNTIL))['on-time']).toBeGreaterThan(1);
    expect(lateEventWindowProblems(noFilter).join('\n')).toMatch(/reports an event in the run after/);
  });
});
