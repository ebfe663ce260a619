import { describe, expect, it } from 'vitest';
import { loadSentinelContent } from '../../scripts/sentinelContent';
import { HEALTH_TABLE, TABLE_NAMES } from '../../src/domain/tableSchema';
import type { AuditEvent } from '../../src/domain/eventContract';
import { buildEvent, sampleEvent } from '../../src/producer';
import { normalizedQuery, ROWS_MISSING_STEPS, rowsMissingRule } from '../support/rowsMissingRule';
import {
  TenantApi,
  demoTenant,
  oneOfEachCatalogEvent,
  publish,
  rowCountsByRecordId,
  workspaceRows,
} from '../support/sandboxClient';
import { e2eSandbox, eventually, runToExit, type ProcessOutcome } from './support/harness';

/**
 * Issue 17's proof end to end, through the sandbox's public surfaces: events delivered in several
 * batches, a heartbeat that seals them into signed health rows, and the ready line's verifyCommand
 * run as a customer would paste it. Then a purge of one event row (DELETE on the rows URL) is named
 * by verify and by the Sentinel "rows missing" rule, and a purged health row breaks the chain.
 */

// Timers every second: the heartbeat seals each one-minute window about 5 s after it ends.
const sandbox = e2eSandbox({ args: ['--timer-every', '1'] });

/** The ready line's command, in a plain shell with nothing of this test's environment but PATH and HOME. */
function runVerify(command: string): Promise<ProcessOutcome> {
  return runToExit(command, [], {
    shell: '/bin/sh',
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    until: 'close',
  });
}

function recordIds(row: Record<string, unknown>): string {
  return typeof row.RecordIds_s === 'string' ? row.RecordIds_s : '';
}

async function purge(rowsUrl: string, query: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${rowsUrl}?${query}`, { method: 'DELETE' });
  return { status: response.status, body: await response.json() };
}

describe('proving completeness in the sandbox', { timeout: 300_000 }, () => {
  it('verify exits 0, then 3 naming a purged event row (which the rows-missing rule finds too), then reports a purged health row as a broken chain', async () => {
    const { info, azure } = sandbox;
    const api = new TenantApi(info.apiBaseUrl, demoTenant(info));
    await api.connectAndSave();

    // Three batches, each landed before the next is sent, so the forwarder delivers them separately.
    const batches: AuditEvent[][] = [
      oneOfEachCatalogEvent(info.tenantId),
      [4887, 4870, 12].map((eventId, index) => buildEvent(sampleEvent(eventId, info.tenantId, index + 1, 3))),
      [buildEvent(sampleEvent(4888, info.tenantId)), buildEvent(sampleEvent(19, info.tenantId))],
    ];
    for (const [index, batch] of batches.entries()) {
      await publish(info, batch);
      await eventually(`batch ${index + 1} to land`, async () => {
        const counts = await rowCountsByRecordId(info, info.workspaceResourceId);
        return batch.every((event) => counts.get(event.id.toLowerCase()) === 1);
      });
    }
    const ids = batches.flat().map((event) => event.id.toLowerCase());

    // The heartbeat: signed window rows that list every delivered id.
    const windowRows = await eventually(
      'signed health windows listing every event',
      async () => {
        const rows = ((await workspaceRows(info, info.workspaceResourceId))[HEALTH_TABLE] ?? []).filter(
          (row) => row.RowKind_s === 'window',
        );
        const listed = new Set(rows.flatMap((row) => recordIds(row).split(',')));
        return ids.every((id) => listed.has(id)) && rows;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    expect(windowRows.every((row) => typeof row.Signature_s === 'string')).toBe(true);

    const intact = await runVerify(info.verifyCommand);
    expect(intact.output).toMatch(/verdict: complete and intact/);
    expect(intact.code, intact.output).toBe(0);

    // The rows URL answers what it cannot do.
    expect((await purge(info.rowsUrl, '')).status).toBe(400);
    expect((await purge(info.rowsUrl, 'eventRecordId=not-a-guid')).status).toBe(400);
    const unknown = await purge(info.rowsUrl, `eventRecordId=${crypto.randomUUID()}`);
    expect(unknown).toMatchObject({
      status: 404,
      body: { error: expect.stringMatching(/nothing was deleted/) as unknown },
    });

    // Someone purges one event row of the second batch.
    const purged = batches[1]![1]!;
    const deleted = await purge(info.rowsUrl, `eventRecordId=${purged.id}`);
    expect(deleted).toMatchObject({
      status: 200,
      body: { removed: [{ table: 'EZCA_Certificates_CL', rows: 1 }] },
    });
    expect((await rowCountsByRecordId(info, info.workspaceResourceId)).has(purged.id.toLowerCase())).toBe(
      false,
    );

    const missing = await runVerify(info.verifyCommand);
    expect(missing.code, missing.output).toBe(3);
    expect(missing.output).toContain(`missing EZCA_Certificates_CL ${purged.id.toLowerCase()}`);
    expect(missing.output).toMatch(
      /verdict: NOT complete or NOT intact \(1 missing, 0 unexpected, 0 problems\)/,
    );

    // The Sentinel rule, over the stand-in's rows as Log Analytics holds them (with their ingestion time).
    const query = loadSentinelContent().analyticRules.find(({ content }) =>
      /rows missing/.test(content.name),
    )!.content.query;
    for (const step of ROWS_MISSING_STEPS) expect(normalizedQuery(query), step).toContain(step);
    const rule = rowsMissingRule(query);
    const health = (await azure.rows({ workspaceId: info.workspaceResourceId, table: HEALTH_TABLE })).map(
      (recorded) => ({
        ...recorded.row,
        Sequence_d: Number(recorded.row.Sequence_d),
        ingestedAt: Date.parse(recorded.receivedAt),
      }),
    );
    const events = (
      await Promise.all(
        TABLE_NAMES.map(async (table) =>
          (await azure.rows({ workspaceId: info.workspaceResourceId, table })).map((recorded) => ({
            table,
            EventRecordId_g: String(recorded.row.EventRecordId_g),
          })),
        ),
      )
    ).flat();
    // The hourly run in which the window rows have become ingestionSlack old.
    const runAt = Math.max(...health.map((row) => row.ingestedAt)) + rule.slackMs;
    expect(rule.run(runAt, health, events)).toEqual([
      {
        sequence: expect.any(Number) as unknown,
        table: 'EZCA_Certificates_CL',
        missing: [purged.id.toLowerCase()],
      },
    ]);

    // Someone purges a health row inside the chain: the first window row that lists events, once a
    // later row (the next part or window) links to it.
    const victim = Math.min(
      ...windowRows.filter((row) => recordIds(row) !== '').map((row) => Number(row.Sequence_d)),
    );
    await eventually(
      `health row ${victim + 1}`,
      async () =>
        ((await workspaceRows(info, info.workspaceResourceId))[HEALTH_TABLE] ?? []).some(
          (row) => Number(row.Sequence_d) === victim + 1,
        ),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const purgedHealth = await purge(info.rowsUrl, `healthSequence=${victim}&tenantId=${info.tenantId}`);
    expect(purgedHealth).toMatchObject({
      status: 200,
      body: { removed: [{ table: HEALTH_TABLE, rows: 1 }] },
    });

    const broken = await runVerify(info.verifyCommand);
    expect(broken.code, broken.output).toBe(3);
    expect(broken.output).toContain(
      `health row ${victim + 1}: broken chain, health rows ${victim}..${victim} are missing`,
    );
  });
});
