import { describe, expect, it } from 'vitest';
import { letValue, loadSentinelContent, sentinelDurationMinutes } from '../../scripts/sentinelContent';
import type { HealthRowContent } from '../../src/domain/exportHealth/healthRow';
import { changeRow, emptyDeliveries, windowRows } from '../../src/domain/exportHealth/windowRows';
import { CA_TABLE, CERTIFICATE_TABLE, type TableName } from '../../src/domain/tableSchema';
import { createKqlChecker } from '../support/kql';
import {
  normalizedQuery as normalized,
  ROWS_MISSING_STEPS,
  rowsMissingRule,
} from '../support/rowsMissingRule';

/**
 * The completeness rules, run over sample rows. There is no KQL engine on this
 * machine, so each rule's logic is re-implemented below step by step; each
 * test first pins the query text those steps mirror (a change to the query
 * breaks the pin) and takes the thresholds from the query's own `let`s. The
 * health rows come from the exporter's own row builder (windowRows.ts), so
 * the split of a window's ids over several parts is the real one.
 */

const content = loadSentinelContent();
function rule(namePattern: RegExp): { query: string } {
  const found = content.analyticRules.find(({ content: item }) => namePattern.test(item.name))?.content;
  if (found === undefined) throw new Error(`no rule named like ${namePattern}`);
  return found;
}
const rowsMissing = rule(/rows missing/);
const heartbeatMissing = rule(/heartbeat missing/);
const reconfigured = rule(/reconfigured/);

const minutes = (query: string, name: string): number =>
  sentinelDurationMinutes(letValue(query, name) ?? 'missing');

const MINUTE = 60_000;
const TENANT = '7d1e2f3a-0000-4000-8000-00000000000a';
const OTHER_TENANT = '7d1e2f3a-0000-4000-8000-00000000000b';
const T0 = Date.parse('2026-12-01T10:00:00.000Z');

/** A health row as the workspace holds it: what was signed, plus when Log Analytics ingested it. */
interface HealthRecord extends HealthRowContent {
  Sequence_d: number;
  ingestedAt: number;
}
interface EventRecord {
  table: TableName;
  EventRecordId_g: string;
  ingestedAt: number;
}

function event(table: TableName, recordId: string): EventRecord {
  return { table, EventRecordId_g: recordId, ingestedAt: T0 };
}

