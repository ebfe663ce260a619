import { backOff } from 'exponential-backoff';
import { DependencyRejectedError, StateConflictError, TransientDependencyError } from '../../domain/errors';
import type { DataCollectionRuleInfo } from '../../domain/ports';
import {
  dataFlowTransform,
  outputStreamName,
  PROVISIONED_TABLES,
  streamDeclarationColumns,
  streamName,
  TABLE_NAMES,
  type TableName,
} from '../../domain/tableSchema';
import type { WorkspaceRef } from '../../domain/workspaceResourceId';
import { API_VERSIONS, type ArmClient, type ArmResponse } from './armClient';
import { armError, type ArmErrorBody, type ArmOperation, mapArmError } from './armErrors';

const DCR_NAME_PREFIX = 'pki-siem-export-';

/**
 * One DCR per workspace: testing another workspace in the same resource group
 * must not re-point the DCR a saved connection delivers through.
 * DCR names are at most 64 characters.
 */
export function dataCollectionRuleName(workspace: WorkspaceRef): string {
  const name = `${DCR_NAME_PREFIX}${workspace.workspaceName}`;
  if (name.length <= 64) return name;
  let hash = 0;
  for (const char of workspace.resourceId.toLowerCase()) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `${name.slice(0, 55)}-${hash.toString(16).padStart(8, '0')}`;
}

/** The Direct DCR body: one stream per table into `Custom-<table>`, guid columns converted by the transform. */
export function dataCollectionRuleBody(workspace: WorkspaceRef, location: string): unknown {
  const destination = 'workspace';
  return {
    location,
    kind: 'Direct',
    properties: {
      description: 'Created by the Keytos application: exports EZCA audit events to this workspace.',
      streamDeclarations: Object.fromEntries(
        PROVISIONED_TABLES.map((table) => [streamName(table), { columns: streamDeclarationColumns(table) }]),
      ),
      destinations: {
        logAnalytics: [{ workspaceResourceId: workspace.resourceId, name: destination }],
      },
      dataFlows: PROVISIONED_TABLES.map((table) => ({
        streams: [streamName(table)],
        destinations: [destination],
        transformKql: dataFlowTransform(table),
        outputStream: outputStreamName(table),
      })),
    },
  };
}

class InvalidOutputTable extends Error {}

export async function ensureDataCollectionRule(
  client: ArmClient,
  dcrRetry: { startingDelayMs: number; maxDelayMs: number },
  tenantId: string,
  workspace: WorkspaceRef,
  location: string,
  signal: AbortSignal,
): Promise<DataCollectionRuleInfo> {
  const operation: ArmOperation = {
    doing: 'create or update the data collection rule',
    role: 'Monitoring Contributor',
    why: 'to create the data collection rule that routes events into the workspace',
    workspace,
    tenantId,
  };
  const name = dataCollectionRuleName(workspace);
  const url = `${client.arm}${workspace.resourceGroupId}/providers/Microsoft.Insights/dataCollectionRules/${encodeURIComponent(name)}?api-version=${API_VERSIONS.dataCollectionRules}`;
  const body = dataCollectionRuleBody(workspace, location);

  const put = async (): Promise<ArmResponse> => {
    signal.throwIfAborted();
    const response = await client.send(tenantId, 'PUT', url, body, signal);
    if (response.status === 200 || response.status === 201) return response;
    if (isInvalidOutputTable(response.body)) throw new InvalidOutputTable();
    throw mapArmError(response, operation);
  };
  let response: ArmResponse;
  try {
    response = await backOff(put, {
      numOfAttempts: 100,
      startingDelay: dcrRetry.startingDelayMs,
      maxDelay: dcrRetry.maxDelayMs,
      timeMultiple: 2,
      jitter: 'full',
      // A table just created is not visible to the DCR service at once; anything else is not ours to retry here.
      retry: (error: unknown) => error instanceof InvalidOutputTable && !signal.aborted,
    });
  } catch (error) {
    if (error instanceof InvalidOutputTable) {
      throw new TransientDependencyError(
        'The new tables are not yet visible to the data collection rule service. Click Create Connection again in a few minutes.',
      );
    }
    throw error;
  }

  const rule = response.body as {
    id?: unknown;
    properties?: { immutableId?: unknown; endpoints?: { logsIngestion?: unknown } };
  };
  const immutableId = rule.properties?.immutableId;
  const endpoint = rule.properties?.endpoints?.logsIngestion;
  if (typeof immutableId !== 'string' || typeof rule.id !== 'string') {
    throw new DependencyRejectedError(
      'UnexpectedArmResponse',
      'Azure answered the data collection rule PUT without its immutable id.',
    );
  }
  if (typeof endpoint !== 'string') {
    throw new StateConflictError(
      'DataCollectionRuleWithoutEndpoint',
      `A data collection rule named ${name} already exists in ${workspace.resourceGroupId} but has no logs ingestion endpoint (it was not created as kind Direct, and an endpoint cannot be added later). Delete it and click Create Connection again.`,
    );
  }
  return {
    id: rule.id,
    immutableId,
    logsIngestionEndpoint: endpoint,
    streams: Object.fromEntries(TABLE_NAMES.map((table) => [table, streamName(table)])) as Record<
      TableName,
      string
    >,
  };
}

function isInvalidOutputTable(body: unknown): boolean {
  const walk = (error: ArmErrorBody | undefined, depth: number): boolean =>
    !!error &&
    depth < 5 &&
    (error.code === 'InvalidOutputTable' ||
      /InvalidOutputTable/.test(error.message ?? '') ||
      (error.details ?? []).some((detail) => walk(detail, depth + 1)));
  return walk(armError(body), 0);
}
