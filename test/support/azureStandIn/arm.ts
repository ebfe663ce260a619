import type { Route, StandInContext } from './context';
import { ArmGate } from './armGate';
import { deleteDcr, getDcr, putDcr } from './armDcrs';
import { deleteDiagnosticSetting, getDiagnosticSetting, putDiagnosticSetting } from './armDiagnosticSettings';
import { getOperation } from './armOperations';
import { getTable, getWorkspace, migrateTable, putTable } from './armWorkspaceTables';
import { segments, type Reply, type RequestContext } from './http';
import type { Operation } from './types';

export { dcrBody, dcrId, tableBody, workspaceBody } from './armBodies';
export { upsertDcr } from './armDcrs';
export { TABLES_API_VERSION } from './armGate';

/**
 * Azure Resource Manager for the resources the connection flow touches:
 * Log Analytics workspaces, their tables (PUT as a long-running operation)
 * and data collection rules. Every request is authenticated (signature,
 * audience, tenant of the subscription) and authorized against the role
 * assignments before the resource is looked up, as ARM does.
 *
 * This file is the route table: which method and path reach which operation.
 * The checks every operation passes first are in armGate.ts (token and role
 * assignments in armAccess.ts); the operations are in armWorkspaceTables.ts,
 * armOperations.ts, armDcrs.ts and armDiagnosticSettings.ts; the bodies they
 * answer with in armBodies.ts.
 */

/** Matches path segments against a pattern; `:x` captures, literals compare case-insensitively. */
function matchPath(parts: string[], pattern: string): Record<string, string> | undefined {
  const expected = pattern.split('/').filter(Boolean);
  if (parts.length !== expected.length) return undefined;
  const captures: Record<string, string> = {};
  for (let index = 0; index < expected.length; index += 1) {
    const want = expected[index]!;
    const got = parts[index]!;
    if (want.startsWith(':')) captures[want.slice(1)] = got;
    else if (want.toLowerCase() !== got.toLowerCase()) return undefined;
  }
  return captures;
}

const WORKSPACE =
  '/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.OperationalInsights/workspaces/:ws';
const TABLE = `${WORKSPACE}/tables/:table`;
const LOCATION = '/subscriptions/:sub/providers/Microsoft.OperationalInsights/locations/:location';
const DCR = '/subscriptions/:sub/resourceGroups/:rg/providers/Microsoft.Insights/dataCollectionRules/:name';
const DCR_DIAGNOSTIC_SETTING = `${DCR}/providers/Microsoft.Insights/diagnosticSettings/:setting`;

type Handler = (arm: ArmGate, request: RequestContext, captures: Record<string, string>) => Promise<Reply>;

const ROUTES: Array<[method: string, pattern: string, operation: Operation, handler: Handler]> = [
  ['GET', WORKSPACE, 'workspaceGet', getWorkspace],
  ['GET', TABLE, 'tableGet', getTable],
  ['PUT', TABLE, 'tablePut', putTable],
  ['POST', `${TABLE}/migrate`, 'tableMigrate', migrateTable],
  [
    'GET',
    `${LOCATION}/operationStatuses/:id`,
    'operationStatus',
    (arm, r, m) => getOperation(arm, r, m, 'status'),
  ],
  [
    'GET',
    `${LOCATION}/operationResults/:id`,
    'operationStatus',
    (arm, r, m) => getOperation(arm, r, m, 'result'),
  ],
  ['GET', DCR, 'dcrGet', getDcr],
  ['PUT', DCR, 'dcrPut', putDcr],
  ['DELETE', DCR, 'dcrDelete', deleteDcr],
  ['GET', DCR_DIAGNOSTIC_SETTING, 'diagnosticSettingGet', getDiagnosticSetting],
  ['PUT', DCR_DIAGNOSTIC_SETTING, 'diagnosticSettingPut', putDiagnosticSetting],
  ['DELETE', DCR_DIAGNOSTIC_SETTING, 'diagnosticSettingDelete', deleteDiagnosticSetting],
];

export function armRoute(context: StandInContext, method: string, url: URL): Route | undefined {
  const parts = segments(url);
  if (parts[0]?.toLowerCase() !== 'subscriptions') return undefined;
  const tenantId = parts[1] ? context.state.subscription(parts[1])?.tenantId : undefined;
  for (const [verb, pattern, operation, handler] of ROUTES) {
    const captures = matchPath(parts, pattern);
    if (!captures || verb !== method) continue;
    const arm = new ArmGate(context);
    return {
      face: 'arm',
      operation,
      ...(tenantId ? { tenantId } : {}),
      handle: (request) => handler(arm, request, captures),
    };
  }
  return undefined;
}
