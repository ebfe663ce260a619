import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { contextLogger } from '../contextLogger';
import { SigningKeyUnavailableError } from '../domain/exportHealth/signing';
import { healthSigning } from '../exportHealthComposition';
import { problemResponse } from '../http/problem';

/**
 * The public keys that sign export health rows, as a JWKS (RFC 7517): the
 * current key first, then previous ones still needed to verify older rows.
 * No authentication: anyone holding health rows must be able to check them,
 * and public keys reveal nothing.
 */
export async function siemSigningKeys(
  _request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const logger = contextLogger(context);
  try {
    const signing = await healthSigning();
    const keys = await signing.publicKeys();
    return {
      status: 200,
      jsonBody: { keys },
      // Short: a rotation shows within minutes; verifiers fetch it once per run anyway.
      headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
    };
  } catch (error) {
    if (error instanceof SigningKeyUnavailableError) {
      // The reason names the vault, the key and the role: for the operator's log, not anonymous callers.
      logger.error('Signing keys unavailable', { code: error.code, reason: error.message });
      return problemResponse(
        503,
        error.code,
        'The signing keys are unavailable right now; try again later.',
        {
          headers: { 'retry-after': '60' },
        },
      );
    }
    logger.error('Signing keys request failed unexpectedly', {
      error: error instanceof Error ? error.name : typeof error,
    });
    return problemResponse(500, 'InternalError', 'The signing keys could not be read; try again later.');
  }
}

app.http('siemSigningKeys', {
  route: 'siem/signing-keys',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: siemSigningKeys,
});
