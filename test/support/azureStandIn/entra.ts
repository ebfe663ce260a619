import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { issuerFor, type Route, type StandInContext } from './context';
import { HttpError, json, readBody, segments, type Reply, type RequestContext } from './http';
import type { AppRecord, ManagedIdentityRecord, TenantRecord } from './model';
import { SERVICE_BUS_AUDIENCE } from './serviceBusAuthority';
import { normalizeAudience } from './tokens';

/**
 * Entra ID, as far as @azure/identity's confidential-client credentials and
 * ManagedIdentityCredential use it: OpenID metadata, the v2.0 token endpoint
 * (client credentials with a secret, a certificate assertion or a federated
 * assertion), the signing keys, and an App Service style managed identity
 * endpoint. Errors carry Entra's AADSTS codes and shape.
 */

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access']);

export function entraRoute(context: StandInContext, method: string, url: URL): Route | undefined {
  const parts = segments(url);
  if (method === 'GET' && parts.length === 2 && parts[0] === 'msi' && parts[1] === 'token') {
    return {
      face: 'managedIdentity',
      operation: 'managedIdentityToken',
      handle: (r) => managedIdentityToken(context, r),
    };
  }
  const [tenant, ...rest] = parts;
  const path = rest.join('/');
  if (method === 'GET' && path === 'discovery/v2.0/keys' && tenant) {
    return {
      face: 'entra',
      operation: 'jwks',
      tenantId: tenant,
      handle: () => Promise.resolve(json(200, context.keys.jwks())),
    };
  }
  if (method === 'GET' && tenant === 'discovery' && path === 'v2.0/keys') {
    return {
      face: 'entra',
      operation: 'jwks',
      handle: () => Promise.resolve(json(200, context.keys.jwks())),
    };
  }
  if (method === 'GET' && path === 'v2.0/.well-known/openid-configuration' && tenant) {
    return {
      face: 'entra',
      operation: 'openidConfiguration',
      tenantId: tenant,
      handle: () => Promise.resolve(openidConfiguration(context, tenant)),
    };
  }
  if (method === 'POST' && path === 'oauth2/v2.0/token' && tenant) {
    return { face: 'entra', operation: 'token', tenantId: tenant, handle: (r) => token(context, tenant, r) };
  }
  return undefined;
}

