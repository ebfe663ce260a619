import fc from 'fast-check';
import { createHttpHeaders, type HttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import { LogsIngestionClient } from '@azure/monitor-ingestion';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { chunkBySize, MAX_REQUEST_BYTES, rowBytes } from '../../src/domain/ingestionChunks';

/** Records the bodies the real SDK sends, answering 204 like the service. */
function recordingClient(): { client: LogsIngestionClient; requests: unknown[][] } {
  const requests: unknown[][] = [];
  const httpClient: HttpClient = {
    sendRequest: (request: PipelineRequest) => {
      const body = request.body as Buffer;
      requests.push(JSON.parse(gunzipSync(body).toString('utf8')) as unknown[]);
      return Promise.resolve({ request, status: 204, headers: createHttpHeaders() });
    },
  };
  const credential = {
    getToken: () => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  const client = new LogsIngestionClient('https://dcr.eastus-1.ingest.monitor.azure.com', credential, {
    httpClient,
    retryOptions: { maxRetries: 0 },
  });
  return { client, requests };
}

describe('chunkBySize', () => {
  it('cuts rows exactly where @azure/monitor-ingestion cuts them, so one chunk is one request', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            Message_s: fc.string({ unit: 'grapheme', maxLength: 40 }),
            pad: fc.integer({ min: 0, max: 400_000 }),
          }),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        async (specs) => {
          const rows = specs.map((spec) => ({ Message_s: spec.Message_s, Details_s: 'é'.repeat(spec.pad) }));
          const { client, requests } = recordingClient();
          await client.upload('dcr-0123', 'Custom-EZCA_CAs_CL', rows, { maxConcurrency: 1 });
          expect(chunkBySize(rows, rowBytes)).toEqual(requests);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('puts a row at or over the limit alone', () => {
    const huge = { Details_s: 'x'.repeat(MAX_REQUEST_BYTES) };
    const small = { Details_s: 'y' };
    expect(chunkBySize([small, huge, small], rowBytes)).toEqual([[small], [huge], [small]]);
  });
});
