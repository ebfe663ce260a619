import { InvocationContext } from '@azure/functions';
import { beforeAll, describe, expect, it } from 'vitest';
import { contextLogger } from '../../src/contextLogger';
import { ATTEMPT_PROPERTY, FIRST_ATTEMPT_PROPERTY } from '../../src/domain/deliveryAttempts';
import { at, onlyResourceOfType, readTemplate, resolve, type Json } from '../support/armTemplate';
import {
  auditEvent,
  forwarderFakes,
  forwarderOver,
  received,
  savedConnection,
} from '../support/forwarderFixtures';
import { createKqlChecker, describeKqlErrors } from '../support/kql';

/**
 * The log alert on parked events reads the forwarder's own log lines in the
 * app's workspace (AppTraces of workspace-based Application Insights). These
 * tests hold the alert's query and those lines together: the query must be
 * valid KQL for AppTraces, and the lines a real batch logs through the real
 * InvocationContext must carry the prefixes and fields the query reads.
 */

const template = readTemplate();
const rule = onlyResourceOfType(template, 'Microsoft.Insights/scheduledQueryRules');
const [criterion] = at(rule.properties ?? null, 'criteria.allOf') as Array<Record<string, Json>>;
const query = typeof criterion?.query === 'string' ? criterion.query : '';

/** The AppTraces columns the query may use (Azure Monitor table reference, "AppTraces"). */
const APP_TRACES =
  '(TimeGenerated:datetime, Message:string, SeverityLevel:int, Properties:dynamic, OperationId:string, AppRoleName:string)';

const TENANT = '11111111-1111-4111-8111-111111111111';

/** What a batch that parks events logs, as Application Insights would store each line's message. */
async function loggedMessages(): Promise<string[]> {
  const messages: string[] = [];
  const context = new InvocationContext({
    invocationId: 'inv-parked',
    functionName: 'forwardAuditEvents',
    logHandler: (_level, ...args) => messages.push(args.map(String).join(' ')),
  });
  const fakes = forwarderFakes();
  const { clock, connections, sink } = fakes;
  await connections.create(savedConnection(TENANT));
  sink.faults.set(TENANT, { kind: 'unavailable' });
  const forwarder = forwarderOver(fakes);
  const longAgo = new Date(clock.now().getTime() - 200 * 3_600_000).toISOString();
  await forwarder.forwardBatch(
    [
      received(auditEvent(TENANT), { [ATTEMPT_PROPERTY]: 30, [FIRST_ATTEMPT_PROPERTY]: longAgo }),
      received('not an event', { tenantId: TENANT }, 'invalid-1'),
    ],
    { invocationId: context.invocationId, logger: contextLogger(context) },
  );
  return messages;
}

function fieldsOf(message: string): Record<string, unknown> {
  return JSON.parse(message.slice(message.indexOf('{'))) as Record<string, unknown>;
}

describe('the parked-events log alert', () => {
  let messages: string[];
  beforeAll(async () => {
    messages = await loggedMessages();
  });

  it('is valid KQL over AppTraces and returns one row per finding', () => {
    const analysis = createKqlChecker({ builtInTables: { AppTraces: APP_TRACES } }).analyze(query);
    expect(analysis.errors, describeKqlErrors('parked-events alert', query, analysis.errors)).toEqual([]);
    expect(analysis.resultColumns?.map((column) => column.name)).toEqual([
      'TimeGenerated',
      'CustomerTenantId',
      'Parked',
      'Invalid',
      'StateChange',
      'Failure',
      'InvocationId',
    ]);
  });

  it('reads the lines a batch that parks events and suspends its tenant really logs', () => {
    const tenantLine = messages.find((message) => message.startsWith('forwarder: tenant outcome {'));
    const batchLine = messages.find((message) => message.startsWith('forwarder: batch settled {'));
    // The prefixes the query filters on are the ones the forwarder writes.
    expect(query).toContain('"forwarder: tenant outcome {"');
    expect(query).toContain('"forwarder: batch settled {"');
    expect(tenantLine && fieldsOf(tenantLine)).toMatchObject({
      tenantId: TENANT,
      parked: 1,
      stateChange: 'active->suspended',
      invocationId: 'inv-parked',
    });
    expect(tenantLine && typeof fieldsOf(tenantLine).failure).toBe('string');
    expect(batchLine && fieldsOf(batchLine)).toMatchObject({ invalid: 1 });
    // Every field the query reads is one the lines carry.
    const read = [...query.matchAll(/Fields\.(\w+)/g)].map((match) => match[1]);
    const carried = new Set(
      [tenantLine, batchLine].flatMap((line) => (line ? Object.keys(fieldsOf(line)) : [])),
    );
    expect(read.filter((field) => !carried.has(field ?? ''))).toEqual([]);
  });

  it("runs on the app's own workspace every 15 minutes and notifies the operators' action group", () => {
    expect(rule.properties?.scopes).toEqual([
      "[resourceId('Microsoft.OperationalInsights/workspaces', variables('logAnalyticsName'))]",
    ]);
    expect(rule.properties).toMatchObject({
      enabled: true,
      evaluationFrequency: 'PT15M',
      windowSize: 'PT15M',
      // AppTraces exists only once the first trace arrives; validating the query at deployment would fail.
      skipQueryValidation: true,
      actions: {
        actionGroups: ["[resourceId('Microsoft.Insights/actionGroups', variables('actionGroupName'))]"],
      },
    });
    expect(criterion).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
    expect(resolve(template, rule.name)).toBe(template.variables.parkedAlertName);
  });
});
