import { describe, expect, it } from 'vitest';
import {
  getHostLogs,
  invokeServiceBusBatch,
  listFunctions,
  startFunctionApp,
} from '../support/functionsHost';

// Its own test file, so its own process: the app-wide setup of the fixture is in effect here only.
describe('with IncludeEmptyEntriesInMessagePayload declared by app.setup', () => {
  it('hands the capability to the host, which then keeps empty entries, so arrays stay aligned', async () => {
    const capabilities = await startFunctionApp({
      entryPoints: [
        'test/fixtures/functionsApp/includeEmptyEntries.ts',
        'test/fixtures/functionsApp/functions.ts',
      ],
    });
    expect(capabilities).toMatchObject({
      IncludeEmptyEntriesInMessagePayload: 'true',
      TypedDataCollection: 'true',
    });
    expect(getHostLogs().map((l) => l.message)).toContain(
      'Capability IncludeEmptyEntriesInMessagePayload set to true.',
    );
    expect(listFunctions().find((f) => f.name === 'stringBatch')?.trigger).toBeDefined();

    // Loaded by the host above, so the fixture's module instance is the one that registered the handlers.
    const { deliveries } = await import('../fixtures/functionsApp/functions');
    const result = await invokeServiceBusBatch('stringBatch', [
      { body: 'a', messageId: 'm-a', contentType: 'text/plain' },
      { body: '', messageId: 'm-empty' },
      { body: 'c', messageId: 'm-c', correlationId: 'corr-c', contentType: 'text/csv' },
    ]);
    expect(result.outcome).toBe('completed');
    const [delivery] = deliveries.stringBatch!;
    expect(delivery!.messages).toEqual(['a', '', 'c']);
    expect(delivery!.triggerMetadata).toMatchObject({
      messageIdArray: ['m-a', 'm-empty', 'm-c'],
      contentTypeArray: ['text/plain', '', 'text/csv'],
      correlationIdArray: ['', '', 'corr-c'],
    });
  });
});
