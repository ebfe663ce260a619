import { authenticateArmCaller, authorizeArmAction } from './armAccess';
import type { Caller } from './auth';
import type { StandInContext } from './context';
import { armError, BodyTooLargeError, HttpError, readBody, type RequestContext } from './http';
import type { ResourceGroupRecord, SubscriptionRecord, WorkspaceRecord } from './model';

/**
 * What every ARM operation of the stand-in goes through before it touches a resource: api-version,
 * token, subscription, tenant, role assignment and provider registration, in ARM's order and error
 * shapes; then the lookups and body parsing the operations share.
 */

export const API_VERSIONS = {
  workspaces: ['2020-08-01', '2021-06-01', '2022-10-01', '2023-09-01', '2025-02-01', '2025-07-01'],
  tables: ['2022-10-01', '2023-09-01', '2025-02-01', '2025-07-01'],
  dataCollectionRules: ['2023-03-11', '2024-03-11'],
  diagnosticSettings: ['2021-05-01-preview'],
};

export const TABLES_API_VERSION = '2022-10-01';

export const ACTIONS = {
  workspaceRead: 'Microsoft.OperationalInsights/workspaces/read',
  tableRead: 'Microsoft.OperationalInsights/workspaces/tables/read',
  tableWrite: 'Microsoft.OperationalInsights/workspaces/tables/write',
  tableMigrate: 'Microsoft.OperationalInsights/workspaces/tables/migrate/action',
  dcrRead: 'Microsoft.Insights/dataCollectionRules/read',
  dcrWrite: 'Microsoft.Insights/dataCollectionRules/write',
  dcrDelete: 'Microsoft.Insights/dataCollectionRules/delete',
  // Granted by Monitoring Contributor ("Microsoft.Insights/DiagnosticSettings/*", Learn: Azure built-in
  // roles for Monitor) and Log Analytics Contributor, not by Monitoring Metrics Publisher.
  diagnosticSettingRead: 'Microsoft.Insights/diagnosticSettings/read',
  diagnosticSettingWrite: 'Microsoft.Insights/diagnosticSettings/write',
  diagnosticSettingDelete: 'Microsoft.Insights/diagnosticSettings/delete',
};

const MAX_ARM_BODY = 4 * 1024 * 1024;

export class ArmGate {
  constructor(readonly context: StandInContext) {}

  get state() {
    return this.context.state;
  }

  /** api-version, token, subscription, tenant and role checks shared by every ARM operation. */
  async gate(
    request: RequestContext,
    subscriptionId: string,
    versions: string[],
    resourceType: string,
    action: string | undefined,
  ): Promise<{ caller: Caller; subscription: SubscriptionRecord; apiVersion: string }> {
    const apiVersion = request.url.searchParams.get('api-version');
    if (!apiVersion) {
      throw armError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    if (!versions.includes(apiVersion)) {
      throw armError(
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for API version '${apiVersion}' and type '${resourceType}'. The supported api-versions are '${versions.join(', ')}'.`,
      );
    }
    const caller = await authenticateArmCaller(this.context, request);
    const subscription = this.state.subscription(subscriptionId);
    if (!subscription) {
      throw armError(404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
    }
    if (caller.tenantId.toLowerCase() !== subscription.tenantId.toLowerCase()) {
      const authority = `${this.context.baseUrl()}/${subscription.tenantId}`;
      throw new HttpError(
        401,
        {
          error: {
            code: 'InvalidAuthenticationTokenTenant',
            message:
              `The access token is from the wrong issuer '${caller.issuer}'. It must match the tenant '${authority}/' associated with this subscription. ` +
              `Please use the authority (URL) '${authority}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, ` +
              'but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.',
          },
        },
        {
          'x-ms-error-code': 'InvalidAuthenticationTokenTenant',
          'www-authenticate': `Bearer authorization_uri="${authority}", error="invalid_token", error_description="The access token is from the wrong issuer."`,
        },
        'InvalidAuthenticationTokenTenant',
      );
    }
    if (action)
      authorizeArmAction(this.state, caller, subscription, action, request.url.pathname.replace(/\/+$/, ''));
    const namespace = /\/providers\/([^/]+)\//i.exec(request.url.pathname)?.[1];
    if (namespace && subscription.unregisteredProviders.has(namespace.toLowerCase())) {
      // 409 MissingSubscriptionRegistration with this message, quoted from real responses in
      // microsoft/AzureTRE#4510 (a PUT: "unexpected status 409 (409 Conflict) with error:
      // MissingSubscriptionRegistration: The subscription is not registered to use namespace
      // 'Microsoft.AlertsManagement'. See https://aka.ms/rps-not-found for how to register
      // subscriptions.") and MicrosoftDocs/azure-docs#102073 (microsoft.insights). Whether reads and
      // deletes are refused the same way, and whether before or after the role check, is not
      // recorded anywhere we found: every request to the namespace is refused (stricter), after the
      // role check so that a missing role still names itself.
      throw armError(
        409,
        'MissingSubscriptionRegistration',
        `The subscription is not registered to use namespace '${namespace}'. See https://aka.ms/rps-not-found for how to register subscriptions.`,
      );
    }
    return { caller, subscription, apiVersion };
  }

  resourceGroup(subscription: SubscriptionRecord, name: string): ResourceGroupRecord {
    const group = subscription.resourceGroups.get(name.toLowerCase());
    if (!group) throw armError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`);
    return group;
  }

  workspace(group: ResourceGroupRecord, name: string): WorkspaceRecord {
    const workspace = group.workspaces.get(name.toLowerCase());
    if (!workspace) throw resourceNotFound('Microsoft.OperationalInsights/workspaces', name, group.name);
    return workspace;
  }
}

export function resourceNotFound(type: string, name: string, resourceGroup: string): HttpError {
  return armError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

export async function readJson(request: RequestContext): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = await readBody(request.req, MAX_ARM_BODY);
  } catch (error) {
    if (error instanceof BodyTooLargeError)
      throw armError(413, 'RequestEntityTooLarge', 'The request content is too large.');
    throw error;
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (error) {
    throw armError(
      400,
      'InvalidRequestContent',
      `The request content was invalid and could not be deserialized: '${(error as Error).message}'.`,
    );
  }
}