function entraError(status: number, error: string, code: number, description: string): HttpError {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return new HttpError(
    status,
    {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
    {},
    `AADSTS${code}`,
  );
}

function knownTenant(context: StandInContext, tenant: string): TenantRecord {
  const record = context.state.tenant(tenant);
  if (!record) {
    throw entraError(
      400,
      'invalid_tenant',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    );
  }
  return record;
}

function openidConfiguration(context: StandInContext, tenant: string): Reply {
  const generic = ['common', 'organizations'].includes(tenant.toLowerCase());
  const tenantId = generic ? '{tenantid}' : knownTenant(context, tenant).id;
  const base = context.baseUrl();
  const pathTenant = generic ? tenant : tenantId;
  return json(200, {
    token_endpoint: `${base}/${pathTenant}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/${pathTenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${base}/${tenantId}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${base}/oidc/userinfo`,
    authorization_endpoint: `${base}/${pathTenant}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/${pathTenant}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/${pathTenant}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'ver'],
    tenant_region_scope: null,
    cloud_instance_name: '127.0.0.1',
    cloud_graph_host_name: '127.0.0.1',
    msgraph_host: '127.0.0.1',
  });
}

/** Resources the token endpoint issues tokens for (normalized → as registered). */
function knownResources(context: StandInContext): Map<string, string> {
  const { armAudiences, monitorAudiences, extraResources } = context.options;
  const resources = new Map<string, string>();
  for (const resource of [
    ...armAudiences,
    context.baseUrl(),
    ...monitorAudiences,
    SERVICE_BUS_AUDIENCE,
    ...extraResources,
  ]) {
    resources.set(normalizeAudience(resource), resource.replace(/\/+$/, ''));
  }
  return resources;
}

async function token(context: StandInContext, tenant: string, request: RequestContext): Promise<Reply> {
  const tenantRecord = knownTenant(context, tenant);
  const form = new URLSearchParams((await readBody(request.req, 1_000_000)).toString('utf8'));
  const grantType = form.get('grant_type');
  if (grantType !== 'client_credentials') {
    throw entraError(
      400,
      'unsupported_grant_type',
      70003,
      `The app requested an unsupported grant type '${grantType ?? ''}'.`,
    );
  }
  const clientId = form.get('client_id') ?? '';
  if (!clientId) {
    throw entraError(
      400,
      'invalid_request',
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    );
  }
  const app = context.state.app(clientId);
  const objectId = context.state.servicePrincipalObjectId(tenantRecord.id, clientId);
  if (!app || !objectId) {
    throw entraError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantRecord.displayName}'. ` +
        'This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. ' +
        'You may have sent your authentication request to the wrong tenant.',
    );
  }
  const tokenEndpoint = `${context.baseUrl()}/${tenant}/oauth2/v2.0/token`;
  const clientAuth = await authenticateClient(context, app, form, tokenEndpoint);

  const resource = resolveResource(context, form.get('scope') ?? '', tenantRecord);
  const now = Math.floor(Date.now() / 1000);
  const lifetime = context.options.accessTokenLifetimeSeconds;
  const claims: JWTPayload = {
    aud: resource,
    iss: issuerFor(context, tenantRecord.id),
    iat: now,
    nbf: now,
    exp: now + lifetime,
    appid: app.clientId,
    azp: app.clientId,
    appidacr: clientAuth,
    azpacr: clientAuth,
    idtyp: 'app',
    oid: objectId,
    sub: objectId,
    tid: tenantRecord.id,
    uti: randomUUID(),
    ver: '2.0',
  };
  const accessToken = await context.keys.sign(claims);
  return json(200, {
    token_type: 'Bearer',
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: accessToken,
  });
}

/** Returns Entra's `appidacr`: '1' for a secret, '2' for a certificate or federated assertion. */
async function authenticateClient(
  context: StandInContext,
  app: AppRecord,
  form: URLSearchParams,
  tokenEndpoint: string,
): Promise<'1' | '2'> {
  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  if (secret !== null) {
    const presented = createHash('sha256').update(secret).digest();
    if (!app.secretHashes.some((hash) => timingSafeEqual(hash, presented))) {
      throw entraError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    }
    return '1';
  }
  if (assertion !== null) {
    if (form.get('client_assertion_type') !== ASSERTION_TYPE) {
      throw entraError(400, 'invalid_request', 700027, `Client assertion type must be '${ASSERTION_TYPE}'.`);
    }
    await verifyAssertion(context, app, assertion, tokenEndpoint);
    return '2';
  }
  throw entraError(
    401,
    'invalid_client',
    7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
  );
}

async function verifyAssertion(
  context: StandInContext,
  app: AppRecord,
  assertion: string,
  tokenEndpoint: string,
): Promise<void> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    payload = decodeJwt(assertion);
  } catch {
    throw entraError(401, 'invalid_client', 700027, 'Client assertion is not a valid JWT.');
  }
  const x5tS256 = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  const x5t = typeof header.x5t === 'string' ? header.x5t : undefined;
  if (x5tS256 || x5t) {
    await verifyCertificateAssertion(app, assertion, { x5tS256, x5t }, tokenEndpoint);
    return;
  }
  if (header.kid && context.keys.has(header.kid)) {
    await verifyFederatedAssertion(context, app, assertion);
    return;
  }
  throw entraError(
    401,
    'invalid_client',
    700027,
    `Client assertion failed signature validation. [Reason - The key was not found., Key identifier used by client: '${header.kid ?? ''}', ` +
      `issuer '${String(payload.iss ?? '')}'. Register a certificate on app '${app.clientId}' or a federated credential trusting this issuer.]`,
  );
}

