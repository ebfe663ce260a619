import { describe, expect, it } from 'vitest';
import { JwksSignatureVerifier } from '../../../src/adapters/jwksSignatureVerifier';
import { LocalHealthSigner } from '../../../src/adapters/localHealthSigner';
import { EMPTY_CHAIN, sealRows } from '../../../src/domain/exportHealth/chain';
import { rowHash } from '../../../src/domain/exportHealth/canonicalRow';
import type { SignedHealthRow } from '../../../src/domain/exportHealth/healthRow';
import { parseRecordIds, splitRecordIds } from '../../../src/domain/exportHealth/recordIdParts';
import { verifyHealth, type PresentEventRow } from '../../../src/domain/exportHealth/verification';
import { changeRow, emptyDeliveries, windowRows } from '../../../src/domain/exportHealth/windowRows';
import { windowContaining, windowsToSeal } from '../../../src/domain/exportHealth/windows';
import { CA_TABLE, CERTIFICATE_TABLE } from '../../../src/domain/tableSchema';

const TENANT = '6f0b7c1e-1d2a-4c3b-9e8f-0123456789ab';
const id = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const now = new Date('2026-12-03T10:20:00Z');

async function sealedWindow(ids: { ca: string[]; cert: string[] }) {
  const signer = await LocalHealthSigner.generate();
  const deliveries = emptyDeliveries();
  deliveries.delivered[CA_TABLE] = new Set(ids.ca);
  deliveries.delivered[CERTIFICATE_TABLE] = new Set(ids.cert);
  deliveries.parked = 2;
  const window = windowContaining(new Date('2026-12-03T10:05:00Z'), 15);
  const contents = [
    changeRow(TENANT, new Date('2026-12-03T10:01:00Z'), 'settingsSaved', 'alice@contoso.com', 'new DCR', {
      state: 'connected',
    }),
    ...windowRows(TENANT, window, deliveries, { state: 'connected' }),
  ];
  const sealed = await sealRows(contents, EMPTY_CHAIN, signer, now);
  const verifier = new JwksSignatureVerifier({ keys: await signer.publicKeys() });
  return { signer, sealed, verifier };
}

function present(rows: Array<[string, string]>): PresentEventRow[] {
  return rows.map(([table, recordId]) => ({ table, recordId }));
}

/** What Log Analytics hands back: every column, absent ones as null or "", datetimes without milliseconds. */
function asQueried(row: SignedHealthRow): Record<string, unknown> {
  const copy: Record<string, unknown> = {
    TenantId: 'workspace-id',
    Type: 'EZCA_ExportHealth_CL',
    Actor_s: '',
  };
  for (const [key, value] of Object.entries(row)) {
    copy[key] = typeof value === 'string' && key.endsWith('_t') ? value.replace('.000Z', 'Z') : value;
  }
  return copy;
}

describe('health rows: chain and signatures', () => {
  it('a complete, untouched window verifies, including from query results whose values are reformatted', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [id(1), id(2)], cert: [id(3)] });
    expect(sealed.rows.map((row) => row.Sequence_d)).toEqual([1, 2, 3]);
    expect(sealed.head).toEqual({ sequence: 3, hash: rowHash(sealed.rows[2]!) });
    const report = await verifyHealth(
      sealed.rows.map(asQueried),
      present([
        [CA_TABLE, id(1)],
        [CA_TABLE, id(2)],
        [CERTIFICATE_TABLE, id(3).toUpperCase()],
      ]),
      verifier,
    );
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.windows).toHaveLength(1);
    expect(report.windows[0]).toMatchObject({
      status: 'complete',
      delivered: { [CA_TABLE]: 2, [CERTIFICATE_TABLE]: 1 },
    });
  });

  it('a row missing from a table is named, and the verdict fails', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [id(1), id(2)], cert: [] });
    const report = await verifyHealth(sealed.rows, present([[CA_TABLE, id(1)]]), verifier);
    expect(report.ok).toBe(false);
    expect(report.windows[0]?.status).toBe('rowsMissing');
    expect(report.windows[0]?.missing).toEqual([{ table: CA_TABLE, recordId: id(2) }]);
  });

  it('an event row no health row lists is reported as unexpected', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [id(1)], cert: [] });
    const report = await verifyHealth(
      sealed.rows,
      present([
        [CA_TABLE, id(1)],
        [CA_TABLE, id(9)],
      ]),
      verifier,
    );
    expect(report.ok).toBe(false);
    expect(report.unexpected).toEqual([{ table: CA_TABLE, recordId: id(9) }]);
  });

  it('a tampered row fails its signature', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [id(1), id(2)], cert: [] });
    // Someone with write access hides id(2) by rewriting the list and the count.
    const tampered = sealed.rows.map((row) =>
      row.Table_s === CA_TABLE ? { ...row, RecordIds_s: id(1), DeliveredCount_d: 1 } : row,
    );
    const report = await verifyHealth(tampered, present([[CA_TABLE, id(1)]]), verifier);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/health row 2: signature does not match the row \(altered\)/);
    expect(report.windows[0]?.status).toBe('notIntact');
  });

  it('a deleted health row breaks the chain', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [id(1)], cert: [id(3)] });
    const withoutSecond = sealed.rows.filter((row) => row.Sequence_d !== 2);
    const report = await verifyHealth(withoutSecond, present([[CERTIFICATE_TABLE, id(3)]]), verifier);
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/broken chain, health rows 2\.\.2 are missing/);
  });

  it('a row re-signed with a key that is not published is refused', async () => {
    const { sealed } = await sealedWindow({ ca: [id(1)], cert: [] });
    const other = await LocalHealthSigner.generate();
    const verifier = new JwksSignatureVerifier({ keys: await other.publicKeys() });
    const report = await verifyHealth(sealed.rows, present([[CA_TABLE, id(1)]]), verifier);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatch(/not among the published keys/);
  });

  it('a row without a signature is unsigned', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [], cert: [] });
    const rows = sealed.rows.map((row, index) => (index === 0 ? { ...row, Signature_s: '' } : row));
    const report = await verifyHealth(rows, [], verifier);
    expect(report.problems[0]).toMatch(/health row 1: unsigned/);
  });

  it('a row uploaded twice by a retry counts once', async () => {
    const { sealed, verifier } = await sealedWindow({ ca: [id(1)], cert: [] });
    const report = await verifyHealth(
      [...sealed.rows, sealed.rows[1]!],
      present([[CA_TABLE, id(1)]]),
      verifier,
    );
    expect(report.ok).toBe(true);
  });

  it('a lost part of a window is detected even at the chain end', async () => {
    const signer = await LocalHealthSigner.generate();
    const deliveries = emptyDeliveries();
    deliveries.delivered[CA_TABLE] = new Set(Array.from({ length: 30 }, (_, n) => id(n)));
    const window = windowContaining(now, 15);
    const rows = windowRows(TENANT, window, deliveries, { state: 'connected' }, 200);
    const caRows = rows.filter((row) => row.Table_s === CA_TABLE);
    expect(caRows.length).toBeGreaterThan(1);
    expect(caRows.every((row) => row.DeliveredCount_d === 30 && row.PartCount_d === caRows.length)).toBe(
      true,
    );
    // The certificate table's window row comes last in the chain: drop a CA part in the middle instead.
    const sealed = await sealRows(rows, EMPTY_CHAIN, signer, now);
    const verifier = new JwksSignatureVerifier({ keys: await signer.publicKeys() });
    const report = await verifyHealth(
      sealed.rows.filter((row) => !(row.Table_s === CA_TABLE && row.Part_d === 2)),
      Array.from({ length: 30 }, (_, n) => ({ table: CA_TABLE, recordId: id(n) })),
      verifier,
    );
    expect(report.ok).toBe(false);
    expect(report.windows[0]?.problems.join()).toMatch(/1 of \d+ parts missing/);
  });
});

