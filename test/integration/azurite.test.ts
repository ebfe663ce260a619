import { AzureNamedKeyCredential, RestError, TableClient } from '@azure/data-tables';
import { inject, describe, expect, it } from 'vitest';
import { assertLoopback } from '../support/loopback';

describe('Azurite Table service (started by the global setup)', () => {
  const connectionString = inject('azuriteConnectionString');

  it('listens on loopback only', () => {
    expect(() => assertLoopback(inject('azuriteTableEndpoint'))).not.toThrow();
  });

  it("refuses a request signed with Azurite's well-known development key: the key is the run's own", async () => {
    // The public key, as in Microsoft's Azurite documentation: with it, a web page that rebinds its
    // name to 127.0.0.1 could sign requests against the sandbox's tables.
    const wellKnownKey =
      'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
    expect(connectionString).not.toContain(wellKnownKey);
    const forged = new TableClient(
      inject('azuriteTableEndpoint'),
      `forged${Date.now()}`,
      new AzureNamedKeyCredential('devstoreaccount1', wellKnownKey),
      { allowInsecureConnection: true },
    );
    await expect(forged.createTable()).rejects.toSatisfy(
      (error: unknown) => error instanceof RestError && error.statusCode === 403,
    );
  });

  it('round-trips an entity through the real @azure/data-tables client', async () => {
    const table = TableClient.fromConnectionString(connectionString, `rt${Date.now()}`, {
      allowInsecureConnection: true,
    });
    await table.createTable();
    await table.createEntity({ partitionKey: 'tenant', rowKey: 'a', state: 'tested' });
    const entity = await table.getEntity<{ state: string }>('tenant', 'a');
    expect(entity.state).toBe('tested');
  });

  it('refuses an update carrying a stale ETag (412), so concurrent saves cannot overwrite each other', async () => {
    const table = TableClient.fromConnectionString(connectionString, `etag${Date.now()}`, {
      allowInsecureConnection: true,
    });
    await table.createTable();
    await table.createEntity({ partitionKey: 'tenant', rowKey: 'b', state: 'tested' });
    const first = await table.getEntity('tenant', 'b');
    const second = await table.getEntity('tenant', 'b');
    await table.updateEntity({ partitionKey: 'tenant', rowKey: 'b', state: 'active' }, 'Merge', {
      etag: first.etag,
    });
    const stale = table.updateEntity({ partitionKey: 'tenant', rowKey: 'b', state: 'disabled' }, 'Merge', {
      etag: second.etag,
    });
    await expect(stale).rejects.toSatisfy(
      (error: unknown) => error instanceof RestError && error.statusCode === 412,
    );
    const final = await table.getEntity<{ state: string }>('tenant', 'b');
    expect(final.state).toBe('active');
  });
});

it('refuses non-loopback endpoints', () => {
  expect(() => assertLoopback('https://management.azure.com')).toThrow(/non-loopback/);
  expect(() => assertLoopback('http://10.0.0.5:10002')).toThrow(/non-loopback/);
  expect(assertLoopback('https://127.0.0.1:4430')).toBe('https://127.0.0.1:4430');
});
