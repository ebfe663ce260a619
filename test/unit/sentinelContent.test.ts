import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';
import { CONNECTION_TEST_EVENT_ID, EVENT_CATALOG } from '../../src/domain/catalog';
import {
  ANALYTIC_RULES_DIR,
  HUNTING_QUERIES_DIR,
  isoDurationMinutes,
  letValue,
  loadSentinelContent,
  TECHNIQUE_TACTICS,
  parseAnalyticRule,
  parseHuntingQuery,
  SentinelContentError,
  sentinelDurationMinutes,
  sentinelDurationToIso,
  workbookQueries,
  type AnalyticRule,
} from '../../scripts/sentinelContent';
import { SEED_ALERTS } from '../support/seedAlerts';

const content = loadSentinelContent();

/** Collapses whitespace so a query's pipeline can be compared regardless of line breaks. */
function normalized(query: string): string {
  return query.replace(/\s+/g, ' ').trim();
}

/** Event IDs a query selects with `EventID_d == N` or `EventID_d in (…)`. */
function selectedEventIds(query: string): number[] {
  const equals = [...query.matchAll(/EventID_d\s*==\s*(\d+)/g)].map((match) => Number(match[1]));
  const lists = [...query.matchAll(/EventID_d\s+in\s*\(([^)]*)\)/g)].flatMap((match) =>
    (match[1] ?? '').split(',').map((id) => Number(id.trim())),
  );
  return [...equals, ...lists];
}

describe('analytic rules cover the catalog and the seed', () => {
  it('has a rule for every high-criticality event in the catalog, on the table the event lands in', () => {
    const high = EVENT_CATALOG.filter((entry) => entry.criticality === 'High');
    expect(high.map((entry) => entry.eventId).sort((a, b) => a - b)).toEqual([19, 23, 92, 4882, 4888]);
    for (const entry of high) {
      const rules = content.analyticRules.filter(
        ({ content: rule }) =>
          selectedEventIds(rule.query).includes(entry.eventId) &&
          normalized(rule.query).includes(`${entry.table} | where EventID_d == ${entry.eventId}`),
      );
      expect(rules, `no rule for event ${entry.eventId} (${entry.summary})`).toHaveLength(1);
      expect(rules[0]?.content.severity).toBe('High');
    }
  });

  it('keeps the four queries of the customer how-to as the core of their rules', () => {
    // "How To Create Alerts in Azure Sentinel to Monitor Your Cloud PKI Activity", word for word.
    for (const seed of SEED_ALERTS.map((alert) => alert.query)) {
      const holders = content.analyticRules.filter(({ content: rule }) => rule.query.includes(seed));
      expect(holders, `seed query not found verbatim: ${seed}`).toHaveLength(1);
    }
  });

  it('has a hunting query for every medium-criticality event', () => {
    for (const entry of EVENT_CATALOG.filter((event) => event.criticality === 'Medium')) {
      const hunts = content.huntingQueries.filter(({ content: hunt }) =>
        normalized(hunt.query).includes(`${entry.table} | where EventID_d == ${entry.eventId}`),
      );
      expect(hunts, `no hunting query for event ${entry.eventId} (${entry.summary})`).toHaveLength(1);
    }
  });

  it('has a feed-silent rule that watches both tables per tenant', () => {
    const silent = content.analyticRules.filter(({ content: rule }) => /silent/i.test(rule.name));
    expect(silent).toHaveLength(1);
    const query = silent[0]?.content.query ?? '';
    expect(query).toMatch(/union EZCA_CAs_CL, EZCA_Certificates_CL/);
    expect(query).toMatch(/by CustomerTenantId_g/);
    expect(query).toMatch(/ingestion_time\(\)/);
  });
});

