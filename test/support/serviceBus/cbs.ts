import { validateSasToken } from './sasToken';
import type { ServiceBusRight, ServiceBusTokenAuthority } from './types';

export const SAS_TOKEN_TYPE = 'servicebus.windows.net:sastoken';
/** @azure/core-amqp TokenType.CbsTokenTypeJwt: what a TokenCredential's Entra token is sent as. */
export const JWT_TOKEN_TYPE = 'jwt';

/** What one accepted put-token proved, for the audience (entity URI) it named. */
export interface CbsClaim {
  expiresAtMs: number;
  rights: ReadonlySet<ServiceBusRight>;
}

/**
 * What Service Bus answers a SAS put-token on a namespace with local authentication disabled
 * (`disableLocalAuth: true`, as infra/azuredeploy.json deploys it): a 401 on `$cbs` quoted by
 * Azure/azure-sdk-for-js#32923 and Azure/azure-sdk-for-java#37010 ("status-code: 401,
 * status-description: LocalAuthDisabled: Authorization failed because SAS authentication has been
 * disabled for the namespace. TrackingId:…"). The tracking suffix is left out.
 */
export const LOCAL_AUTH_DISABLED =
  'LocalAuthDisabled: Authorization failed because SAS authentication has been disabled for the namespace.';

export type PutTokenOutcome =
  { ok: true; claim: CbsClaim } | { ok: false; statusCode: number; description: string };

/**
 * A put-token on `$cbs`: a SAS token signed with the namespace key (all
 * rights: the stand-in's key is a RootManageSharedAccessKey), or an Entra ID
 * token when an authority is configured, whose rights come from the caller's
 * data roles. A valid token without a role is accepted here, as Service Bus
 * does; the link attach or operation then fails naming the missing claim.
 */
export async function checkPutToken(
  input: { type: unknown; token: unknown; audience: string },
  sas: { keyName: string; key: string },
  authority: ServiceBusTokenAuthority | undefined,
  localAuth = true,
): Promise<PutTokenOutcome> {
  if (input.type === SAS_TOKEN_TYPE) {
    if (!localAuth) return { ok: false, statusCode: 401, description: LOCAL_AUTH_DISABLED };
    const result = validateSasToken(input.token, input.audience, sas, Date.now());
    if (!result.ok) return { ok: false, statusCode: result.statusCode, description: result.description };
    return { ok: true, claim: { expiresAtMs: result.expiresAtMs, rights: new Set(['Send', 'Listen']) } };
  }
  if (input.type === JWT_TOKEN_TYPE && authority) {
    if (typeof input.token !== 'string') {
      return { ok: false, statusCode: 400, description: 'The put-token body must be the token string.' };
    }
    const entityPath = new URL(input.audience).pathname.replace(/^\/+/, '');
    const result = await authority.authorize(input.token, entityPath);
    if (!result.ok) return { ok: false, statusCode: 401, description: result.description };
    if (result.expiresAtMs <= Date.now()) {
      return { ok: false, statusCode: 401, description: 'ExpiredToken: The token is expired.' };
    }
    return { ok: true, claim: { expiresAtMs: result.expiresAtMs, rights: new Set(result.rights) } };
  }
  const accepted = authority ? `'${SAS_TOKEN_TYPE}' or '${JWT_TOKEN_TYPE}'` : `'${SAS_TOKEN_TYPE}'`;
  return {
    ok: false,
    statusCode: 401,
    description: `The Service Bus stand-in accepts tokens of type ${accepted} here; got '${String(input.type)}'.`,
  };
}
