import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repeatedJsonKey } from '../../src/domain/jsonDuplicateKeys';

const check = (text: string): string | undefined => repeatedJsonKey(text, JSON.parse(text));

describe('repeatedJsonKey', () => {
  it('walks nesting deeper than the call stack without throwing', () => {
    const depth = 50_000;
    expect(check(`{"x":${'['.repeat(depth)}${']'.repeat(depth)}}`)).toBeUndefined();
    expect(check(`${'[{"a":1,"b":'.repeat(5_000)}0${'}]'.repeat(5_000)}`)).toBeUndefined();
    expect(check(`${'[{"a":1,"a":'.repeat(5_000)}0${'}]'.repeat(5_000)}`)).toBe('a');
  });

  it('finds nothing in any JSON.stringify output, whatever its strings hold', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined) ?? 'null';
        expect(check(text)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('finds a key repeated in any object of any JSON text, by its decoded name', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
        fc.jsonValue(),
        fc.boolean(),
        fc.nat(),
        (object, value, nestIt, pick) => {
          const keys = Object.keys(object);
          const key = keys[pick % keys.length] as string;
          const inner = `{"${escapeAll(key)}":${JSON.stringify(value)},${JSON.stringify(object).slice(1)}`;
          const text = nestIt ? `[1,{"outer":${inner}},"x"]` : inner;
          expect(check(text)).toBe(key);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads "\\u0074enantId" as tenantId, and keeps sibling objects apart', () => {
    expect(check('{"tenantId":"a","\\u0074enantId":"b"}')).toBe('tenantId');
    expect(check('{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}')).toBeUndefined();
    expect(check('{"s":"\\\\","t":"\\"k\\":"}')).toBeUndefined();
  });
});

/** Every character as a \u escape: a spelling JSON.stringify never produces. */
function escapeAll(key: string): string {
  let escaped = '';
  for (let index = 0; index < key.length; index += 1) {
    escaped += `\\u${key.charCodeAt(index).toString(16).padStart(4, '0')}`;
  }
  return escaped;
}
