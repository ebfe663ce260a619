import {
  AppNotRegisteredError,
  AuthorizationError,
  type CustomerRole,
  DependencyRejectedError,
  type DomainError,
  NotFoundError,
  TransientDependencyError,
  ValidationError,
} from '../../domain/errors';
import type { WorkspaceRef } from '../../domain/workspaceResourceId';
import { TenantNotFoundError } from '../customerCredentials';
import type { ArmResponse } from './armClient';

/** ARM and Entra refusals turned into domain errors a portal user can act on; nothing token-shaped passes. */

export interface ArmOperation {
  /** What we were doing, for messages: "read the workspace", "create the table EZCA_CAs_CL". */
  doing: string;
  /** The customer role that grants this operation. */
  role: CustomerRole;
  /** Why the role is needed, for the authorization message. */
  why: string;
  workspace: WorkspaceRef;
  tenantId: string;
}

export interface ArmErrorBody {
  code?: string;
  message?: string;
  details?: ArmErrorBody[];
}

export function armError(body: unknown): ArmErrorBody {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === 'object' && error !== null ? error : {};
}

export function retryAfterMs(response: ArmResponse): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * ARM's own message, first line, bounded, with anything token-shaped removed; with the
 * details' messages when the top one is generic ("Data collection rule is invalid").
 */
function armMessage(error: ArmErrorBody): string {
  const details = (error.details ?? [])
    .filter((detail) => detail.message && detail.message !== error.message)
    .slice(0, 3)
    .map((detail) => `${detail.code ? `${detail.code}: ` : ''}${detail.message ?? ''}`.replace(/\s+/g, ' '));
  return safeText([error.message ?? '', ...details].filter((text) => text !== '').join(' — '));
}

export function safeText(text: string): string {
  return (text.split('\n')[0] ?? '')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]')
    .slice(0, 400)
    .trim();
}

/** Turns an ARM error response into the domain error a portal user can act on. */
export function mapArmError(response: ArmResponse, operation: ArmOperation): DomainError {
  const error = armError(response.body);
  const code = error.code ?? '';
  const scope = operation.workspace.resourceGroupId;
  if (
    response.status === 403 &&
    (code === 'AuthorizationFailed' || code === 'LinkedAuthorizationFailed' || code === '')
  ) {
    const action = /perform action '([^']+)'/.exec(error.message ?? '')?.[1];
    return new AuthorizationError(
      `The Keytos application may not ${operation.doing}: grant it the ${operation.role} role on the resource group ${scope} (${operation.why}). In the Azure portal: resource group > Access control (IAM) > Add role assignment. Then click Create Connection again; a new role assignment can take a few minutes to apply.`,
      operation.role,
      scope,
      action,
    );
  }
  if (response.status === 401 && code === 'InvalidAuthenticationTokenTenant') {
    return new ValidationError(
      'WorkspaceInAnotherTenant',
      `The workspace's subscription ${operation.workspace.subscriptionId} does not belong to the Entra tenant ${operation.tenantId}. Choose a workspace in a subscription of this tenant, or configure the export from the EZCA tenant that owns the subscription.`,
      'workspaceResourceId',
    );
  }
  if (response.status === 404 || code === 'ResourceGroupNotFound' || code === 'SubscriptionNotFound') {
    const { workspaceName, resourceGroup, subscriptionId } = operation.workspace;
    return new NotFoundError(
      'WorkspaceNotFound',
      `No Log Analytics workspace "${workspaceName}" was found in resource group "${resourceGroup}" of subscription ${subscriptionId} (${code || 'not found'}). Copy the Resource ID from the workspace's Properties page and check that the Keytos application has its roles on that resource group.`,
    );
  }
  if (response.status === 409 && code === 'MissingSubscriptionRegistration') {
    // Never heals by itself: the subscription must register the provider (microsoft/AzureTRE#4510).
    const namespace = /namespace '([^']+)'/.exec(error.message ?? '')?.[1] ?? 'Microsoft.Insights';
    const { subscriptionId } = operation.workspace;
    return new DependencyRejectedError(
      'MissingSubscriptionRegistration',
      `The subscription ${subscriptionId} has not registered the resource provider ${namespace}, so Azure refused to ${operation.doing}. Someone with rights on the whole subscription (Owner or Contributor on it) must register it once: az provider register --namespace ${namespace} --subscription ${subscriptionId} (Azure portal: Subscriptions > your subscription > Resource providers > ${namespace} > Register). Registration takes a few minutes; when az provider show --namespace ${namespace} --query registrationState says Registered, click Create Connection again.`,
    );
  }
  if (response.status === 429 || response.status === 409 || response.status >= 500) {
    return new TransientDependencyError(
      `Azure could not ${operation.doing} right now (${response.status}${code ? ` ${code}` : ''}). Try again in a few minutes.`,
      retryAfterMs(response),
    );
  }
  return new DependencyRejectedError(
    code || `Arm${response.status}`,
    `Azure refused to ${operation.doing}: ${armMessage(error) || `status ${response.status}`}`,
  );
}

