import { ManagedIdentityCredential } from '@azure/identity';
import type { RowsResponse, SandboxTenant } from '../../sandbox/controlServer';
import type { SandboxInfo } from '../../sandbox/sandbox';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { TABLE_NAMES } from '../../src/domain/tableSchema';
import type { AuditEvent } from '../../src/domain/eventContract';
import { AuditEventPublisher, buildEvent, sampleEvent } from '../../src/producer';
import { assertLoopback } from './loopback';

/**
 * What the end-to-end tests do to a running sandbox, through its public surfaces only: the HTTP API
 * (as the portal calls it), the queue (through the producer, as a PKI service sends), the rows URL
 * and the tenants URL.
 */

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/** The portal's calls for one tenant. */
export class TenantApi {
  constructor(
    private readonly apiBaseUrl: string,
    readonly tenant: Pick<SandboxTenant, 'tenantId' | 'bearerToken' | 'workspaceResourceId' | 'location'>,
  ) {
    assertLoopback(apiBaseUrl);
  }

  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    json?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.apiBaseUrl}/tenants/${this.tenant.tenantId}/siem${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.tenant.bearerToken}`,
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // keep the text
    }
    return { status: response.status, body: body as T };
  }

  /** "Create Connection" for the tenant's own workspace. */
  createConnection(): Promise<ApiResponse> {
    return this.call('POST', '/connection', {
      workspaceResourceId: this.tenant.workspaceResourceId,
      location: this.tenant.location,
    });
  }

  /** "Save changes". */
  save(): Promise<ApiResponse> {
    return this.call('PUT', '', {
      workspaceResourceId: this.tenant.workspaceResourceId,
      location: this.tenant.location,
    });
  }

  settings(): Promise<ApiResponse> {
    return this.call('GET', '');
  }

  parked(): Promise<ApiResponse> {
    return this.call('GET', '/parked');
  }

  replay(selection: Record<string, unknown> = {}): Promise<ApiResponse> {
    return this.call('POST', '/replay', selection);
  }

  /** Create Connection then Save changes, failing loudly if either does not succeed. */
  async connectAndSave(): Promise<void> {
    const created = await this.createConnection();
    const outcome = (created.body as { test?: { outcome?: string } } | undefined)?.test?.outcome;
    if (created.status !== 200 || outcome !== 'ok') {
      throw new Error(`Create Connection answered ${created.status}: ${JSON.stringify(created.body)}`);
    }
    const saved = await this.save();
    if (saved.status !== 200) throw new Error(`Save answered ${saved.status}: ${JSON.stringify(saved.body)}`);
  }
}

export function demoTenant(info: SandboxInfo): SandboxTenant {
  return {
    tenantId: info.tenantId,
    subscriptionId: info.subscriptionId,
    resourceGroup: info.resourceGroup,
    workspaceResourceId: info.workspaceResourceId,
    location: info.location,
    bearerToken: info.bearerToken,
  };
}

/** Seeds another customer tenant (workspace, consent, the three roles) through the sandbox. */
export async function addTenant(
  info: SandboxInfo,
  input: { location?: string; unregisteredProviders?: string[] } = {},
): Promise<SandboxTenant> {
  const response = await fetch(info.tenantsUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  if (response.status !== 201)
    throw new Error(`POST ${info.tenantsUrl}: ${response.status} ${await response.text()}`);
  return (await response.json()) as SandboxTenant;
}

export async function fetchRows(info: SandboxInfo): Promise<RowsResponse> {
  const response = await fetch(info.rowsUrl);
  if (!response.ok) throw new Error(`GET ${info.rowsUrl}: ${response.status} ${await response.text()}`);
  return (await response.json()) as RowsResponse;
}

/** The rows of one workspace as `table → rows`. */
export async function workspaceRows(
  info: SandboxInfo,
  workspaceResourceId: string,
): Promise<Record<string, Record<string, unknown>[]>> {
  const rows = await fetchRows(info);
  const workspace = rows.workspaces.find(
    (candidate) => candidate.workspaceResourceId.toLowerCase() === workspaceResourceId.toLowerCase(),
  );
  if (!workspace) throw new Error(`The rows URL does not list workspace ${workspaceResourceId}.`);
  return workspace.tables;
}

/** How many rows carry each event record id, over the event tables of the workspace (not its health rows). */
export async function rowCountsByRecordId(
  info: SandboxInfo,
  workspaceResourceId: string,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const tables = await workspaceRows(info, workspaceResourceId);
  for (const row of TABLE_NAMES.flatMap((table) => tables[table] ?? [])) {
    const id = typeof row.EventRecordId_g === 'string' ? row.EventRecordId_g.toLowerCase() : '';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** One valid event of every catalog ID for the tenant, as a PKI service would build them. */
export function oneOfEachCatalogEvent(tenantId: string): AuditEvent[] {
  return EVENT_CATALOG.map((entry, index) =>
    buildEvent(sampleEvent(entry.eventId, tenantId, index + 1, EVENT_CATALOG.length)),
  );
}

/**
 * Sends events through the producer; throws unless every one was sent. A sandbox run identity-based
 * refuses the connection string, so there the producer signs in as the PKI services' managed
 * identity (Data Sender only), which needs IDENTITY_ENDPOINT/IDENTITY_HEADER from
 * `info.serviceBusIdentity` in this process's environment (the sandbox process has them).
 */
export async function publish(info: SandboxInfo, events: readonly AuditEvent[]): Promise<void> {
  const identity = info.serviceBusIdentity;
  const publisher = AuditEventPublisher.connect(
    identity
      ? {
          fullyQualifiedNamespace: identity.fullyQualifiedNamespace,
          credential: new ManagedIdentityCredential({ clientId: identity.producerClientId }),
          queueName: info.queueName,
        }
      : { connectionString: info.serviceBusConnectionString, queueName: info.queueName },
  );
  try {
    const result = await publisher.send(events);
    if (result.sent.length !== events.length) {
      throw new Error(`The producer refused events: ${JSON.stringify(result.refused)}`);
    }
  } finally {
    await publisher.close();
  }
}
