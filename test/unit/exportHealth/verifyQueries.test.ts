import { describe, expect, it } from 'vitest';
import { chainQuery, MAX_CHAIN_SPANS, missingChainSpans } from '../../../src/cli/verifyQueries';

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const rows = (tenant: string, ...sequences: number[]) =>
  sequences.map((Sequence_d) => ({ CustomerTenantId_g: tenant, Sequence_d }));

describe('missingChainSpans', () => {
  it("asks for each tenant's predecessor and the rows sealed out of window order, nothing already read", () => {
    const spans = missingChainSpans([
      // Tenant A: rows 41..44 and 50..52 read; 40 precedes the first, 45..49 were sealed out of window order.
      ...rows(A.toUpperCase(), 41, 42, 43, 44, 50, 51, 52),
      // Tenant B starts its chain inside the range: nothing before 1.
      ...rows(B, 1, 2, 3),
    ]);
    expect(spans).toEqual([
      { tenantId: A, from: 40, to: 40 },
      { tenantId: A, from: 45, to: 49 },
    ]);
    expect(
      chainQuery({ from: new Date('2026-12-03T10:00:00Z'), to: new Date('2026-12-03T11:00:00Z') }, spans),
    ).toBe(`EZCA_ExportHealth_CL
| where WindowStart_t < datetime(2026-12-03T09:00:00.000Z) or WindowEnd_t > datetime(2026-12-03T12:00:00.000Z)
| where (tostring(CustomerTenantId_g) == "${A}" and Sequence_d between (40 .. 40)) or (tostring(CustomerTenantId_g) == "${A}" and Sequence_d between (45 .. 49))
| project ${chainQuery({ from: new Date(0), to: new Date(1) }, spans).split('| project ')[1]}`);
  });

  it('is bounded however many holes the rows have, and ignores rows without a tenant or sequence', () => {
    const holes = Array.from({ length: 200 }, (_, n) => 2 * n + 10);
    const spans = missingChainSpans([
      ...rows(A, ...holes),
      { CustomerTenantId_g: 'not-a-guid', Sequence_d: 5 },
      { CustomerTenantId_g: B, Sequence_d: 'x' },
    ]);
    expect(spans).toHaveLength(MAX_CHAIN_SPANS);
    expect(spans.every((span) => span.tenantId === A && span.from === span.to)).toBe(true);
  });
});
