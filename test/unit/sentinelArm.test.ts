import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { armLiteral, buildArmTemplate } from '../../scripts/sentinelArm';
import {
  ARM_TEMPLATE_PATH,
  ANALYTIC_RULES_DIR,
  isoDurationMinutes,
  loadSentinelContent,
  SENTINEL_DIR,
  SentinelContentError,
  sentinelDurationToIso,
} from '../../scripts/sentinelContent';

const content = loadSentinelContent();
const committedText = readFileSync(ARM_TEMPLATE_PATH, 'utf8');

interface Resource {
  type: string;
  apiVersion: string;
  name: string;
  kind?: string;
  scope?: string;
  comments?: string;
  properties: Record<string, unknown>;
}

function committed(): { parameters: Record<string, unknown>; resources: Resource[] } {
  return JSON.parse(committedText) as { parameters: Record<string, unknown>; resources: Resource[] };
}

/** Every string anywhere in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') {
    return [value];
  }
  if (Array.isArray(value)) {
    return value.flatMap(strings);
  }
  if (value !== null && typeof value === 'object') {
    return Object.values(value as Record<string, unknown>).flatMap(strings);
  }
  return [];
}

/** Every value held under the given property name, anywhere in a JSON value. */
function valuesOf(value: unknown, property: string): unknown[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => valuesOf(item, property));
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => [
      ...(key === property ? [child] : []),
      ...valuesOf(child, property),
    ]);
  }
  return [];
}

function resourceFrom(file: string): Resource {
  const matches = committed().resources.filter((resource) => resource.comments?.includes(file) ?? false);
  expect(matches, `resources generated from ${file}`).toHaveLength(1);
  return matches[0] as Resource;
}

describe('sentinel/azuredeploy.sentinel.json', () => {
  it('is well-formed JSON describing a deployment template', () => {
    expect(() => committed()).not.toThrow();
    expect(JSON.parse(committedText)).toMatchObject({
      $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
      contentVersion: '1.0.0.0',
    });
  });

  it('is exactly what npm run sentinel:build generates from the sources', () => {
    expect(
      JSON.parse(committedText),
      'stale template: run npm run sentinel:build and commit the result',
    ).toEqual(buildArmTemplate(content));
  });

  it('deploys every analytic rule at its stable id, scoped to the workspace, with the same query', () => {
    for (const { file, content: rule } of content.analyticRules) {
      const resource = resourceFrom(file);
      expect(resource).toMatchObject({
        type: 'Microsoft.SecurityInsights/alertRules',
        name: rule.id,
        kind: rule.kind,
        scope: "[format('Microsoft.OperationalInsights/workspaces/{0}', parameters('workspaceName'))]",
      });
      expect(resource.properties).toMatchObject({
        displayName: rule.name,
        severity: rule.severity,
        enabled: true,
        query: rule.query.trim(),
        tactics: rule.tactics,
      });
      if (rule.kind === 'Scheduled') {
        expect(resource.properties).toMatchObject({
          queryFrequency: sentinelDurationToIso(rule.queryFrequency),
          queryPeriod: sentinelDurationToIso(rule.queryPeriod),
          triggerOperator: 'GreaterThan',
          triggerThreshold: rule.triggerThreshold,
        });
      } else {
        expect(resource.properties).not.toHaveProperty('queryFrequency');
        expect(resource.properties).not.toHaveProperty('queryPeriod');
      }
    }
  });

  it('deploys every hunting query as a saved search Sentinel lists under Hunting', () => {
    for (const { file, content: hunt } of content.huntingQueries) {
      const resource = resourceFrom(file);
      expect(resource.type).toBe('Microsoft.OperationalInsights/workspaces/savedSearches');
      expect(resource.name).toBe(`[concat(parameters('workspaceName'), '/${hunt.id}')]`);
      expect(resource.properties).toMatchObject({
        category: 'Hunting Queries',
        displayName: hunt.name,
        query: hunt.query.trim(),
        version: 2,
      });
      expect(resource.properties.tags).toEqual([
        { name: 'description', value: hunt.description.trim() },
        { name: 'tactics', value: hunt.tactics.join(',') },
        { name: 'techniques', value: expect.stringMatching(/^T\d{4}(,T\d{4})*$/) as unknown },
      ]);
    }
  });

  it('deploys every workbook with its JSON as serializedData, bound to the workspace', () => {
    for (const { file, content: workbook } of content.workbooks) {
      const resource = resourceFrom(file);
      const { metadata, ...serialized } = workbook;
      expect(resource).toMatchObject({ type: 'Microsoft.Insights/workbooks', kind: 'shared' });
      expect(resource.properties.displayName).toBe(metadata.title);
      expect(JSON.parse(resource.properties.serializedData as string)).toEqual(serialized);
      expect(resource.properties.sourceId).toBe(
        "[resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspaceName'))]",
      );
    }
  });

  it('holds nothing that no source file produced', () => {
    const sources = [
      ...content.analyticRules,
      ...content.huntingQueries,
      ...content.workbooks,
      ...content.dataConnectors,
    ].map((source) => source.file);
    const referenced = committed().resources.map(
      (resource) => /Generated from "([^"]+)"/.exec(resource.comments ?? '')?.[1],
    );
    expect(referenced.sort()).toEqual(sources.sort());
  });

  it('uses exactly the parameters it declares: the workspace name and the location', () => {
    const template = committed();
    const used = new Set(
      strings(template).flatMap((text) =>
        [...text.matchAll(/parameters\('([^']+)'\)/g)].map((match) => match[1]),
      ),
    );
    expect(Object.keys(template.parameters).sort()).toEqual(['location', 'workspaceName']);
    expect([...used].sort()).toEqual(['location', 'workspaceName']);
  });

  it('writes every duration the API reads as ISO 8601', () => {
    const durations = ['queryFrequency', 'queryPeriod', 'suppressionDuration', 'lookbackDuration'].flatMap(
      (name) => valuesOf(committed(), name),
    );
    expect(durations.length).toBeGreaterThan(content.analyticRules.length);
    for (const duration of durations) {
      expect(typeof duration).toBe('string');
      expect(isoDurationMinutes(duration as string)).toBeGreaterThan(0);
    }
  });

  it('keeps every template expression bracketed', () => {
    const expressions = strings(committed()).filter((text) => text.startsWith('[') && !text.startsWith('[['));
    expect(expressions.length).toBeGreaterThan(0);
    for (const expression of expressions) {
      expect(expression.endsWith(']'), expression).toBe(true);
    }
  });
});

