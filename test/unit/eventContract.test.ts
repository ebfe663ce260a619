import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import {
  type AuditEvent,
  LIMITS,
  parseEventMessage,
  type Problem,
  utf8JsonBytes,
  validateEvent,
} from '../../src/domain/eventContract';
import { eventToRow } from '../../src/domain/rowMapper';
import {
  caEventWithoutCaArb,
  candidateEventArb,
  mutatedEventArb,
  validEventArb,
} from '../support/auditEventArbitraries';
import {
  CA_DELETED_MINIMAL,
  CERTIFICATE_CREATED,
  INVALID_EVENTS,
  REQUEST_DENIED_IPV6,
  VALID_EVENTS,
} from '../fixtures/auditEvents';

function problemsOf(input: unknown): Problem[] {
  const result = validateEvent(input);
  if (result.ok) throw new Error(`expected refusal, got a valid event ${JSON.stringify(result.event)}`);
  return result.problems;
}

function reasonFor(input: unknown, field: string): string {
  const problem = problemsOf(input).find((candidate) => candidate.field === field);
  if (!problem) throw new Error(`no problem names ${field}: ${JSON.stringify(problemsOf(input))}`);
  return problem.reason;
}

const namesField = (problem: Problem, field: string): boolean =>
  problem.field === field || problem.field.startsWith(`${field}.`) || problem.field.startsWith(`${field}[`);

describe('validateEvent: fixtures', () => {
  it.each(VALID_EVENTS)('accepts $name', ({ event }) => {
    expect(validateEvent(event)).toMatchObject({ ok: true });
  });

  it.each(INVALID_EVENTS)('refuses $name, naming $field', ({ event, field }) => {
    expect(problemsOf(event).some((problem) => namesField(problem, field))).toBe(true);
  });
});

describe('validateEvent: reasons a PKI developer can act on', () => {
  it('lists the valid event IDs for an unknown one', () => {
    const reason = reasonFor({ ...CERTIFICATE_CREATED, eventId: 4886 }, 'eventId');
    expect(reason).toContain('4886');
    for (const entry of EVENT_CATALOG) expect(reason).toContain(String(entry.eventId));
  });

  it('explains that the connection-test event is not for producers', () => {
    expect(reasonFor({ ...CERTIFICATE_CREATED, eventId: 1 }, 'eventId')).toMatch(
      /connection-test.*Create Connection/,
    );
  });

  it('says a string event ID must be a number', () => {
    expect(reasonFor({ ...CERTIFICATE_CREATED, eventId: '4887' }, 'eventId')).toMatch(/number 4887/);
  });

  it('says which schema versions are supported', () => {
    expect(reasonFor({ ...CERTIFICATE_CREATED, schemaVersion: '2' }, 'schemaVersion')).toMatch(
      /"2".*supports "1"/,
    );
    expect(reasonFor({ ...CERTIFICATE_CREATED, schemaVersion: undefined }, 'schemaVersion')).toMatch(
      /required.*"1"/,
    );
  });

  it('gives the expected time format and asks for UTC when an offset is sent', () => {
    const reason = reasonFor({ ...CERTIFICATE_CREATED, time: '2024-05-01T14:34:56+02:00' }, 'time');
    expect(reason).toMatch(/UTC ending in Z, e\.g\. 2024-05-01T12:34:56\.789Z/);
    expect(reason).toMatch(/convert the offset/);
  });

  it('names a misspelt field, lists the allowed ones and refuses it', () => {
    const reason = reasonFor({ ...CA_DELETED_MINIMAL, tennantId: 'x' }, 'tennantId');
    expect(reason).toMatch(/not a field/);
    expect(reason).toContain('tenantId');
    const nested = reasonFor(
      { ...CERTIFICATE_CREATED, actor: { ipAdress: '203.0.113.7' } },
      'actor.ipAdress',
    );
    expect(nested).toContain('ipAddress');
  });

  it('says a missing field is required and a wrong type what it should be', () => {
    expect(reasonFor({ ...CERTIFICATE_CREATED, message: undefined }, 'message')).toBe('is required');
    expect(reasonFor({ ...CERTIFICATE_CREATED, actor: { objectId: 7 } }, 'actor.objectId')).toBe(
      'must be a string, not a number',
    );
    expect(reasonFor({ ...CERTIFICATE_CREATED, details: [] }, 'details')).toMatch(/object, not an array/);
  });

  it('gives the size of an oversize field and the limit', () => {
    expect(reasonFor({ ...CERTIFICATE_CREATED, message: 'm'.repeat(5000) }, 'message')).toBe(
      `is 5000 characters long; at most ${LIMITS.messageChars} are allowed`,
    );
    const details = reasonFor({ ...CERTIFICATE_CREATED, details: { csr: 'A'.repeat(60_000) } }, 'details');
    expect(details).toMatch(new RegExp(`60\\d{3} bytes.*at most ${LIMITS.detailsBytes}`));
  });

  it('points into details at a value JSON cannot carry', () => {
    const event = {
      ...CERTIFICATE_CREATED,
      details: { request: { at: new Date(0), tags: [1, Number.NaN] } },
    };
    const problems = problemsOf(event);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.field).toMatch(/^details\.request\.(at|tags\[1\])$/);
  });

  it('refuses a CA event without its CA', () => {
    expect(reasonFor({ ...CA_DELETED_MINIMAL, ca: undefined }, 'ca')).toMatch(/required on CA events/);
  });

  it('reports every problem at once', () => {
    const fields = problemsOf({ ...CERTIFICATE_CREATED, id: 'x', time: 'yesterday', outcome: 'ok' }).map(
      (problem) => problem.field,
    );
    expect(fields).toEqual(expect.arrayContaining(['id', 'time', 'outcome']));
  });

  it('survives details nested far deeper than JSON.stringify can recurse', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown[];
    expect(
      reasonFor({ ...CERTIFICATE_CREATED, details: { deep } }, 'details.deep' + '[0]'.repeat(15)),
    ).toMatch(/levels/);
  });
});

