import { authenticateBearer, type Caller } from './auth';
import type { StandInContext } from './context';
import { armError, HttpError, type RequestContext } from './http';
import type { SubscriptionRecord } from './model';
import { describeFailure } from './tokens';

/**
 * Who may call ARM: the bearer token (signature, audience, issuer), answered in ARM's 401 shapes,
 * and the role assignments that grant the caller an action over a scope (403 AuthorizationFailed).
 */

/** The caller a bearer token names, or ARM's 401 for a missing, malformed, expired or foreign token. */
export async function authenticateArmCaller(
  context: StandInContext,
  request: RequestContext,
): Promise<Caller> {
  const audiences = [...context.options.armAudiences, context.baseUrl()];
  const result = await authenticateBearer(context, request.req, audiences);
  if (result.ok) return result.caller;
  const problem = result.problem;
  const challenge = { 'www-authenticate': 'Bearer error="invalid_token"' };
  switch (problem.kind) {
    case 'missing':
      throw armError(
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing.",
      );
    case 'invalidHeader':
      throw armError(
        401,
        'AuthenticationFailedInvalidHeader',
        "Authentication failed. The 'Authorization' header is provided in an invalid format.",
      );
    case 'invalidToken': {
      const code =
        problem.failure.reason === 'expired' ? 'ExpiredAuthenticationToken' : 'InvalidAuthenticationToken';
      const error = armError(401, code, describeFailure(problem.failure));
      throw new HttpError(401, error.body, { ...error.headers, ...challenge }, code);
    }
    case 'untrustedIssuer':
      throw armError(
        401,
        'InvalidAuthenticationToken',
        `The access token is invalid: issuer '${problem.issuer}' is not trusted.`,
      );
    case 'audience':
      throw armError(
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${problem.audience}'. It should exactly match with one of the allowed audiences '${problem.allowed.join("','")}'.`,
      );
  }
}

/** Passes when a role assignment grants the caller `action` over `scope`; ARM's 403 otherwise. */
export function authorizeArmAction(
  state: StandInContext['state'],
  caller: Caller,
  subscription: SubscriptionRecord,
  action: string,
  scope: string,
): void {
  const granted = state.grantingAssignments(subscription.tenantId, caller.objectId, scope, action, 'action');
  if (granted.length > 0) return;
  throw armError(
    403,
    'AuthorizationFailed',
    `The client '${caller.appId}' with object id '${caller.objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. ` +
      'If access was recently granted, please refresh your credentials.',
  );
}
