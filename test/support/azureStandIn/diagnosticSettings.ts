import { armError, type HttpError } from './http';

/**
 * Body rules of a diagnostic setting PUT on a data collection rule, as far as the evidence goes.
 *
 * Shape: azure-rest-api-specs monitor/resource-manager/Microsoft.Insights/preview/2021-05-01-preview/
 * diagnosticsSettings_API.json and its example createOrUpdateDiagnosticSetting.json: `properties` with
 * the destinations (`workspaceId`, `storageAccountId`, `eventHubAuthorizationRuleId`,
 * `marketplacePartnerId`) and `logs[]` / `metrics[]` entries of `category` or `categoryGroup` plus
 * `enabled`.
 *
 * Categories: Learn "Supported logs for Microsoft.Insights/datacollectionrules" lists one log category,
 * `LogErrors` (table DCRLogErrors); "Monitor DCR data collection" sends it to a workspace with a
 * diagnostic setting. A DCR's metrics are platform metrics (AllMetrics).
 *
 * Refusals: an unsupported category answers 400 BadRequest with "… category 'X' is not supported,
 * supported categories are: '…'" (quoted for metrics in TaoYang-Cloud/azurepolicy#19 and for
 * category groups in Azure/avdaccelerator#685: "CategoryGroup: 'allLogs' is not supported, supported
 * ones are: ''"); the log wording is assumed to mirror the metric one. A setting without any
 * destination, without anything enabled, or with a workspace that does not exist: no recorded
 * response found, so refused (stricter) with 400 BadRequest and our own words.
 */

const LOG_CATEGORIES = ['LogErrors'];
/** Category groups Azure offers every resource with resource logs; stricter: only allLogs. */
const LOG_CATEGORY_GROUPS = ['allLogs'];
const METRIC_CATEGORIES = ['AllMetrics'];

export interface ParsedDiagnosticSetting {
  workspaceId: string;
  categories: string[];
}

function badRequest(message: string): HttpError {
  return armError(400, 'BadRequest', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function validateDiagnosticSettingPut(
  body: unknown,
  workspaceExists: (resourceId: string) => boolean,
): ParsedDiagnosticSetting {
  const properties = isObject(body) ? body.properties : undefined;
  if (!isObject(properties)) throw badRequest("The request body must contain an object 'properties'.");
  const workspaceId = properties.workspaceId;
  const otherDestination = ['storageAccountId', 'eventHubAuthorizationRuleId', 'marketplacePartnerId'].some(
    (key) => typeof properties[key] === 'string' && properties[key] !== '',
  );
  if (otherDestination) {
    // The stand-in models Log Analytics destinations only; anything else is outside what we test.
    throw badRequest('Only Log Analytics workspace destinations are modelled by this stand-in.');
  }
  if (typeof workspaceId !== 'string' || workspaceId === '') {
    throw badRequest(
      'A diagnostic setting needs a destination: workspaceId, storageAccountId, eventHubAuthorizationRuleId or marketplacePartnerId.',
    );
  }
  if (!workspaceExists(workspaceId)) {
    throw badRequest(`The Log Analytics workspace '${workspaceId}' of the diagnostic setting was not found.`);
  }

  const categories: string[] = [];
  const logs = properties.logs ?? [];
  const metrics = properties.metrics ?? [];
  if (!Array.isArray(logs) || !Array.isArray(metrics)) {
    throw badRequest("'logs' and 'metrics' must be arrays.");
  }
  let enabledAny = false;
  for (const entry of logs) {
    if (!isObject(entry)) throw badRequest("Each entry of 'logs' must be an object.");
    if (typeof entry.categoryGroup === 'string') {
      if (!LOG_CATEGORY_GROUPS.includes(entry.categoryGroup)) {
        throw badRequest(
          `CategoryGroup: '${entry.categoryGroup}' is not supported, supported ones are: '${LOG_CATEGORY_GROUPS.join(',')}'`,
        );
      }
      if (entry.enabled === true) categories.push(...LOG_CATEGORIES);
    } else {
      const category = entry.category;
      if (typeof category !== 'string' || !LOG_CATEGORIES.includes(category)) {
        throw badRequest(
          `Log category '${String(category)}' is not supported, supported categories are: '${LOG_CATEGORIES.join(',')}'`,
        );
      }
      if (entry.enabled === true) categories.push(category);
    }
    if (entry.enabled === true) enabledAny = true;
  }
  for (const entry of metrics) {
    if (
      !isObject(entry) ||
      typeof entry.category !== 'string' ||
      !METRIC_CATEGORIES.includes(entry.category)
    ) {
      const category = isObject(entry) ? String(entry.category) : String(entry);
      throw badRequest(
        `Metric category '${category}' is not supported, supported categories are: '${METRIC_CATEGORIES.join(',')}'`,
      );
    }
    if (entry.enabled === true) enabledAny = true;
  }
  if (!enabledAny) throw badRequest('A diagnostic setting must enable at least one log or metric category.');
  return { workspaceId, categories: [...new Set(categories)] };
}
