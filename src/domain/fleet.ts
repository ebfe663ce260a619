import type { ConnectionState } from './tenantConnection';

/** One line of the operator's fleet view: where a tenant's export stands. */
export interface TenantOverview {
  tenantId: string;
  state: ConnectionState;
  stateReason: string;
  stateChangedAt: string;
  lastDeliveryAt: string | undefined;
  lastError: { at: string; message: string } | undefined;
  /** Events parked for the tenant (waiting for a replay). */
  parked: number;
}

export interface FleetPage {
  items: TenantOverview[];
  /** Present when more tenants follow; pass it back to read the next page. */
  continuationToken?: string;
}

export interface FleetQuery {
  state?: ConnectionState;
  limit: number;
  continuationToken?: string;
}

/** Every tenant's connection, in pages, without reading more than a page's worth at a time. */
export interface TenantFleet {
  list(query: FleetQuery): Promise<FleetPage>;
}