const NETWORK =
  /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|ESOCKETTIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|REQUEST_SEND_ERROR)$/;

/** Errors thrown before any ARM answer: token acquisition, network, deadline. */
export function mapTransportError(error: unknown, tenantId: string): unknown {
  if (!(error instanceof Error)) return error;
  if (error.name === 'AbortError') return error;
  // MSAL-based credentials report Entra refusals as AuthenticationError or, for some codes
  // (unauthorized_client: app not in the tenant), as AuthenticationRequiredError.
  if (error.name === 'AuthenticationError' || error.name === 'AuthenticationRequiredError') {
    const response = (error as { errorResponse?: { errorDescription?: string; errorCodes?: number[] } })
      .errorResponse;
    const description = `${response?.errorDescription ?? ''} ${error.message}`;
    if (response?.errorCodes?.includes(700016) || /AADSTS700016\b/.test(description)) {
      return new AppNotRegisteredError(
        `The Keytos application is not registered in your tenant ${tenantId} (Entra ID answered AADSTS700016: application not found in the directory). An administrator of the tenant must consent to the Keytos application (the how-to's prerequisite "The Keytos Entra ID application is registered in your tenant"), then grant it the three roles.`,
      );
    }
    if (/AADSTS90002\b/.test(description))
      return mapTransportError(new TenantNotFoundError(tenantId), tenantId);
    const code = /AADSTS\d+/.exec(description)?.[0];
    const status = (error as { statusCode?: number }).statusCode ?? 0;
    if (!code && (status === 0 || status >= 500)) {
      return new TransientDependencyError(
        'Entra ID did not answer the token request. Try again in a few minutes.',
      );
    }
    return new DependencyRejectedError(
      code ?? 'TokenRequestFailed',
      `Entra ID refused to issue the Keytos application a token for tenant ${tenantId} (${code ?? `status ${status}`}). If the application was removed from your tenant, consent to it again; otherwise contact Keytos support.`,
    );
  }
  if (error instanceof TenantNotFoundError) {
    return new ValidationError(
      'TenantNotFound',
      `Entra ID does not know the tenant ${tenantId} (AADSTS90002). Check the tenant ID EZCA is configured with: it is the Tenant ID on the Overview page of Microsoft Entra ID in the Azure portal, for the tenant whose subscription holds the workspace.`,
      'tenantId',
    );
  }
  if (error.name === 'CredentialUnavailableError') {
    return new DependencyRejectedError(
      'CredentialUnavailable',
      'The service could not use its own identity to reach your tenant. This is a problem on our side; try again later or contact Keytos support.',
    );
  }
  const code = (error as { code?: unknown }).code;
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (error.name === 'RestError' && statusCode === undefined) {
    const reason = typeof code === 'string' && NETWORK.test(code) ? code : 'network error';
    return new TransientDependencyError(
      `Azure Resource Manager could not be reached (${reason}). Try again in a few minutes.`,
    );
  }
  return error;
}