describe('feed silent', () => {
  const silent = content.analyticRules.find(({ content: rule }) => /silent/i.test(rule.name))?.content;

  it('fires in every run while a tenant stays silent past the threshold, not only in a band after it', () => {
    const query = silent?.query ?? '';
    expect(query).toMatch(/\| where LastArrivalAt < ago\(silenceThreshold\)/);
    expect(query).not.toMatch(/between\s*\(/);
    expect(silent?.kind).toBe('Scheduled');
  });

  it('names the tenant as an entity and keeps one incident per tenant', () => {
    expect(silent?.entityMappings?.map((mapping) => mapping.entityType)).toEqual(['CloudApplication']);
    const grouping = silent?.incidentConfiguration?.groupingConfiguration;
    expect(grouping?.enabled).toBe(true);
    const keys = grouping?.groupByCustomDetails ?? [];
    expect(keys.map((key) => silent?.customDetails?.[key])).toEqual(['CustomerTenantId_g']);
  });
});

describe('every rule and hunting query', () => {
  // The DCRLogErrors hunting query watches the export's DCR, not EZCA events; it has its own test.
  const everything = [...content.analyticRules, ...content.huntingQueries].filter(({ content: item }) =>
    /EZCA_\w+_CL/.test(item.query),
  );
  // The completeness rules read the export health rows (deduped per tenant and Sequence_d) and look
  // event rows up by id, connection tests included: those are delivered and listed like any event.
  const eventRules = everything.filter(({ content: item }) => !item.query.includes('EZCA_ExportHealth_CL'));

  it('leaves out the connection-test rows', () => {
    for (const { file, content: item } of eventRules) {
      const declared = letValue(item.query, 'connectionTestEventId');
      if (declared !== undefined) {
        // The query handles connection tests on purpose; it must name the right event ID.
        expect(Number(declared), file).toBe(CONNECTION_TEST_EVENT_ID);
        expect(item.query, file).toMatch(/EventID_d\s*!=\s*connectionTestEventId/);
        continue;
      }
      const ids = selectedEventIds(item.query);
      expect(ids.length, `${file} selects no specific event IDs`).toBeGreaterThan(0);
      expect(ids, file).not.toContain(CONNECTION_TEST_EVENT_ID);
    }
  });

  it('dedupes redelivered copies on EventRecordId_g, or only aggregates with max', () => {
    expect(eventRules.length).toBeLessThan(everything.length);
    for (const { file, content: item } of eventRules) {
      const dedupes = /summarize\s+arg_(max|min)\([^)]*\)\s+by\s+EventRecordId_g/.test(item.query);
      const countsDistinct = /dcountif\(EventRecordId_g/.test(item.query) && !/\bcount\(\)/.test(item.query);
      expect(dedupes || countsDistinct, file).toBe(true);
    }
  });

  it('declares the tables it queries as required data types', () => {
    for (const { file, content: item } of everything) {
      const declared = item.requiredDataConnectors.flatMap((connector) => connector.dataTypes).sort();
      const used = [...new Set(item.query.match(/EZCA_\w+_CL/g) ?? [])].sort();
      expect(declared, file).toEqual(used);
    }
  });

  it('cites only techniques Azure-Sentinel maps to tactics, with all of their tactics', () => {
    for (const { file, content: item } of [...content.analyticRules, ...content.huntingQueries]) {
      for (const technique of item.relevantTechniques) {
        const tactics = TECHNIQUE_TACTICS[technique.split('.')[0] ?? technique];
        expect(tactics, `${file}: ${technique}`).toBeDefined();
        for (const tactic of tactics ?? []) {
          expect(item.tactics, `${file}: ${technique}`).toContain(tactic);
        }
      }
    }
  });

  it('maps each actor as one Account entity (AadUserId, Name, UPNSuffix)', () => {
    for (const { file, content: item } of [...content.analyticRules, ...content.huntingQueries]) {
      const accounts = (item.entityMappings ?? []).filter((mapping) => mapping.entityType === 'Account');
      expect(accounts.length, file).toBeLessThanOrEqual(1);
      for (const account of accounts) {
        expect(account.fieldMappings.map((field) => field.identifier).sort(), file).toEqual([
          'AadUserId',
          'Name',
          'UPNSuffix',
        ]);
      }
    }
  });

  it("names the solution's connector in every requiredDataConnectors", () => {
    const [connector] = content.dataConnectors;
    for (const { file, content: item } of [...content.analyticRules, ...content.huntingQueries]) {
      expect(
        item.requiredDataConnectors.map((required) => required.connectorId),
        file,
      ).toEqual([connector?.content.id]);
    }
  });
});

describe('completeness rules over EZCA_ExportHealth_CL', () => {
  const healthRules = content.analyticRules.filter(({ content: rule }) =>
    rule.query.includes('EZCA_ExportHealth_CL'),
  );

  it('are the three of issue 17: heartbeat missing, rows missing, export disabled or reconfigured', () => {
    expect(healthRules.map(({ content: rule }) => rule.name).sort()).toEqual([
      'EZCA - Audit export disabled or reconfigured',
      'EZCA - Export heartbeat missing for a tenant',
      'EZCA - Exported audit rows missing from the workspace',
    ]);
  });

  it('fold a health row uploaded twice into one, by tenant and Sequence_d', () => {
    for (const { file, content: rule } of healthRules) {
      const query = normalized(rule.query);
      const foldsRows = /summarize arg_min\(IngestedAt, \*\) by CustomerTenantId_g, Sequence_d/.test(query);
      const keepsLatest = /summarize arg_max\(Sequence_d,[^)]*\), LastHealthRowAt = max\(IngestedAt\)/.test(
        query,
      );
      expect(foldsRows || keepsLatest, file).toBe(true);
    }
  });

  it('name the tenant as a CloudApplication entity, like the feed-silent rule', () => {
    for (const { file, content: rule } of healthRules) {
      expect(rule.entityMappings, file).toEqual([
        {
          entityType: 'CloudApplication',
          fieldMappings: [
            { identifier: 'Name', columnName: 'Application' },
            { identifier: 'InstanceName', columnName: 'TenantInstance' },
          ],
        },
      ]);
      expect(rule.customDetails?.CustomerTenantId, file).toBe('CustomerTenantId_g');
    }
  });

  it('cite T1562.008 under Defense Evasion for the reconfiguration rule, and name actor and reason', () => {
    const rule = healthRules.find(({ content: item }) => /reconfigured/.test(item.name))?.content;
    expect(rule?.tactics).toEqual(['DefenseEvasion']);
    expect(rule?.relevantTechniques).toEqual(['T1562.008']);
    expect(rule?.customDetails).toMatchObject({ Actor: 'Actor', Reason: 'Reason', Change: 'Change_s' });
    expect(rule?.alertDetailsOverride?.alertDescriptionFormat).toMatch(/\{\{Actor\}\}.*\{\{Reason\}\}/);
  });

  it('name the missing record ids in the rows-missing alert', () => {
    const rule = healthRules.find(({ content: item }) => /rows missing/.test(item.name))?.content;
    expect(rule?.customDetails?.MissingRecordIds).toBe('MissingRecordIds');
    expect(rule?.alertDetailsOverride?.alertDescriptionFormat).toContain('{{MissingRecordIds}}');
    expect(rule?.requiredDataConnectors[0]?.dataTypes).toEqual([
      'EZCA_CAs_CL',
      'EZCA_Certificates_CL',
      'EZCA_ExportHealth_CL',
    ]);
  });

  it('keep the heartbeat threshold at one hour and fire in every run while it is missing', () => {
    const rule = healthRules.find(({ content: item }) => /heartbeat/.test(item.name))?.content;
    expect(letValue(rule?.query ?? '', 'heartbeatThreshold')).toBe('1h');
    expect(rule?.query).toMatch(/\| where LastHealthRowAt < ago\(heartbeatThreshold\)/);
    expect(rule?.incidentConfiguration?.groupingConfiguration.groupByCustomDetails).toEqual([
      'CustomerTenantId',
    ]);
  });
});