describe('armLiteral', () => {
  it('escapes a literal ARM would read as an expression, and leaves others alone', () => {
    expect(armLiteral("[concat('a')]")).toBe("[[concat('a')]");
    expect(armLiteral('EZCA_CAs_CL | take 1')).toBe('EZCA_CAs_CL | take 1');
  });
});

describe('building from broken sources', () => {
  let root: string | undefined;

  afterEach(() => {
    if (root !== undefined) {
      rmSync(root, { recursive: true, force: true });
      root = undefined;
    }
  });

  function copyOfSources(): string {
    root = mkdtempSync(join(tmpdir(), 'sentinel-content-'));
    cpSync(SENTINEL_DIR, join(root, SENTINEL_DIR), { recursive: true });
    return root;
  }

  it('refuses an invalid rule, naming the file', () => {
    const copy = copyOfSources();
    const file = join(copy, ANALYTIC_RULES_DIR, 'EZCA_CaDeleted.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('severity: High', 'severity: Severe'));
    expect(() => loadSentinelContent(copy)).toThrow(SentinelContentError);
    expect(() => loadSentinelContent(copy)).toThrow('sentinel/EZCA/Analytic Rules/EZCA_CaDeleted.yaml');
  });

  it('refuses two files with the same id', () => {
    const copy = copyOfSources();
    const source = join(copy, ANALYTIC_RULES_DIR, 'EZCA_CaDeleted.yaml');
    writeFileSync(join(copy, ANALYTIC_RULES_DIR, 'EZCA_CaDeletedCopy.yaml'), readFileSync(source));
    expect(() => loadSentinelContent(copy)).toThrow('a7fa732f-1024-4006-9fe4-1ddee3db3638');
  });
});
