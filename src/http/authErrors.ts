/**
 * The two refusals of the API's authentication, apart from the code that
 * decides them so that mapping them to problem+json does not load the JWT
 * library into every function file at startup.
 */

/** No usable credentials: answered 401 with a Bearer challenge. */
export class Unauthenticated extends Error {
  constructor(
    message: string,
    /** RFC 6750 error code for the challenge; absent when no token was sent at all. */
    readonly bearerError?: 'invalid_token' | 'invalid_request',
  ) {
    super(message);
    this.name = 'Unauthenticated';
  }
}

/** Authenticated, but not allowed to do this: answered 403. */
export class Forbidden extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'Forbidden';
  }
}