describe('scheduled rules', () => {
  const scheduled = content.analyticRules.filter(
    (entry): entry is { file: string; content: Extract<AnalyticRule, { kind: 'Scheduled' }> } =>
      entry.content.kind === 'Scheduled',
  );

  it('exist, and keep the let-declared run frequency and look-back equal to their schedule', () => {
    expect(scheduled.length).toBeGreaterThan(0);
    for (const { file, content: rule } of scheduled) {
      const runFrequency = letValue(rule.query, 'runFrequency');
      const lookback = letValue(rule.query, 'lookback');
      if (runFrequency !== undefined) {
        expect(sentinelDurationMinutes(runFrequency), file).toBe(
          sentinelDurationMinutes(rule.queryFrequency),
        );
      }
      expect(sentinelDurationMinutes(lookback ?? ''), file).toBe(sentinelDurationMinutes(rule.queryPeriod));
    }
  });

  it('look back far enough to catch events the exporter delivers days late', () => {
    for (const { file, content: rule } of scheduled) {
      expect(sentinelDurationMinutes(rule.queryPeriod), file).toBeGreaterThanOrEqual(7 * 1440);
      expect(rule.query, file).toMatch(/ingestion_time\(\)/);
    }
  });
});

describe('high-severity rules', () => {
  it('are all scheduled (NRT misses events ingested more than 12 hours late) and fold duplicates per event', () => {
    const high = content.analyticRules.filter(({ content: rule }) => rule.severity === 'High');
    expect(high).toHaveLength(5);
    for (const { file, content: rule } of high) {
      expect(rule.kind, file).toBe('Scheduled');
      const grouping = rule.incidentConfiguration?.groupingConfiguration;
      expect(grouping?.enabled, file).toBe(true);
      const groupsOnEvent =
        grouping?.groupByCustomDetails.some((key) => rule.customDetails?.[key] === 'EventRecordId_g') ??
        false;
      const groupsOnActor = grouping?.groupByEntities.includes('Account') ?? false;
      expect(groupsOnEvent || groupsOnActor, file).toBe(true);
    }
  });
});

