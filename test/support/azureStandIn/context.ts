import type { StandInState } from './model';
import type { KeyRing } from './tokens';
import type { RequestContext, Reply } from './http';
import type { Face, Operation } from './types';

export interface StandInOptions {
  /** Audiences ARM accepts (the stand-in's own base URL is always added: an SDK pointed at it asks for `${endpoint}/.default`). */
  armAudiences: string[];
  /** Audiences the Logs Ingestion API accepts. */
  monitorAudiences: string[];
  /** Audiences a managed identity may get a token for, to present as a federated credential. */
  tokenExchangeAudiences: string[];
  /** Other resources the token endpoint knows (e.g. our API's app id URI). */
  extraResources: string[];
  /** Default audience of mintToken: our HTTP API. */
  apiAudience: string;
  /** Lifetime of access tokens the token endpoint issues. */
  accessTokenLifetimeSeconds: number;
  /** Value ManagedIdentityCredential must send as X-IDENTITY-HEADER. */
  identityHeader: string;
}

export interface StandInContext {
  state: StandInState;
  keys: KeyRing;
  options: StandInOptions;
  /** https://127.0.0.1:PORT, known once listening. */
  baseUrl(): string;
}

/** A request the stand-in knows how to serve, classified before faults are considered. */
export interface Route {
  face: Face;
  operation: Operation;
  /** The tenant the request concerns (for faults, settings and the log). */
  tenantId?: string;
  dcrImmutableId?: string;
  /** Ingestion: the stream the upload is for. */
  stream?: string;
  handle(request: RequestContext): Promise<Reply>;
}

export function issuerFor(context: StandInContext, tenantId: string): string {
  return `${context.baseUrl()}/${tenantId}/v2.0`;
}
