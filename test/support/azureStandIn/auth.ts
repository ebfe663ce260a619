import type { IncomingMessage } from 'node:http';
import type { JWTPayload } from 'jose';
import { issuerFor, type StandInContext } from './context';
import { normalizeAudience, type VerifyFailure } from './tokens';

export interface Caller {
  tenantId: string;
  objectId: string;
  appId: string;
  audience: string;
  issuer: string;
  claims: JWTPayload;
}

export type AuthProblem =
  | { kind: 'missing' }
  | { kind: 'invalidHeader' }
  | { kind: 'invalidToken'; failure: VerifyFailure }
  | { kind: 'untrustedIssuer'; issuer: string }
  | { kind: 'audience'; audience: string; allowed: string[] };

export type AuthResult = { ok: true; caller: Caller } | { ok: false; problem: AuthProblem };

/** Validates `Authorization: Bearer …` against the stand-in's keys, issuers and the allowed audiences. */
export async function authenticateBearer(
  context: StandInContext,
  req: IncomingMessage,
  allowedAudiences: string[],
): Promise<AuthResult> {
  const header = req.headers.authorization;
  if (!header) return { ok: false, problem: { kind: 'missing' } };
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) return { ok: false, problem: { kind: 'invalidHeader' } };
  const verified = await context.keys.verify(match[1]!);
  if (!verified.ok) return { ok: false, problem: { kind: 'invalidToken', failure: verified.failure } };
  const claims = verified.claims;
  const tenantId = typeof claims.tid === 'string' ? claims.tid : '';
  const issuer = claims.iss ?? '';
  if (!tenantId || issuer !== issuerFor(context, tenantId)) {
    return { ok: false, problem: { kind: 'untrustedIssuer', issuer } };
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud ?? ''];
  const allowed = allowedAudiences.map(normalizeAudience);
  const audience = audiences.find((candidate) => allowed.includes(normalizeAudience(candidate)));
  if (!audience)
    return {
      ok: false,
      problem: { kind: 'audience', audience: audiences.join(','), allowed: allowedAudiences },
    };
  return {
    ok: true,
    caller: {
      tenantId,
      objectId: typeof claims.oid === 'string' ? claims.oid : '',
      appId:
        typeof claims.appid === 'string' ? claims.appid : typeof claims.azp === 'string' ? claims.azp : '',
      audience,
      issuer,
      claims,
    },
  };
}