function id(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** Chains contents for one tenant: Sequence_d 1, 2, 3… each ingested at the given time. */
function chained(contents: HealthRowContent[], ingestedAt: number, firstSequence = 1): HealthRecord[] {
  return contents.map((row, index) => ({ ...row, Sequence_d: firstSequence + index, ingestedAt }));
}

/** `summarize arg_min(IngestedAt, *) by CustomerTenantId_g, Sequence_d`. */
function firstCopies(rows: readonly HealthRecord[]): HealthRecord[] {
  const first = new Map<string, HealthRecord>();
  for (const row of rows) {
    const key = `${row.CustomerTenantId_g}|${row.Sequence_d}`;
    const seen = first.get(key);
    if (seen === undefined || row.ingestedAt < seen.ingestedAt) first.set(key, row);
  }
  return [...first.values()];
}

describe('rows missing', () => {
  const rule = rowsMissingRule(rowsMissing.query);
  const runFrequency = rule.runFrequencyMs;
  const slack = rule.slackMs;
  const run = rule.run;

  it('is valid KQL over the real column types, and its query holds the steps the re-implementation mirrors', () => {
    const analysis = createKqlChecker().analyze(rowsMissing.query);
    expect(analysis.errors).toEqual([]);
    expect(analysis.resultColumns).toContainEqual({ name: 'MissingRecordIds', type: 'string' });
    const query = normalized(rowsMissing.query);
    for (const step of ROWS_MISSING_STEPS) {
      expect(query, step).toContain(step);
    }
    expect(slack).toBe(30 * MINUTE);
  });

  // A window whose certificate ids are split over three parts (a small budget forces the split).
  const certificateIds = Array.from({ length: 9 }, (_, index) => id(index + 1));
  const caIds = [id(100), id(101)];
  const deliveries = emptyDeliveries();
  deliveries.delivered[CERTIFICATE_TABLE] = new Set(certificateIds);
  deliveries.delivered[CA_TABLE] = new Set(caIds);
  const contents = windowRows(
    TENANT,
    { start: new Date(T0), end: new Date(T0 + 15 * MINUTE) },
    deliveries,
    { state: 'connected' },
    3 * 37,
  );
  const sealedAt = T0 + 17 * MINUTE;
  const health = chained(contents, sealedAt);
  const missingId = certificateIds[4] ?? '';
  const events: EventRecord[] = [
    ...certificateIds
      .filter((recordId) => recordId !== missingId)
      .map((recordId) => event(CERTIFICATE_TABLE, recordId.toUpperCase())),
    ...caIds.map((recordId) => event(CA_TABLE, recordId)),
  ];

  it('finds an id a middle part lists that the table lacks, and none of the present ones', () => {
    const certificateParts = health.filter((row) => row.Table_s === CERTIFICATE_TABLE);
    expect(certificateParts.map((row) => [row.Part_d, row.PartCount_d])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(certificateParts[1]?.RecordIds_s?.split(',')).toContain(missingId);

    const found = run(sealedAt + slack + 10 * MINUTE, health, events);
    expect(found).toEqual([
      { sequence: certificateParts[1]?.Sequence_d, table: CERTIFICATE_TABLE, missing: [missingId] },
    ]);
  });

  it('finds nothing when every listed row is present', () => {
    const complete = [...events, event(CERTIFICATE_TABLE, missingId)];
    expect(run(sealedAt + slack + 10 * MINUTE, health, complete)).toEqual([]);
  });

  it('looks an id up in the table the health row names: a row in the other table does not count', () => {
    const misplaced = [...events, event(CA_TABLE, missingId)];
    expect(run(sealedAt + slack + 10 * MINUTE, health, misplaced).flatMap((hit) => hit.missing)).toEqual([
      missingId,
    ]);
  });

  it('alerts each missing id once over consecutive hourly runs, also when the health row was uploaded twice', () => {
    const uploadedTwice = [...health, ...chained(contents, sealedAt + 40 * MINUTE)];
    const runs = Array.from({ length: 48 }, (_, index) => sealedAt + index * runFrequency + 7 * MINUTE);
    const alerts = runs.flatMap((now) => run(now, uploadedTwice, events).flatMap((hit) => hit.missing));
    expect(alerts).toEqual([missingId]);
  });

  it('waits for the ingestion slack before it checks a window', () => {
    // Within the slack the event rows of the window may not be queryable yet: no verdict.
    expect(run(sealedAt + slack - MINUTE, health, events)).toEqual([]);
    expect(run(sealedAt + slack + MINUTE, health, events)).toHaveLength(1);
  });
});

describe('export heartbeat missing', () => {
  const threshold = minutes(heartbeatMissing.query, 'heartbeatThreshold') * MINUTE;

  /** One run: tenants whose newest health row (by ingestion) is older than the threshold. */
  function run(now: number, health: readonly HealthRecord[]): string[] {
    const tenants = new Map<string, { lastIngested: number; last: HealthRecord }>();
    for (const row of health) {
      const seen = tenants.get(row.CustomerTenantId_g);
      tenants.set(row.CustomerTenantId_g, {
        lastIngested: Math.max(seen?.lastIngested ?? 0, row.ingestedAt),
        last: seen === undefined || row.Sequence_d > seen.last.Sequence_d ? row : seen.last,
      });
    }
    return [...tenants.entries()]
      .filter(([, tenant]) => tenant.last.Change_s !== 'exportDisabled')
      .filter(([, tenant]) => tenant.lastIngested < now - threshold)
      .map(([tenant]) => tenant);
  }

  it('holds the steps the re-implementation mirrors, with a one-hour threshold', () => {
    const query = normalized(heartbeatMissing.query);
    for (const step of [
      '| summarize arg_max(Sequence_d, RowKind_s, Change_s, ConnectionState_s, ConnectionReason_s), LastHealthRowAt = max(IngestedAt)',
      'by CustomerTenantId_g',
      '| where Change_s != "exportDisabled"',
      '| where LastHealthRowAt < ago(heartbeatThreshold)',
    ]) {
      expect(query, step).toContain(step);
    }
    expect(threshold).toBe(60 * MINUTE);
  });

  const quietWindow = (tenant: string, start: number): HealthRowContent[] =>
    windowRows(tenant, { start: new Date(start), end: new Date(start + 15 * MINUTE) }, emptyDeliveries(), {
      state: 'connected',
    });

  it('stays quiet for a quiet PKI (empty window rows keep coming) and fires while a heartbeat is missing', () => {
    const quiet = Array.from({ length: 8 }, (_, index) =>
      chained(
        quietWindow(TENANT, T0 + index * 15 * MINUTE),
        T0 + (index + 1) * 15 * MINUTE + 2 * MINUTE,
        index * 2 + 1,
      ),
    ).flat();
    const stopped = chained(quietWindow(OTHER_TENANT, T0), T0 + 17 * MINUTE);
    const now = T0 + 2 * 60 * MINUTE + 5 * MINUTE;
    expect(run(now, [...quiet, ...stopped])).toEqual([OTHER_TENANT]);
    // It fires again in every later run while nothing arrives.
    expect(run(now + 60 * MINUTE, [...quiet, ...stopped])).toEqual([TENANT, OTHER_TENANT]);
  });

  it('does not fire for a tenant whose export was disabled on purpose', () => {
    const disabled = chained(
      [
        ...quietWindow(TENANT, T0),
        changeRow(TENANT, new Date(T0 + 16 * MINUTE), 'exportDisabled', 'object 1 of tenant x', 'off', {
          state: 'disabled',
        }),
      ],
      T0 + 17 * MINUTE,
    );
    expect(run(T0 + 5 * 60 * MINUTE, disabled)).toEqual([]);
  });
});

describe('audit export disabled or reconfigured', () => {
  const runFrequency = minutes(reconfigured.query, 'runFrequency') * MINUTE;

  function run(now: number, health: readonly HealthRecord[]): string[] {
    return firstCopies(health.filter((row) => row.RowKind_s === 'change'))
      .filter((row) => row.ingestedAt > now - runFrequency)
      .filter((row) => !(row.Change_s === 'connectionCreated' && row.Sequence_d === 1))
      .map((row) => `${row.Change_s} by ${row.Actor_s} because ${row.Reason_s}`);
  }

  it('holds the steps the re-implementation mirrors', () => {
    const query = normalized(reconfigured.query);
    for (const step of [
      '| where RowKind_s == "change"',
      '| summarize arg_min(IngestedAt, *) by CustomerTenantId_g, Sequence_d',
      '| where IngestedAt > ago(runFrequency)',
      '| where not(Change_s == "connectionCreated" and Sequence_d == 1)',
    ]) {
      expect(query, step).toContain(step);
    }
  });

  it('reports each change once with its actor and reason, but not the Create Connection that starts the chain', () => {
    const connection = { state: 'connected' };
    const changes = chained(
      [
        changeRow(TENANT, new Date(T0), 'connectionCreated', 'alice', 'first connection', connection),
        changeRow(
          TENANT,
          new Date(T0 + MINUTE),
          'settingsSaved',
          'mallory',
          'workspace changed to ws-2',
          connection,
        ),
        changeRow(TENANT, new Date(T0 + 2 * MINUTE), 'exportDisabled', 'mallory', 'turned off', {
          state: 'disabled',
        }),
      ],
      T0 + 3 * MINUTE,
    );
    const uploadedTwice = [...changes, ...changes.map((row) => ({ ...row, ingestedAt: T0 + 70 * MINUTE }))];
    const runs = Array.from({ length: 24 }, (_, index) => T0 + (index + 1) * runFrequency);
    expect(runs.flatMap((now) => run(now, uploadedTwice))).toEqual([
      'settingsSaved by mallory because workspace changed to ws-2',
      'exportDisabled by mallory because turned off',
    ]);
  });
});