async function verifyCertificateAssertion(
  app: AppRecord,
  assertion: string,
  thumbprints: { x5tS256?: string; x5t?: string },
  tokenEndpoint: string,
): Promise<void> {
  const certificate = app.certificates.find(
    (candidate) =>
      (thumbprints.x5tS256 !== undefined && candidate.x5tS256 === thumbprints.x5tS256) ||
      (thumbprints.x5t !== undefined && candidate.x5t === thumbprints.x5t),
  );
  if (!certificate) {
    const presented = thumbprints.x5tS256 ?? thumbprints.x5t ?? '';
    throw entraError(
      401,
      'invalid_client',
      700027,
      `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${Buffer.from(presented, 'base64url').toString('hex').toUpperCase()}', ` +
        `Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`,
    );
  }
  try {
    await jwtVerify(assertion, certificate.publicKey, {
      algorithms: ['PS256', 'RS256'],
      requiredClaims: ['exp', 'aud', 'iss', 'sub'],
      clockTolerance: 300,
    });
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) {
      throw entraError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
    }
    throw entraError(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature.');
  }
  const claims = decodeJwt(assertion);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud ?? ''];
  const acceptedAudiences = [tokenEndpoint, tokenEndpoint.replace('/oauth2/v2.0/token', '/oauth2/token')];
  if (!audiences.some((audience) => acceptedAudiences.includes(audience))) {
    throw entraError(
      401,
      'invalid_client',
      700027,
      `Client assertion audience '${audiences.join(',')}' does not match the token endpoint '${tokenEndpoint}'.`,
    );
  }
  if (claims.iss !== app.clientId || claims.sub !== app.clientId) {
    throw entraError(
      401,
      'invalid_client',
      700027,
      `Client assertion issuer and subject must both be the client id '${app.clientId}' (got iss '${String(claims.iss)}', sub '${String(claims.sub)}').`,
    );
  }
}

