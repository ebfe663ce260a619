import { ValidationError } from './errors';

/**
 * A Log Analytics workspace, as named by the Resource ID the customer copies
 * from the workspace's Properties page. Parsing is strict: the ID decides which
 * subscription and resource group we provision into, so anything ARM would
 * read differently (extra segments, another provider, a query) is refused
 * rather than guessed at.
 */
export interface WorkspaceRef {
  /** Lower-case GUID. */
  subscriptionId: string;
  /** As the customer wrote it (ARM names are case-insensitive but case-preserving). */
  resourceGroup: string;
  workspaceName: string;
  /** `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}` with canonical casing of the fixed parts. */
  resourceId: string;
  /** `/subscriptions/{sub}/resourceGroups/{rg}`: the scope the customer grants our three roles on. */
  resourceGroupId: string;
}

const FIELD = 'workspaceResourceId';
const EXPECTED =
  '/subscriptions/<subscription GUID>/resourceGroups/<resource group>/providers/Microsoft.OperationalInsights/workspaces/<workspace name>';
const WHERE_TO_FIND =
  "Copy it from the workspace's Properties page in the Azure portal (Resource ID), unchanged.";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ARM's rule: letters, digits, underscores, hyphens, periods and parentheses (\w is Unicode-aware in ARM). */
const RESOURCE_GROUP = /^[\p{L}\p{Mn}\p{Nd}\p{Pc}\-.()]{1,90}$/u;
const WORKSPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$/;

function invalid(reason: string): ValidationError {
  return new ValidationError(
    'InvalidWorkspaceResourceId',
    `The workspace resource ID is not valid: ${reason} Expected ${EXPECTED}. ${WHERE_TO_FIND}`,
    FIELD,
  );
}

/** Parses a workspace resource ID; throws ValidationError saying which part is wrong. */
export function parseWorkspaceResourceId(input: unknown): WorkspaceRef {
  if (typeof input !== 'string' || input.trim() === '') {
    throw invalid('it is missing.');
  }
  // Pasting from the portal often brings surrounding whitespace; inner whitespace is never valid.
  // One trailing "/" names the same workspace (a copy-paste artefact) and is dropped: the
  // resourceId we return never has it.
  const id = input.trim().replace(/(?<=.)\/$/, '');
  if (id.length > 400) throw invalid('it is far longer than any workspace resource ID.');
  if (/[?#]/.test(id)) throw invalid('it contains a query or fragment.');
  if (!id.startsWith('/')) throw invalid('it must start with "/subscriptions/".');

  const segments = id.slice(1).split('/');
  if (segments.length !== 8) {
    throw invalid(
      segments.length > 8
        ? 'it has extra segments after the workspace name (the ID of a table, solution or other child resource?).'
        : 'it has too few segments.',
    );
  }
  const [subscriptionsKey, subscriptionId, groupsKey, resourceGroup, providersKey, provider, type, name] =
    segments as [string, string, string, string, string, string, string, string];

  if (subscriptionsKey.toLowerCase() !== 'subscriptions')
    throw invalid('it must start with "/subscriptions/".');
  if (!GUID.test(subscriptionId)) throw invalid(`the subscription ID "${subscriptionId}" is not a GUID.`);
  if (groupsKey.toLowerCase() !== 'resourcegroups') {
    throw invalid('"resourceGroups" must follow the subscription ID.');
  }
  if (!RESOURCE_GROUP.test(resourceGroup) || resourceGroup.endsWith('.')) {
    throw invalid(
      `the resource group name "${resourceGroup}" is not valid (1-90 letters, digits, "_", "-", ".", "(", ")", not ending with ".").`,
    );
  }
  if (providersKey.toLowerCase() !== 'providers')
    throw invalid('"providers" must follow the resource group.');
  if (provider.toLowerCase() !== 'microsoft.operationalinsights' || type.toLowerCase() !== 'workspaces') {
    throw invalid(
      `it names a "${provider}/${type}" resource, not a Log Analytics workspace (Microsoft.OperationalInsights/workspaces).`,
    );
  }
  if (!WORKSPACE_NAME.test(name)) {
    throw invalid(
      `the workspace name "${name}" is not valid (4-63 letters, digits or hyphens, starting and ending with a letter or digit).`,
    );
  }

  const subscription = subscriptionId.toLowerCase();
  const resourceGroupId = `/subscriptions/${subscription}/resourceGroups/${resourceGroup}`;
  return {
    subscriptionId: subscription,
    resourceGroup,
    workspaceName: name,
    resourceGroupId,
    resourceId: `${resourceGroupId}/providers/Microsoft.OperationalInsights/workspaces/${name}`,
  };
}

/** ARM resource IDs compare case-insensitively. */
export function sameResourceId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