describe('validateEvent: IP addresses', () => {
  const withIp = (ipAddress: string) => validateEvent({ ...CERTIFICATE_CREATED, actor: { ipAddress } }).ok;

  it('accepts every IPv4 and IPv6 address, including IPv4-embedded forms', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (address) => withIp(address)),
      { numRuns: 500 },
    );
  });

  it('accepts exactly what Node itself parses as an IP address', () => {
    const noisy = fc.string({
      unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'),
      minLength: 1,
      maxLength: 45,
    });
    const nearlyIpv6 = fc
      .tuple(fc.ipV6(), fc.nat(40), fc.constantFrom('', ':', '::', '0', '.1', ':1.2.3.4'))
      .map(([address, at, insert]) => address.slice(0, at) + insert + address.slice(at));
    fc.assert(
      fc.property(fc.oneof(noisy, nearlyIpv6, fc.ipV4Extended()), (candidate) => {
        expect(withIp(candidate), candidate).toBe(isIP(candidate) !== 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('validateEvent: canonical form', () => {
  it('stores GUIDs in lower case and certificate hex in upper case', () => {
    const result = validateEvent({
      ...CERTIFICATE_CREATED,
      id: CERTIFICATE_CREATED.id.toUpperCase(),
      tenantId: CERTIFICATE_CREATED.tenantId.toUpperCase(),
      actor: { objectId: 'ABCDEF01-2345-6789-ABCD-EF0123456789' },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    expect(result.event.id).toBe(CERTIFICATE_CREATED.id);
    expect(result.event.tenantId).toBe(CERTIFICATE_CREATED.tenantId);
    expect(result.event.actor?.objectId).toBe('abcdef01-2345-6789-abcd-ef0123456789');
    expect(result.event.certificate?.serialNumber).toBe(
      CERTIFICATE_CREATED.certificate.serialNumber.toUpperCase(),
    );
    expect(result.event.certificate?.thumbprint).toBe(
      CERTIFICATE_CREATED.certificate.thumbprint.toUpperCase(),
    );
  });

  it('is idempotent: a canonical event validates to itself', () => {
    fc.assert(
      fc.property(validEventArb, (input) => {
        const first = validateEvent(input);
        if (!first.ok) return false;
        // Compared as it travels, as JSON (which, for one, turns -0 into 0).
        const transported = JSON.parse(JSON.stringify(first.event)) as unknown;
        expect(validateEvent(transported)).toEqual({ ok: true, event: transported });
        return true;
      }),
    );
  });
});

describe('parseEventMessage', () => {
  it('accepts a JSON string, bytes and an already-parsed object alike', () => {
    const text = JSON.stringify(REQUEST_DENIED_IPV6);
    for (const body of [text, Buffer.from(text), new TextEncoder().encode(text), REQUEST_DENIED_IPV6]) {
      expect(parseEventMessage(body)).toMatchObject({ ok: true, event: { id: REQUEST_DENIED_IPV6.id } });
    }
  });

  it('accepts UTF-8 bytes behind a byte order mark', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify(REQUEST_DENIED_IPV6)),
    ]);
    expect(parseEventMessage(bytes)).toMatchObject({ ok: true, event: { id: REQUEST_DENIED_IPV6.id } });
  });

  it('refuses bytes that are not UTF-8 instead of replacing them', () => {
    const latin1 = Buffer.from(
      JSON.stringify({ ...REQUEST_DENIED_IPV6, message: 'Zertifikat für café' }),
      'latin1',
    );
    const result = parseEventMessage(latin1);
    expect(result).toMatchObject({ ok: false, problems: [{ field: '(event)' }] });
    if (!result.ok) expect(result.problems[0]?.reason).toMatch(/not UTF-8.*UTF-8 JSON/);
  });

  it('says plainly when the body is not JSON', () => {
    const result = parseEventMessage('eventId=4887&tenant=contoso');
    expect(result).toMatchObject({ ok: false, problems: [{ field: '(event)' }] });
    if (!result.ok) expect(result.problems[0]?.reason).toMatch(/not JSON.*application\/json/);
  });

  it('refuses JSON that is not an object', () => {
    expect(parseEventMessage('"hello"')).toMatchObject({
      ok: false,
      problems: [{ field: '(event)', reason: 'must be a JSON object, not a string' }],
    });
  });
});

describe('validateEvent: properties', () => {
  it('accepts every well-formed event', () => {
    fc.assert(
      fc.property(validEventArb, (event) => {
        const result = validateEvent(event);
        if (!result.ok) throw new Error(JSON.stringify(result.problems));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every event with one field broken, naming that field and no other', () => {
    fc.assert(
      fc.property(mutatedEventArb, ({ event, mutation }) => {
        const problems = problemsOf(event);
        expect(
          problems.some((problem) => namesField(problem, mutation.field)),
          mutation.label,
        ).toBe(true);
        for (const problem of problems) expect(namesField(problem, mutation.field), problem.field).toBe(true);
        for (const problem of problems) expect(problem.reason.length).toBeGreaterThan(8);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a CA event whose ca was removed, naming only ca', () => {
    fc.assert(
      fc.property(caEventWithoutCaArb, (event) => {
        expect(problemsOf(event).map((problem) => problem.field)).toEqual(['ca']);
      }),
    );
  });

  it('never accepts an event that serializes past the bounds', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(candidateEventArb, (input) => {
        const result = validateEvent(input);
        if (!result.ok) {
          refused++;
          return;
        }
        accepted++;
        const event: AuditEvent = result.event;
        expect(utf8JsonBytes(event)).toBeLessThanOrEqual(LIMITS.eventBytes);
        if (event.details) expect(utf8JsonBytes(event.details)).toBeLessThanOrEqual(LIMITS.detailsBytes);
        for (const value of Object.values(eventToRow(event).row)) {
          if (typeof value === 'string') {
            expect(Buffer.byteLength(value, 'utf8')).toBeLessThanOrEqual(LIMITS.columnBytes);
          }
        }
      }),
      { numRuns: 300 },
    );
    // The generator is meant to straddle the limits: both outcomes must occur.
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('keeps the worst case of every field within the event and column limits', () => {
    // Every string at its limit in the character that costs most once escaped as JSON.
    const costly = (count: number) => '\u0001'.repeat(count);
    const fill = (budget: number, itemChars: number) =>
      Array.from({ length: Math.floor(budget / (itemChars * 6 + 3)) }, () => costly(itemChars));
    const worst = {
      ...CERTIFICATE_CREATED,
      message: costly(LIMITS.messageChars),
      actor: { ...CERTIFICATE_CREATED.actor, upn: costly(LIMITS.upnChars) },
      ca: { id: costly(LIMITS.caIdChars), name: costly(LIMITS.caNameChars) },
      certificate: {
        ...CERTIFICATE_CREATED.certificate,
        subject: costly(LIMITS.subjectChars),
        template: costly(LIMITS.templateChars),
        requester: costly(LIMITS.requesterChars),
      },
    };
    const result = validateEvent(worst);
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const row = eventToRow(result.event).row;
    for (const value of Object.values(row)) {
      if (typeof value === 'string')
        expect(Buffer.byteLength(value, 'utf8')).toBeLessThanOrEqual(LIMITS.columnBytes);
    }
    // details and subject alternative names at their own limits push the event past its limit, which is refused.
    const withLargeParts = {
      ...worst,
      details: { blob: costly(Math.floor((LIMITS.detailsBytes - 20) / 6)) },
      certificate: { ...worst.certificate, subjectAltNames: fill(LIMITS.subjectAltNamesBytes, 1000) },
    };
    expect(utf8JsonBytes(withLargeParts.details)).toBeLessThanOrEqual(LIMITS.detailsBytes);
    expect(problemsOf(withLargeParts)).toEqual([
      { field: '(event)', reason: expect.stringMatching(/bytes of JSON; at most 131072/) as unknown },
    ]);
  });
});