describe('workbook', () => {
  it('has the three required views and dedupes every event-level tile', () => {
    const [workbook] = content.workbooks;
    expect(workbook).toBeDefined();
    const queries = workbookQueries(workbook?.content ?? { version: 'Notebook/1.0', items: [] });
    const byItem = new Map(queries.map(({ item, query }) => [item, query]));
    expect(byItem.get('query - volume by criticality')).toMatch(/by Criticality_s, bin\(TimeGenerated/);
    expect(byItem.get('query - denied by actor')).toMatch(/Outcome_s == "Denied"/);
    expect(byItem.get('query - CA change timeline')).toMatch(/^EZCA_CAs_CL/);
    for (const name of [
      'query - volume by criticality',
      'query - denied by actor',
      'query - CA change timeline',
    ]) {
      expect(byItem.get(name), name).toMatch(/summarize arg_max\(TimeGenerated, \*\) by EventRecordId_g/);
    }
  });

  it('shows feed health over a fixed window, whatever time range is picked', () => {
    const health: unknown[] = [];
    const visit = (items: readonly Record<string, unknown>[]): void => {
      for (const item of items) {
        const itemContent = (item.content ?? {}) as Record<string, unknown>;
        if (String(item.name).includes('health')) health.push(itemContent);
        visit((itemContent.items ?? []) as Record<string, unknown>[]);
      }
    };
    visit((content.workbooks[0]?.content.items ?? []) as unknown as Record<string, unknown>[]);
    expect(health.length).toBeGreaterThan(0);
    for (const tile of health as Array<Record<string, unknown>>) {
      expect(tile.timeContextFromParameter).toBeUndefined();
      expect(tile.timeContext).toEqual({ durationMs: 14 * 24 * 3600 * 1000 });
      expect(tile.query).toMatch(/where TimeGenerated > ago\(lookback\)/);
    }
  });

  it('leaves the connection-test rows out of every event tile', () => {
    for (const { content: workbook } of content.workbooks) {
      // Completeness tiles look rows up by id: connection tests are delivered and listed like any event.
      for (const { item, query } of workbookQueries(workbook).filter(
        (tile) => !tile.query.includes('EZCA_ExportHealth_CL'),
      )) {
        const excludes = new RegExp(`EventID_d\\s*!=\\s*${CONNECTION_TEST_EVENT_ID}\\b`).test(query);
        const ids = selectedEventIds(query);
        expect(excludes || (ids.length > 0 && !ids.includes(CONNECTION_TEST_EVENT_ID)), item).toBe(true);
      }
    }
  });
});

describe('workbook completeness group', () => {
  const queries = new Map(
    workbookQueries(content.workbooks[0]?.content ?? { version: 'Notebook/1.0', items: [] }).map(
      ({ item, query }) => [item, query],
    ),
  );

  it('shows the heartbeat, completeness per day and the changes from the health rows', () => {
    expect(queries.get('query - export health heartbeat')).toMatch(
      /LastHealthRow < ago\(heartbeatThreshold\)/,
    );
    const perDay = normalized(queries.get('query - export health completeness per day') ?? '');
    expect(perDay).toContain('| mv-expand RecordId = split(RecordIds_s, ",") to typeof(string)');
    expect(perDay).toContain('| join kind=leftouter presentRows on Table_s, RecordId');
    expect(perDay).toContain('Sequence_d - prev(Sequence_d) - 1');
    expect(perDay).toContain(
      '| project Day, CustomerTenantId_g, Windows, ListedIds, PresentRows, MissingRows, ChainBreaks, SkippedHealthRows',
    );
    expect(queries.get('query - export health changes')).toMatch(/RowKind_s == "change"/);
  });

  it('fold health rows uploaded twice before counting', () => {
    for (const name of ['query - export health completeness per day', 'query - export health changes']) {
      expect(normalized(queries.get(name) ?? ''), name).toContain(
        'summarize arg_min(IngestedAt, *) by CustomerTenantId_g, Sequence_d',
      );
    }
  });
});

describe('rule schema', () => {
  const validFile = join(ANALYTIC_RULES_DIR, 'EZCA_CertificateRequestDenied.yaml');
  const validText = readFileSync(validFile, 'utf8');

  /** The valid rule with one field replaced (undefined deletes it), re-serialised as YAML. */
  function variant(path: ReadonlyArray<string | number>, value: unknown): string {
    const document = parseDocument(validText);
    if (value === undefined) {
      document.deleteIn(path);
    } else {
      document.setIn(path, value);
    }
    return stringify(document.toJS());
  }

  it('accepts the rule as committed', () => {
    expect(parseAnalyticRule(validFile, validText).id).toBe('065fe8dd-a995-49f3-8bb5-4655bbb013c2');
  });

  it.each([
    {
      change: 'a severity Sentinel does not know',
      path: ['severity'],
      value: 'Critical',
      reason: 'severity: Invalid option',
    },
    {
      change: 'an ISO duration where Sentinel wants 1h',
      path: ['queryFrequency'],
      value: 'PT1H',
      reason: 'queryFrequency: expected a Sentinel duration',
    },
    {
      change: 'a frequency under 5 minutes',
      path: ['queryFrequency'],
      value: '1m',
      reason: 'between 5m and 14d',
    },
    { change: 'a look-back over 14 days', path: ['queryPeriod'], value: '15d', reason: 'between 5m and 14d' },
    {
      change: 'a look-back shorter than the frequency',
      path: ['queryPeriod'],
      value: '30m',
      reason: 'at least queryFrequency',
    },
    {
      change: 'a 14-day look-back run every 15 minutes',
      path: ['queryFrequency'],
      value: '15m',
      reason: 'at least 1 hour',
    },
    {
      change: 'a tactic outside ATT&CK',
      path: ['tactics', 0],
      value: 'Credential Access',
      reason: 'tactics.0: Invalid option',
    },
    {
      change: 'a malformed technique id',
      path: ['relevantTechniques', 0],
      value: 'T16490',
      reason: 'relevantTechniques.0: expected a technique id',
    },
    {
      change: 'a technique whose tactic is not listed',
      path: ['tactics'],
      value: ['PrivilegeEscalation'],
      reason: 'tactic CredentialAccess',
    },
    { change: 'a missing query', path: ['query'], value: undefined, reason: 'query: Invalid input' },
    { change: 'a missing id', path: ['id'], value: undefined, reason: 'id: Invalid input' },
    { change: 'an id that is not a GUID', path: ['id'], value: 'rule-1', reason: 'id: Invalid UUID' },
    {
      change: 'an unknown field',
      path: ['queryFrequence'],
      value: '1h',
      reason: 'Unrecognized key: "queryFrequence"',
    },
    {
      change: 'a Host entity without a host identifier',
      path: ['entityMappings', 1, 'entityType'],
      value: 'Host',
      reason: 'Host needs one of',
    },
    {
      change: 'a custom detail value that is not a column name',
      path: ['customDetails', 'Templates'],
      value: 'Templates Requested',
      reason: 'customDetails.Templates: a column name',
    },
    {
      change: 'grouping by a custom detail the rule lacks',
      path: ['incidentConfiguration', 'groupingConfiguration', 'groupByCustomDetails'],
      value: ['Nope'],
      reason: 'groups by custom detail Nope',
    },
    {
      change: 'a grouping look-back over 7 days',
      path: ['incidentConfiguration', 'groupingConfiguration', 'lookbackDuration'],
      value: 'P8D',
      reason: 'between PT5M and P7D',
    },
    {
      change: 'a malformed suppression duration',
      path: ['suppressionDuration'],
      value: '5h',
      reason: 'suppressionDuration: expected an ISO 8601',
    },
    {
      change: 'an NRT rule with a schedule',
      path: ['kind'],
      value: 'NRT',
      reason: 'Unrecognized keys: "queryFrequency"',
    },
    {
      change: 'a version that is not X.Y.Z',
      path: ['version'],
      value: '1.0',
      reason: 'version: expected a version',
    },
  ])('rejects $change', ({ path, value, reason }) => {
    const text = variant(path, value);
    expect(() => parseAnalyticRule('broken.yaml', text)).toThrow(SentinelContentError);
    expect(() => parseAnalyticRule('broken.yaml', text)).toThrow(reason);
  });

  it('rejects a hunting query carrying alert-only fields', () => {
    const hunt = readFileSync(join(HUNTING_QUERIES_DIR, 'EZCA_CertificateRevocations.yaml'), 'utf8');
    expect(() => parseHuntingQuery('hunt.yaml', hunt)).not.toThrow();
    expect(() => parseHuntingQuery('hunt.yaml', `${hunt}severity: High\n`)).toThrow('severity');
  });

  it('gives every rule and hunting query its own id', () => {
    const ids = [...content.analyticRules, ...content.huntingQueries].map((item) => item.content.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('durations', () => {
  it.each([
    ['5m', 'PT5M', 5],
    ['1h', 'PT1H', 60],
    ['14d', 'P14D', 14 * 1440],
  ])('converts Sentinel %s to ISO %s', (sentinel, iso, minutes) => {
    expect(sentinelDurationToIso(sentinel)).toBe(iso);
    expect(sentinelDurationMinutes(sentinel)).toBe(minutes);
    expect(isoDurationMinutes(iso)).toBe(minutes);
  });

  it.each(['1 h', 'PT1H', '1w', ''])('refuses %j as a Sentinel duration', (duration) => {
    expect(() => sentinelDurationToIso(duration)).toThrow('Sentinel duration');
  });

  it.each(['P', 'PT', '5h', 'P1W', 'PT5H30'])('refuses %j as an ISO duration', (duration) => {
    expect(() => isoDurationMinutes(duration)).toThrow('ISO 8601');
  });
});
