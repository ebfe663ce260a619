import { CA_TABLE, CERTIFICATE_TABLE, type TableName } from './tableSchema';

/**
 * The event catalog: the one place that says which event IDs exist, what
 * they mean, how critical they are and which table they land in. Taken word
 * for word from the customer how-to ("What Logs are Sent to Azure Sentinel?").
 */

export type Criticality = 'High' | 'Medium' | 'Low' | 'Informational';
export type EventCategory = 'CA' | 'Certificate' | 'ConnectionTest';

export interface CatalogEntry {
  readonly eventId: number;
  readonly summary: string;
  readonly description: string;
  readonly criticality: Criticality;
  readonly category: EventCategory;
  readonly table: TableName;
}

/**
 * Sent by "Create Connection" to prove each table accepts rows. It is not a
 * PKI event: alert rules exclude it, and producers may not enqueue it.
 */
export const CONNECTION_TEST_EVENT_ID = 1;

export const EVENT_CATALOG: readonly CatalogEntry[] = [
  {
    eventId: 4882,
    summary: 'The security permissions for Certificate Services changed',
    description: 'A change in CA settings that might give or remove critical permissions',
    criticality: 'High',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 92,
    summary: 'CA change denied due to insufficient permissions',
    description: 'A user attempted to change CA settings without the proper permissions',
    criticality: 'High',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 23,
    summary: 'Intermediate CA request rejected',
    description: 'A new Intermediate CA request has been rejected',
    criticality: 'High',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 19,
    summary: 'CA deleted',
    description: 'This indicates that a CA was deleted',
    criticality: 'High',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 28,
    summary: 'Intermediate CA was imported',
    description: 'A new Intermediate CA has been created chaining to an external CA',
    criticality: 'Medium',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 22,
    summary: 'Intermediate CA created with EZCA Root',
    description: 'A new Intermediate CA has been created chaining to an EZCA CA',
    criticality: 'Medium',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 12,
    summary: 'CA was renewed',
    description: 'A CA has been renewed',
    criticality: 'Low',
    category: 'CA',
    table: CA_TABLE,
  },
  {
    eventId: 4888,
    summary: 'Certificate request denied due to insufficient permissions',
    description: 'A user attempted to request a certificate without the proper permissions',
    criticality: 'High',
    category: 'Certificate',
    table: CERTIFICATE_TABLE,
  },
  {
    eventId: 4870,
    summary: 'A certificate has been revoked',
    description:
      'This can cause an outage if was done by mistake or the new certificate is not added to all the endpoints that use the certificate',
    criticality: 'Medium',
    category: 'Certificate',
    table: CERTIFICATE_TABLE,
  },
  {
    eventId: 4872,
    summary: 'Publish CRL',
    description:
      'This is an even that the CRL has been published, this does not have to be tracked as we take care of it for you.',
    criticality: 'Low',
    category: 'Certificate',
    table: CERTIFICATE_TABLE,
  },
  {
    eventId: 4887,
    summary: 'Certificate was created',
    description: 'This event indicates a certificate was created successfully',
    criticality: 'Low',
    category: 'Certificate',
    table: CERTIFICATE_TABLE,
  },
];

/** The connection test writes one row to each table; this entry describes it. */
export const CONNECTION_TEST_ENTRY: Omit<CatalogEntry, 'table'> = {
  eventId: CONNECTION_TEST_EVENT_ID,
  summary: 'Connection test (not a PKI event)',
  description: 'Written by Create Connection to prove the table accepts rows. Safe to ignore.',
  criticality: 'Informational',
  category: 'ConnectionTest',
};

const BY_ID: ReadonlyMap<number, CatalogEntry> = new Map(
  EVENT_CATALOG.map((entry) => [entry.eventId, entry]),
);

export function catalogEntry(eventId: number): CatalogEntry | undefined {
  return BY_ID.get(eventId);
}