async function verifyFederatedAssertion(
  context: StandInContext,
  app: AppRecord,
  assertion: string,
): Promise<void> {
  const verified = await context.keys.verify(assertion);
  if (!verified.ok) {
    if (verified.failure.reason === 'expired') {
      throw entraError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
    }
    throw entraError(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature.');
  }
  const { iss, sub, aud } = verified.claims;
  const audiences = Array.isArray(aud) ? aud : [aud ?? ''];
  // Entra names the claim that matched no federated credential: AADSTS700211 issuer, 700212
  // audience, 700213 subject (700213's text is quoted from real answers in Azure/login#482 and
  // dotnet/maui#31978; 700211 in Azure/azure-workload-identity#1200; 700212's text is assumed
  // by analogy). Matching is case-sensitive (Learn, Entra breaking changes, August 2024). Which
  // claim Entra reports when several differ is not recorded: issuer, then subject, then audience.
  const byIssuer = app.federatedCredentials.filter((credential) => credential.issuer === iss);
  const bySubject = byIssuer.filter((credential) => credential.subject === sub);
  const matched = bySubject.some((credential) =>
    credential.audiences.some((audience) => audiences.includes(audience)),
  );
  if (matched) return;
  const [code, claim, value] =
    byIssuer.length === 0
      ? [700211, 'issuer', String(iss)]
      : bySubject.length === 0
        ? [700213, 'subject', String(sub)]
        : [700212, 'audience', audiences.join(',')];
  throw entraError(
    401,
    'invalid_client',
    code,
    `No matching federated identity record found for presented assertion ${claim} '${value}'. ` +
      'Check your federated identity credential Subject, Audience and Issuer against the presented assertion. ' +
      'https://learn.microsoft.com/entra/workload-id/workload-identity-federation',
  );
}

function resolveResource(context: StandInContext, scopeParameter: string, tenant: TenantRecord): string {
  const scopes = scopeParameter.split(' ').filter((scope) => scope && !OIDC_SCOPES.has(scope));
  const [scope] = scopes;
  if (scopes.length !== 1 || !scope?.endsWith('/.default')) {
    throw entraError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scopeParameter} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  const requested = scope.slice(0, -'/.default'.length);
  const resource = knownResources(context).get(normalizeAudience(requested));
  if (!resource) {
    throw entraError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${requested} was not found in the tenant named ${tenant.displayName}. ` +
        'This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. ' +
        'You might have sent your authentication request to the wrong tenant.',
    );
  }
  return resource;
}

/** App Service's managed identity endpoint (api-version 2019-08-01), as MSAL calls it. */
async function managedIdentityToken(context: StandInContext, request: RequestContext): Promise<Reply> {
  const fail = (status: number, message: string): HttpError =>
    new HttpError(
      status,
      { statusCode: status, message, correlationId: randomUUID() },
      {},
      'ManagedIdentityError',
    );
  if (request.req.headers['x-identity-header'] !== context.options.identityHeader) {
    throw fail(401, 'The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.');
  }
  const query = request.url.searchParams;
  if (query.get('api-version') !== '2019-08-01') {
    throw fail(400, `Unsupported api-version '${query.get('api-version') ?? ''}'; expected 2019-08-01.`);
  }
  const clientId = query.get('client_id');
  const objectId = query.get('object_id') ?? query.get('principal_id');
  const resourceId = query.get('mi_res_id');
  let identity: ManagedIdentityRecord | undefined;
  for (const candidate of context.state.managedIdentities.values()) {
    if (
      (clientId && candidate.clientId.toLowerCase() === clientId.toLowerCase()) ||
      (objectId && candidate.objectId.toLowerCase() === objectId.toLowerCase()) ||
      (resourceId && candidate.resourceId.toLowerCase() === resourceId.toLowerCase())
    ) {
      identity = candidate;
    }
  }
  if (!clientId && !objectId && !resourceId) {
    throw fail(
      400,
      'This host has no system-assigned identity: name the user-assigned identity (client_id).',
    );
  }
  if (!identity)
    throw fail(400, 'Unable to load the requested managed identity: it is not assigned to this host.');
  request.tenantId = identity.tenantId;

  const requested = (query.get('resource') ?? '').replace(/\/\.default$/, '');
  const allowed = [
    ...context.options.tokenExchangeAudiences,
    ...context.options.armAudiences,
    ...context.options.monitorAudiences,
    // Learn, "Authenticate a managed identity with Microsoft Entra ID to access Azure Service Bus
    // resources": the Functions app's user-assigned identity asks for this resource (see serviceBusAuthority.ts).
    SERVICE_BUS_AUDIENCE,
  ];
  const resource = allowed.find((candidate) => normalizeAudience(candidate) === normalizeAudience(requested));
  if (!resource) {
    throw fail(400, `AADSTS500011: The resource principal named ${requested} was not found in the tenant.`);
  }
  const now = Math.floor(Date.now() / 1000);
  const exp = now + context.options.accessTokenLifetimeSeconds;
  const accessToken = await context.keys.sign({
    aud: resource.replace(/\/+$/, ''),
    iss: issuerFor(context, identity.tenantId),
    iat: now,
    nbf: now,
    exp,
    appid: identity.clientId,
    azp: identity.clientId,
    idtyp: 'app',
    oid: identity.objectId,
    sub: identity.objectId,
    tid: identity.tenantId,
    xms_mirid: identity.resourceId,
    uti: randomUUID(),
    ver: '2.0',
  });
  return json(200, {
    access_token: accessToken,
    expires_on: exp,
    resource,
    token_type: 'Bearer',
    client_id: identity.clientId,
  });
}
