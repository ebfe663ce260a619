import { randomBytes, randomUUID } from 'node:crypto';
import { dcrBody, dcrId, endpointSlug } from './armBodies';
import { ACTIONS, API_VERSIONS, readJson, resourceNotFound, type ArmGate } from './armGate';
import type { StandInContext } from './context';
import { armError, json, type HttpError, type Reply, type RequestContext } from './http';
import {
  normalizeLocation,
  type DcrRecord,
  type ResourceGroupRecord,
  type SubscriptionRecord,
} from './model';
import { compileTransform, TransformError, transformOutputProblems } from './transform';
import { outputTableName, validateDcrPut, type Problem } from './validation';

/** Data collection rules: GET, PUT (validated against the workspaces and tables they name) and DELETE. */

function invalidPayload(problems: Problem[]): HttpError {
  return armError(
    400,
    'InvalidPayload',
    'Data collection rule is invalid',
    problems.map((problem) => ({
      code: problem.code,
      message: problem.message,
      ...(problem.target ? { target: problem.target } : {}),
    })),
  );
}

export async function getDcr(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.dataCollectionRules,
    'dataCollectionRules',
    ACTIONS.dcrRead,
  );
  const group = arm.resourceGroup(subscription, m.rg!);
  const dcr = arm.state.dcrsById.get(dcrId(subscription.id, group.name, m.name!).toLowerCase());
  if (!dcr) throw resourceNotFound('Microsoft.Insights/dataCollectionRules', m.name!, group.name);
  request.dcrImmutableId = dcr.immutableId;
  return json(200, dcrBody(dcr));
}

export async function putDcr(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.dataCollectionRules,
    'dataCollectionRules',
    ACTIONS.dcrWrite,
  );
  const group = arm.resourceGroup(subscription, m.rg!);
  const { record, created } = upsertDcr(arm.context, subscription, group, m.name!, await readJson(request));
  request.dcrImmutableId = record.immutableId;
  return json(created ? 201 : 200, dcrBody(record));
}

export async function deleteDcr(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
): Promise<Reply> {
  const { subscription } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.dataCollectionRules,
    'dataCollectionRules',
    ACTIONS.dcrDelete,
  );
  const group = arm.resourceGroup(subscription, m.rg!);
  const key = dcrId(subscription.id, group.name, m.name!).toLowerCase();
  const dcr = arm.state.dcrsById.get(key);
  if (!dcr) return json(204, undefined);
  arm.state.dcrsById.delete(key);
  arm.state.dcrsByImmutableId.delete(dcr.immutableId);
  return json(200, undefined);
}

/**
 * Validates a DCR PUT body against the stand-in's state and creates or updates the rule, as a PUT
 * that passed authentication and authorization does. Admin seeding (seedDcr) goes through here too,
 * so a seeded rule is exactly what the same PUT would have left behind.
 */
