import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors';
import { parseWorkspaceResourceId, sameResourceId } from '../../src/domain/workspaceResourceId';

const resourceGroup = fc.stringMatching(/^[A-Za-z0-9_\-.()]{0,89}[A-Za-z0-9_\-()]$/);
const workspaceName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$/);
const valid = fc.record({
  subscription: fc.uuid(),
  resourceGroup,
  workspaceName,
  subscriptionsKey: fc.mixedCase(fc.constant('subscriptions')),
  groupsKey: fc.mixedCase(fc.constant('resourceGroups')),
  providersKey: fc.mixedCase(fc.constant('providers')),
  provider: fc.mixedCase(fc.constant('Microsoft.OperationalInsights')),
  type: fc.mixedCase(fc.constant('workspaces')),
});
type Parts = typeof valid extends fc.Arbitrary<infer T> ? T : never;

function idOf(parts: Parts): string {
  return `/${parts.subscriptionsKey}/${parts.subscription}/${parts.groupsKey}/${parts.resourceGroup}/${parts.providersKey}/${parts.provider}/${parts.type}/${parts.workspaceName}`;
}

function refusal(input: unknown): ValidationError {
  try {
    parseWorkspaceResourceId(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('parseWorkspaceResourceId', () => {
  it('accepts every well-formed ID, matching provider and type case-insensitively', () => {
    fc.assert(
      fc.property(valid, (parts) => {
        const ref = parseWorkspaceResourceId(idOf(parts));
        expect(ref.subscriptionId).toBe(parts.subscription.toLowerCase());
        expect(ref.resourceGroup).toBe(parts.resourceGroup);
        expect(ref.workspaceName).toBe(parts.workspaceName);
        expect(ref.resourceGroupId).toBe(
          `/subscriptions/${parts.subscription.toLowerCase()}/resourceGroups/${parts.resourceGroup}`,
        );
        expect(ref.resourceId).toBe(
          `${ref.resourceGroupId}/providers/Microsoft.OperationalInsights/workspaces/${parts.workspaceName}`,
        );
        // The canonical form parses to itself.
        expect(parseWorkspaceResourceId(ref.resourceId)).toEqual(ref);
      }),
    );
  });

  it('accepts the ID pasted with surrounding whitespace', () => {
    const ref = parseWorkspaceResourceId(
      '  /subscriptions/6F1D5B0C-1A2B-4C3D-8E9F-0A1B2C3D4E5F/resourceGroups/rg-siem/providers/Microsoft.OperationalInsights/workspaces/law-sentinel\n',
    );
    expect(ref.subscriptionId).toBe('6f1d5b0c-1a2b-4c3d-8e9f-0a1b2c3d4e5f');
    expect(ref.workspaceName).toBe('law-sentinel');
  });

  it('accepts one trailing slash, as ARM does, and returns the ID without it', () => {
    fc.assert(
      fc.property(valid, (parts) => {
        const withSlash = parseWorkspaceResourceId(`${idOf(parts)}/`);
        expect(withSlash).toEqual(parseWorkspaceResourceId(idOf(parts)));
        expect(withSlash.resourceId.endsWith('/')).toBe(false);
      }),
    );
  });

  it('refuses anything else after the workspace name: child resources, two slashes, query, fragment', () => {
    fc.assert(
      fc.property(
        valid,
        fc.constantFrom(
          '/tables/EZCA_CAs_CL',
          '//',
          '/tables/',
          '?api-version=2022-10-01',
          '#x',
          '/providers/x/y',
        ),
        (parts, suffix) => {
          expect(refusal(idOf(parts) + suffix).code).toBe('InvalidWorkspaceResourceId');
        },
      ),
    );
  });

  it('refuses a subscription that is not a GUID', () => {
    fc.assert(
      fc.property(
        valid,
        fc
          .string({ minLength: 1, maxLength: 40 })
          .filter(
            (s) =>
              !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s) && !s.includes('/'),
          ),
        (parts, subscription) => {
          const error = refusal(idOf({ ...parts, subscription }));
          expect(error.field).toBe('workspaceResourceId');
        },
      ),
    );
  });

  it('refuses resource group names that break ARM rules', () => {
    const bad = fc.oneof(
      resourceGroup.map((name) => `${name.slice(0, 89)}.`),
      fc.stringMatching(/^[A-Za-z0-9]{91,120}$/),
      fc
        .tuple(resourceGroup, fc.constantFrom('!', '@', ' ', '%', '+', ',', ';', '=', '~', '*', "'"))
        .map(([name, char]) => `${name.slice(0, 40)}${char}x`),
      fc.constant(''),
    );
    fc.assert(
      fc.property(valid, bad, (parts, name) => void refusal(idOf({ ...parts, resourceGroup: name }))),
    );
  });

  it('refuses workspace names that break Log Analytics rules', () => {
    const bad = fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9]{1,3}$/),
      fc.stringMatching(/^[A-Za-z0-9]{64,80}$/),
      workspaceName.map((name) => `-${name.slice(1)}`),
      workspaceName.map((name) => `${name.slice(0, -1)}-`),
      workspaceName.map((name) => `${name.slice(0, 2)}_${name.slice(2)}`),
      workspaceName.map((name) => `${name.slice(0, 2)}.${name.slice(2)}`),
    );
    fc.assert(
      fc.property(valid, bad, (parts, name) => void refusal(idOf({ ...parts, workspaceName: name }))),
    );
  });

  it('refuses other providers, types and key words', () => {
    fc.assert(
      fc.property(
        valid,
        fc.constantFrom<[keyof Parts, string]>(
          ['provider', 'Microsoft.Insights'],
          ['provider', 'Microsoft.OperationalInsightsX'],
          ['type', 'clusters'],
          ['type', 'workspace'],
          ['subscriptionsKey', 'subscription'],
          ['groupsKey', 'resourcegroup'],
          ['providersKey', 'provider'],
        ),
        (parts, [key, value]) => void refusal(idOf({ ...parts, [key]: value })),
      ),
    );
  });

  it('refuses missing, non-string and relative input with the expected format in the message', () => {
    for (const input of [undefined, null, 42, {}, '', '   ', 'subscriptions/x']) {
      const error = refusal(input);
      expect(error.message).toContain('/subscriptions/<subscription GUID>/resourceGroups/');
    }
  });

  it('never throws anything but a ValidationError, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          valid.map(idOf).map((id) => id.replace(/[a-z]/, '/')),
        ),
        (input) => {
          try {
            parseWorkspaceResourceId(input);
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
          }
        },
      ),
    );
  });

  it('compares resource IDs case-insensitively', () => {
    expect(sameResourceId('/subscriptions/A/resourceGroups/RG', '/SUBSCRIPTIONS/a/resourcegroups/rg')).toBe(
      true,
    );
    expect(sameResourceId('/subscriptions/a/resourceGroups/rg1', '/subscriptions/a/resourceGroups/rg2')).toBe(
      false,
    );
  });
});
