import { describe, expect, it } from 'vitest';
import { checkCoverage, type Span } from '../../../src/domain/exportHealth/coverage';

const T = (hhmm: string): number => Date.parse(`2026-12-03T${hhmm}:00Z`);
const windows = (...starts: string[]): Span[] =>
  starts.map((start) => ({ start: T(start), end: T(start) + 15 * 60_000 }));
const RANGE = { from: T('10:00'), to: T('12:00'), slackMs: 15 * 60_000 };

describe('checkCoverage', () => {
  it('accepts a gap that a signed exportDisabled change explains, and fails the same gap without it', () => {
    const trail = {
      tenantId: 't',
      windows: windows('09:45', '10:00', '10:15', '11:15', '11:30', '11:45'),
      disabledAt: [T('10:20')],
      first: { sequence: 7, at: T('10:00') },
    };
    expect(checkCoverage(trail, RANGE)).toEqual({ problems: [], pending: [] });
    const unexplained = checkCoverage({ ...trail, disabledAt: [] }, RANGE);
    expect(unexplained.problems).toEqual([
      'tenant t: no health window covers 2026-12-03T10:30:00.000Z .. 2026-12-03T11:15:00.000Z and no signed exportDisabled change explains it: health rows (and probably events) were purged, or heartbeats stopped',
    ]);
  });

  it('a change that disabled the export long before the gap does not explain it', () => {
    const trail = {
      tenantId: 't',
      windows: windows('09:45', '10:00', '11:15', '11:30', '11:45'),
      disabledAt: [T('09:00')],
      first: { sequence: 3, at: T('09:00') },
    };
    expect(checkCoverage(trail, RANGE).problems).toHaveLength(1);
  });
});
