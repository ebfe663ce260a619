import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/domain/eventContract';
import { auditEventJsonSchema } from '../../src/domain/eventJsonSchema';
import { candidateEventArb, guidArb, mutatedEventArb, timeArb } from '../support/auditEventArbitraries';
import { compilePublishedSchema, loadPublishedSchema } from '../support/jsonSchemaValidator';
import { CERTIFICATE_CREATED, INVALID_EVENTS, VALID_EVENTS } from '../fixtures/auditEvents';

/**
 * The published JSON Schema file and validateEvent must accept and refuse the
 * same events, so a producer that checks its events against the file (in any
 * language) gets the same answer the queue's consumer will give.
 */

const ajvValidate = compilePublishedSchema();

function agree(event: unknown): void {
  const byValidator = validateEvent(event).ok;
  const bySchema = ajvValidate(event);
  if (byValidator !== bySchema) {
    const problems = validateEvent(event);
    throw new Error(
      `validateEvent says ${byValidator}, the JSON Schema says ${bySchema} for ${JSON.stringify(event).slice(0, 500)}: ${JSON.stringify(problems.ok ? ajvValidate.errors : problems.problems)}`,
    );
  }
}

describe('published JSON Schema', () => {
  it('is the file the code generates (run `npm run docs` after changing the contract)', () => {
    expect(loadPublishedSchema()).toEqual(auditEventJsonSchema());
  });

  it.each(VALID_EVENTS)('accepts the valid fixture: $name', ({ event }) => {
    expect(ajvValidate(event), JSON.stringify(ajvValidate.errors)).toBe(true);
  });

  it.each(INVALID_EVENTS)('refuses the invalid fixture: $name', ({ event }) => {
    expect(ajvValidate(event)).toBe(false);
  });

  it('agrees with validateEvent on generated events around the size limits', () => {
    fc.assert(fc.property(candidateEventArb, agree), { numRuns: 200 });
  });

  it('agrees with validateEvent on events with one field broken', () => {
    fc.assert(
      fc.property(mutatedEventArb, ({ event }) => agree(event)),
      { numRuns: 400 },
    );
  });

  it('agrees with validateEvent on arbitrary strings in formatted fields', () => {
    const field = <T>(name: string, arbitrary: fc.Arbitrary<T>) =>
      arbitrary.map((value) => ({ ...CERTIFICATE_CREATED, [name]: value }));
    const nested = <T>(parent: string, name: string, arbitrary: fc.Arbitrary<T>) =>
      arbitrary.map((value) => ({ ...CERTIFICATE_CREATED, [parent]: { [name]: value } }));
    const noisyString = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF-:.TZz+ '), maxLength: 45 }),
    );
    const candidates = fc.oneof(
      field('id', fc.oneof(guidArb, noisyString)),
      field('tenantId', fc.oneof(guidArb, noisyString)),
      field(
        'time',
        fc.oneof(
          timeArb,
          noisyString,
          timeArb.map((time) => time.replace('Z', '+00:00')),
          timeArb.map((time) => time.toLowerCase()),
        ),
      ),
      field('eventId', fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.double(), noisyString)),
      nested(
        'actor',
        'ipAddress',
        fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), noisyString, fc.domain()),
      ),
      nested('actor', 'objectId', fc.oneof(guidArb, noisyString)),
      nested('certificate', 'serialNumber', noisyString),
      nested(
        'certificate',
        'thumbprint',
        fc.oneof(
          noisyString,
          fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 38, maxLength: 66 }),
        ),
      ),
      field(
        'details',
        fc.oneof(fc.jsonValue(), fc.dictionary(fc.string({ maxLength: 140 }), fc.jsonValue())),
      ),
      fc.anything(),
    );
    fc.assert(fc.property(candidates, agree), { numRuns: 1000 });
  });
});
