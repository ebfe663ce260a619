import { tableBody } from './armBodies';
import { API_VERSIONS, type ArmGate } from './armGate';
import { armError, json, type Reply, type RequestContext } from './http';

/**
 * The long-running operations a table PUT starts, polled through the Azure-AsyncOperation
 * (operationStatuses) and Location (operationResults) URLs the PUT answered with.
 */

export async function getOperation(
  arm: ArmGate,
  request: RequestContext,
  m: Record<string, string>,
  kind: 'status' | 'result',
): Promise<Reply> {
  const { apiVersion } = await arm.gate(
    request,
    m.sub!,
    API_VERSIONS.tables,
    'locations/operationStatuses',
    undefined,
  );
  const operation = arm.state.operations.get(m.id!);
  if (!operation || operation.subscriptionId.toLowerCase() !== m.sub!.toLowerCase()) {
    throw armError(404, 'OperationNotFound', `The operation '${m.id!}' could not be found.`);
  }
  arm.state.poll(operation);
  const done = operation.doneAt !== undefined;
  if (kind === 'result') {
    if (!done) {
      return json(202, undefined, {
        location: `${arm.context.baseUrl()}${request.url.pathname}?api-version=${apiVersion}`,
      });
    }
    const table = operation.workspace.tables.get(operation.tableName.toLowerCase());
    return table?.committed ? json(200, tableBody(operation.workspace, table)) : json(204, undefined);
  }
  return json(200, {
    id: request.url.pathname,
    name: operation.id,
    status: done ? 'Succeeded' : 'InProgress',
    startTime: new Date(operation.startedAt).toISOString(),
    ...(done ? { endTime: new Date(operation.doneAt!).toISOString() } : {}),
  });
}
