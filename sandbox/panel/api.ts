/**
 * The portal API as a browser page calls it (openapi/openapi.yaml): a bearer token in the Authorization
 * header, JSON bodies, problem+json errors, ETags sent back as If-Match.
 */

export interface Session {
  /** Where the API lives, e.g. /api (same origin as the page in the sandbox). */
  apiBaseUrl: string;
  tenantId: string;
  bearerToken: string;
}

export type StepOutcome = 'ok' | 'warning' | 'pending' | 'failed' | 'skipped';

export interface StepResult {
  outcome: StepOutcome;
  detail: string;
  code?: string;
  missingRole?: string;
  scope?: string;
}

export interface ConnectionTest {
  outcome: 'ok' | 'pending' | 'failed';
  testedAt: string;
  pendingUntil?: string;
  /** Step name → result, in the order the API ran them. */
  steps: Record<string, StepResult>;
}

export interface Settings {
  tenantId: string;
  exportEnabled: boolean;
  state: string;
  stateReason: string;
  stateChangedAt: string;
  saved?: { workspaceResourceId: string; location: string };
  tested?: { workspaceResourceId: string; location: string; test: ConnectionTest };
  health: { lastDeliveryAt?: string; lastError?: { at: string; message: string }; parkedCount: number };
}

export interface CreateConnectionResult {
  workspaceResourceId: string;
  location: string;
  state: string;
  test: ConnectionTest;
}

export interface ParkedEvent {
  parkedId: string;
  category: string;
  reason: string;
  eventId?: number;
  eventRecordId?: string;
  parkedAt: string;
}

export interface ReplayResult {
  replayed: number;
  notFound: string[];
  remaining: boolean;
}

/** A response that is not 2xx, with the problem's actionable detail. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface Versioned<T> {
  value: T;
  etag: string | undefined;
}

export class PortalApi {
  constructor(private readonly session: Session) {}

  private async call<T>(
    method: string,
    path: string,
    options: { json?: unknown; ifMatch?: string } = {},
  ): Promise<Versioned<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.session.bearerToken}` };
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    let response: Response;
    try {
      response = await fetch(
        `${this.session.apiBaseUrl}/tenants/${encodeURIComponent(this.session.tenantId)}/siem${path}`,
        {
          method,
          headers,
          ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
        },
      );
    } catch {
      throw new ApiError(0, undefined, 'The API could not be reached. Check your connection and try again.');
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const problem = (body ?? {}) as { code?: unknown; detail?: unknown; title?: unknown };
      const message =
        typeof problem.detail === 'string'
          ? problem.detail
          : typeof problem.title === 'string'
            ? problem.title
            : `The API answered ${response.status}.`;
      throw new ApiError(
        response.status,
        typeof problem.code === 'string' ? problem.code : undefined,
        message,
      );
    }
    return { value: body as T, etag: response.headers.get('etag') ?? undefined };
  }

  /** The tenant's settings and health; undefined while SIEM export was never configured (404). */
  async settings(): Promise<Versioned<Settings> | undefined> {
    try {
      return await this.call<Settings>('GET', '');
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  createConnection(
    workspaceResourceId: string,
    location: string,
  ): Promise<Versioned<CreateConnectionResult>> {
    return this.call('POST', '/connection', { json: { workspaceResourceId, location } });
  }

  save(workspaceResourceId: string, location: string, ifMatch?: string): Promise<Versioned<Settings>> {
    return this.call('PUT', '', {
      json: { workspaceResourceId, location },
      ...(ifMatch ? { ifMatch } : {}),
    });
  }

  disable(ifMatch?: string): Promise<Versioned<Settings>> {
    return this.call('DELETE', '', ifMatch ? { ifMatch } : {});
  }

  async parked(): Promise<ParkedEvent[]> {
    return (await this.call<{ items: ParkedEvent[] }>('GET', '/parked?limit=100')).value.items;
  }

  async replayAll(): Promise<ReplayResult> {
    return (await this.call<ReplayResult>('POST', '/replay', { json: {} })).value;
  }
}
