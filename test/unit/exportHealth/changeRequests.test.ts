import { describe, expect, it } from 'vitest';
import { checkChangeRequest } from '../../../src/domain/exportHealth/changeRequests';

const STORED_AT = '2026-12-03T10:00:00.000Z';
const replay = {
  change: 'replayed',
  actor: 'cli:alice.operator',
  reason: 'Replayed 1 parked event.',
  connectionState: 'active',
};
const check = (content: object) => checkChangeRequest('request-x', JSON.stringify(content), STORED_AT);

describe('checkChangeRequest', () => {
  it('keeps the request time within the five minutes before the server Timestamp, else takes the server time', () => {
    expect(check({ ...replay, at: '2026-12-03T09:56:00.000Z' })).toMatchObject({
      ok: true,
      request: { at: '2026-12-03T09:56:00.000Z', change: 'replayed', actor: 'cli:alice.operator' },
    });
    for (const at of ['2026-12-03T09:54:59.000Z', '2026-12-03T10:00:01.000Z', 'soon', 42, undefined]) {
      expect(check({ ...replay, at })).toMatchObject({ ok: true, request: { at: STORED_AT } });
    }
  });

  it('refuses anything the CLI does not write, and a request without a server Timestamp', () => {
    const refused = [
      check({ ...replay, change: 'exportDisabled' }),
      check({ ...replay, actor: 'cli:' }),
      check({ ...replay, actor: 'cli:bad name' }),
      check({ ...replay, reason: 'Replayed 1 parked event. All windows are fine.' }),
      check({ ...replay, connectionState: 'gone' }),
      check({ ...replay, connectionReason: 'x'.repeat(501) }),
      checkChangeRequest('request-x', JSON.stringify(replay), undefined),
      checkChangeRequest('request-x', '[1', STORED_AT),
      checkChangeRequest('request-x', 'null', STORED_AT),
      checkChangeRequest('request-x', 7, STORED_AT),
    ];
    for (const result of refused) expect(result).toMatchObject({ ok: false, id: 'request-x' });
    expect(check({ ...replay, actor: `cli:${'a'.repeat(64)}`, connectionReason: 'x'.repeat(500) }).ok).toBe(
      true,
    );
  });
});