describe('record id parts', () => {
  it('splits sorted, distinct, lower-case ids under the size limit and parses them back', () => {
    const ids = Array.from({ length: 100 }, (_, n) => id(99 - n).toUpperCase());
    const parts = splitRecordIds([...ids, ...ids], 370);
    expect(parts.every((part) => part.length <= 370)).toBe(true);
    expect(parts.flatMap(parseRecordIds)).toEqual(ids.map((value) => value.toLowerCase()).sort());
    expect(splitRecordIds([])).toEqual([]);
  });
});

describe('windows', () => {
  it('seals closed windows after the grace period, oldest first, bounded', () => {
    const at = new Date('2026-12-03T10:31:00Z');
    expect(windowsToSeal(undefined, at, 15, 120_000, 10).map((w) => w.start.toISOString())).toEqual([
      '2026-12-03T10:00:00.000Z',
    ]);
    // One minute after 10:30 the 10:15 window is still within its 2 minute grace.
    expect(
      windowsToSeal(new Date('2026-12-03T09:00:00Z'), at, 15, 120_000, 3).map((w) => w.start.toISOString()),
    ).toEqual(['2026-12-03T09:00:00.000Z', '2026-12-03T09:15:00.000Z', '2026-12-03T09:30:00.000Z']);
    expect(windowsToSeal(new Date('2026-12-03T10:15:00Z'), at, 15, 120_000, 3)).toEqual([]);
  });
});

describe('EZCA_ExportHealth_CL definition', () => {
  it('declares every signed column, the signature and TimeGenerated, and nothing else', async () => {
    const { HEALTH_COLUMNS, healthStreamDeclarationColumns, healthKqlSchema } =
      await import('../../../src/domain/tableSchema');
    const { SIGNED_COLUMNS } = await import('../../../src/domain/exportHealth/healthRow');
    expect(HEALTH_COLUMNS.map((column) => column.name).sort()).toEqual(
      [...SIGNED_COLUMNS, 'Signature_s', 'TimeGenerated'].sort(),
    );
    // Suffixes tell the type, as in the event tables.
    for (const column of HEALTH_COLUMNS) {
      const expected = { _s: 'string', _d: 'real', _t: 'datetime', _g: 'guid' }[column.name.slice(-2)];
      if (column.name !== 'TimeGenerated') expect(column.type, column.name).toBe(expected);
    }
    expect(
      healthStreamDeclarationColumns().find((column) => column.name === 'CustomerTenantId_g')?.type,
    ).toBe('string');
    expect(healthKqlSchema()).toContain('Sequence_d:real');
  });

  it('a full window part, sealed, stays within one Table Storage string property (kept while pending)', async () => {
    const signer = await LocalHealthSigner.generate();
    const deliveries = emptyDeliveries();
    deliveries.delivered[CA_TABLE] = new Set(Array.from({ length: 5000 }, (_, n) => id(n)));
    const rows = windowRows(TENANT, windowContaining(now, 15), deliveries, {
      state: 'active',
      reason: 'x'.repeat(300),
    });
    const sealed = await sealRows(rows, EMPTY_CHAIN, signer, now);
    const lengths = sealed.rows.map((row) => JSON.stringify(row).length);
    expect(Math.max(...lengths)).toBeLessThan(32_000);
    expect(sealed.rows.filter((row) => row.Table_s === CA_TABLE).length).toBeGreaterThan(5);
  });
});
