import { randomUUID } from 'node:crypto';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import pLimit from 'p-limit';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../../src/cli/cli';
import type { TenantOverview } from '../../src/domain/fleet';
import type { ConnectionState } from '../../src/domain/tenantConnection';

/**
 * `pki-siem-export tenants` over 10,000 tenants in Azurite. The tenants are
 * seeded as the connection store writes them (one entity per partition, so
 * each is its own request, many at once); the parked events of a tenant go in
 * batch transactions of 100 (one partition each).
 */

const TENANTS = 10_000;
const azurite = inject('azuriteConnectionString');
const suffix = randomUUID().replace(/-/g, '').slice(0, 10);
const env = {
  TABLE_STORAGE_CONNECTION_STRING: azurite,
  TENANTS_TABLE: `Fleet${suffix}`,
  PARKED_TABLE: `FleetParked${suffix}`,
};
const STATES: readonly ConnectionState[] = [
  'active',
  'active',
  'active',
  'degraded',
  'suspended',
  'disabled',
];

interface Seeded {
  tenantId: string;
  state: ConnectionState;
  parked: number;
  lastError?: { at: string; message: string };
}
const seeded: Seeded[] = [];

function client(table: string): TableClient {
  return TableClient.fromConnectionString(azurite, table, { allowInsecureConnection: true });
}

beforeAll(async () => {
  const tenants = client(env.TENANTS_TABLE);
  const parked = client(env.PARKED_TABLE);
  await Promise.all([tenants.createTable(), parked.createTable()]);
  for (let index = 0; index < TENANTS; index += 1) {
    const state = STATES[index % STATES.length] as ConnectionState;
    seeded.push({
      tenantId: randomUUID(),
      state,
      // A few tenants with parked events, one with more than a page of them.
      parked: index === 7 ? 1_250 : index % 500 === 4 ? (index % 7) + 1 : 0,
      ...(state === 'degraded'
        ? { lastError: { at: '2026-12-01T10:00:00.000Z', message: 'The Logs Ingestion API answered 403' } }
        : {}),
    });
  }
  const limit = pLimit(64);
  const at = '2026-12-01T09:00:00.000Z';
  await Promise.all(
    seeded.map((tenant) =>
      limit(() =>
        tenants.createEntity({
          partitionKey: tenant.tenantId,
          rowKey: 'connection',
          state: tenant.state,
          stateReason: `Seeded as ${tenant.state}`,
          stateChangedAt: at,
          testOutcome: '',
          testedJson: '',
          savedJson: '',
          lastDeliveryAt: tenant.state === 'active' ? at : '',
          lastErrorJson: tenant.lastError ? JSON.stringify(tenant.lastError) : '',
          createdAt: at,
          updatedAt: at,
        }),
      ),
    ),
  );
  const batches: TransactionAction[][] = [];
  for (const tenant of seeded.filter((item) => item.parked > 0)) {
    for (let start = 0; start < tenant.parked; start += 100) {
      const size = Math.min(100, tenant.parked - start);
      batches.push(
        Array.from({ length: size }, (_, offset): TransactionAction => [
          'create',
          {
            partitionKey: tenant.tenantId,
            rowKey: `p${String(start + offset).padStart(6, '0')}`,
            category: 'connectionSuspended',
          },
        ]),
      );
    }
  }
  await Promise.all(batches.map((actions) => limit(() => parked.submitTransaction(actions))));
}, 300_000);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env,
    readStdin: () => Promise.resolve(''),
    stdinIsTerminal: true,
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('pki-siem-export tenants', () => {
  it('lists every tenant once with its state, last error and parked count (--all --json)', async () => {
    const result = await cli(['tenants', '--all', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { items, continuationToken } = JSON.parse(result.stdout) as {
      items: TenantOverview[];
      continuationToken?: string;
    };
    expect(continuationToken).toBeUndefined();
    expect(items).toHaveLength(TENANTS);
    const byId = new Map(items.map((item) => [item.tenantId, item]));
    expect(byId.size).toBe(TENANTS);
    for (const tenant of seeded) {
      const item = byId.get(tenant.tenantId);
      expect(item?.state).toBe(tenant.state);
      expect(item?.parked).toBe(tenant.parked);
      expect(item?.lastError).toEqual(tenant.lastError);
      expect(item?.stateReason).toBe(`Seeded as ${tenant.state}`);
    }
  }, 120_000);

  it('pages: every page within --limit, the pages together once each tenant of the state asked for', async () => {
    const suspended = seeded.filter((tenant) => tenant.state === 'suspended');
    const seen: TenantOverview[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const args = ['tenants', '--state', 'suspended', '--limit', '500', '--json'];
      const result = await cli(token ? [...args, '--continuation', token] : args);
      expect(result.code).toBe(0);
      const page = JSON.parse(result.stdout) as { items: TenantOverview[]; continuationToken?: string };
      expect(page.items.length).toBeLessThanOrEqual(500);
      seen.push(...page.items);
      token = page.continuationToken;
      pages += 1;
    } while (token && pages < 100);

    expect(seen.map((item) => item.tenantId).sort()).toEqual(
      suspended.map((tenant) => tenant.tenantId).sort(),
    );
    expect(seen.every((item) => item.state === 'suspended')).toBe(true);
    expect(pages).toBeGreaterThan(1);
  }, 120_000);

  it('prints a table with the next page command, and refuses a wrong command line with exit code 2', async () => {
    const text = await cli(['tenants', '--state', 'degraded', '--limit', '3']);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^Tenant\s+State\s+Since\s+Last delivery\s+Parked\s+Last error\s+Reason$/);
    expect(lines.slice(1, 4).every((line) => line.includes('degraded'))).toBe(true);
    expect(lines[1]).toContain('The Logs Ingestion API answered 403');
    expect(lines[4]).toMatch(
      /^More: pki-siem-export tenants --limit 3 --state degraded --continuation '.+'$/,
    );

    const wrong = await cli(['tenants', '--state', 'broken']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('unknown --state broken');
    expect((await cli(['tenants', '--limit', '0'])).code).toBe(2);
  });

  it('says which setting is missing', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['tenants'], {
      stdout: (text) => out.push(text),
      stderr: (text) => err.push(text),
      env: {},
      readStdin: () => Promise.resolve(''),
      stdinIsTerminal: true,
    });
    expect(code).toBe(1);
    expect(err.join('\n')).toContain('TABLE_STORAGE_ENDPOINT');
  });
});
