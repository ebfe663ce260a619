import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AZURE_REGIONS, normalizeLocation, regionDisplayName } from '../../src/domain/azureRegions';
import { ValidationError } from '../../src/domain/errors';

const regions = Object.entries(AZURE_REGIONS);
const region = fc.constantFrom(...regions);

describe('normalizeLocation', () => {
  it('maps display names and location names, in any case and spacing, to the ARM location name', () => {
    fc.assert(
      fc.property(
        region,
        fc.boolean(),
        fc.array(fc.constantFrom(' ', '  ', '\t'), { maxLength: 3 }),
        fc.func(fc.boolean()),
        ([name, display], useDisplay, padding, upper) => {
          const base = useDisplay ? display : name;
          const cased = [...base]
            .map((char, i) => (upper(i) ? char.toUpperCase() : char.toLowerCase()))
            .join('');
          expect(normalizeLocation(`${padding.join('')}${cased}${padding.join('')}`)).toBe(name);
        },
      ),
    );
  });

  it('knows the portal examples and the sovereign clouds', () => {
    expect(normalizeLocation('East US')).toBe('eastus');
    expect(normalizeLocation('West Europe')).toBe('westeurope');
    expect(normalizeLocation('USGov Virginia')).toBe('usgovvirginia');
    expect(normalizeLocation('China North 3')).toBe('chinanorth3');
    expect(regionDisplayName('eastus2')).toBe('East US 2');
  });

  it('refuses anything that is not a region, saying where to find the real one', () => {
    const known = new Set(regions.map(([name]) => name));
    fc.assert(
      fc.property(
        fc
          .string({ minLength: 1, maxLength: 30 })
          .filter((s) => s.trim() !== '' && !known.has(s.replace(/\s+/g, '').toLowerCase())),
        (input) => {
          let caught: unknown;
          try {
            normalizeLocation(input);
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(ValidationError);
          const error = caught as ValidationError;
          expect(error.code).toBe('InvalidLocation');
          expect(error.field).toBe('location');
          expect(error.message).toContain('Location');
          expect(error.message).toContain('az monitor log-analytics workspace show');
        },
      ),
    );
  });

  it('refuses look-alikes a user might type', () => {
    for (const input of ['east-us', 'East US 9', 'us east', 'Europe', 'eastus.', undefined, 7, '']) {
      expect(() => normalizeLocation(input)).toThrow(ValidationError);
    }
  });
});