export function upsertDcr(
  context: StandInContext,
  subscription: SubscriptionRecord,
  group: ResourceGroupRecord,
  name: string,
  body: unknown,
): { record: DcrRecord; created: boolean } {
  const state = context.state;
  const parsed = validateDcrPut(body);
  if (!parsed.dcr) {
    const locationMissing = parsed.problems.find((problem) => problem.code === 'LocationRequired');
    if (locationMissing && parsed.problems.length === 1)
      throw armError(400, 'LocationRequired', locationMissing.message);
    throw invalidPayload(parsed.problems);
  }
  const dcr = parsed.dcr;
  const id = dcrId(subscription.id, group.name, name);
  const existing = state.dcrsById.get(id.toLowerCase());
  const location = normalizeLocation(dcr.location);
  if (existing && existing.location !== location) {
    throw armError(
      400,
      'InvalidResourceLocation',
      `The resource '${existing.name}' already exists in location '${existing.location}' in resource group '${group.name}'. ` +
        `A resource with the same name cannot be created in location '${location}'. Please select a new resource name.`,
    );
  }

  const problems: Problem[] = [];
  const destinations: DcrRecord['logAnalytics'] = [];
  dcr.logAnalytics.forEach((destination, index) => {
    const target = `properties.destinations.logAnalytics[${index}].workspaceResourceId`;
    const workspace = state.workspaceByResourceId(destination.workspaceResourceId);
    if (!workspace || workspace.tenantId.toLowerCase() !== subscription.tenantId.toLowerCase()) {
      problems.push({
        code: 'InvalidDestination',
        message: `Log Analytics workspace '${destination.workspaceResourceId}' of destination '${destination.name}' was not found.`,
        target,
      });
      return;
    }
    if (workspace.location !== location) {
      problems.push({
        code: 'InvalidDestinationLocation',
        message:
          `Destination '${destination.name}': the workspace is in region '${workspace.location}' but the data collection rule is in region '${location}'. ` +
          'A data collection rule must be in the same region as its Log Analytics workspaces.',
        target,
      });
    }
    destinations.push({ ...destination, workspace });
  });

  const now = Date.now();
  for (const [index, flow] of dcr.dataFlows.entries()) {
    for (const destinationName of flow.destinations) {
      const destination = destinations.find((candidate) => candidate.name === destinationName);
      if (!destination || !flow.outputStream) continue;
      const table = destination.workspace.tables.get(outputTableName(flow.outputStream).toLowerCase());
      const visible =
        table?.committed !== undefined &&
        table.committed.tableSubType !== 'Classic' &&
        (table.visibleAt ?? 0) <= now;
      if (!table || !visible) {
        problems.push({
          code: 'InvalidOutputTable',
          message: `Table for output stream '${flow.outputStream}' is not available for destination '${destinationName}'.`,
          target: `properties.dataFlows[${index}].outputStream`,
        });
        continue;
      }
      // Every output column must exist in the table with exactly its type (see transform.ts).
      const transform = compileTransform(flow.transformKql);
      const tableColumns = [...table.standardColumns, ...table.committed!.columns];
      for (const stream of flow.streams) {
        let output;
        try {
          output = transform.outputSchema(dcr.streamDeclarations[stream]?.columns ?? []);
        } catch (error) {
          if (!(error instanceof TransformError)) throw error;
          problems.push({
            code: error.code,
            message: error.message,
            target: `properties.dataFlows[${index}]`,
          });
          continue;
        }
        const { typeMismatches, missing } = transformOutputProblems(output, tableColumns);
        if (typeMismatches.length > 0) {
          problems.push({
            code: 'InvalidTransformOutput',
            message: `Types of transform output columns do not match the ones defined by the output stream: ${typeMismatches.join(', ')}`,
            target: `properties.dataFlows[${index}]`,
          });
        }
        // Stricter than Azure, which drops such columns silently (no recorded response refuses them).
        if (missing.length > 0) {
          problems.push({
            code: 'InvalidTransformOutput',
            message: `Transform output columns are not defined by the output stream '${flow.outputStream}' (stricter than Azure, which drops them silently): ${missing.join(', ')}`,
            target: `properties.dataFlows[${index}]`,
          });
        }
      }
    }
  }
  if (problems.length > 0) throw invalidPayload(problems);

  const record: DcrRecord = existing ?? {
    id,
    name,
    subscriptionId: subscription.id,
    resourceGroup: group.name,
    tenantId: subscription.tenantId,
    location,
    kind: dcr.kind,
    immutableId: `dcr-${randomBytes(16).toString('hex')}`,
    logsIngestionEndpoint: `${context.baseUrl()}/ingest/${endpointSlug(name, location)}`,
    etag: '',
    createdAt: now,
    updatedAt: now,
    streamDeclarations: {},
    logAnalytics: [],
    dataFlows: [],
  };
  record.etag = `"${randomUUID()}"`;
  record.updatedAt = now;
  record.streamDeclarations = dcr.streamDeclarations;
  record.logAnalytics = destinations;
  record.dataFlows = dcr.dataFlows;
  record.description = dcr.description;
  record.tags = dcr.tags;
  state.dcrsById.set(id.toLowerCase(), record);
  state.dcrsByImmutableId.set(record.immutableId, record);
  return { record, created: !existing };
}
