import { ConcurrencyConflictError } from '../../src/domain/errors';
import type {
  AuditQueue,
  Clock,
  Logger,
  OutgoingAuditMessage,
  ParkedEvent,
  ParkedEventPage,
  ParkedEventStore,
  TenantConnectionStore,
} from '../../src/domain/ports';
import type { TenantConnection, Versioned } from '../../src/domain/tenantConnection';

/**
 * In-memory implementations of the domain's ports for unit tests. They keep
 * the contracts the real adapters keep (ETags, conflicts, paging) so a use case
 * that forgets an ETag fails here as it would against Table Storage.
 */

export class FakeClock implements Clock {
  constructor(private current = new Date('2026-11-24T12:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
  set(at: Date): void {
    this.current = new Date(at);
  }
}

export class InMemoryTenantConnectionStore implements TenantConnectionStore {
  private readonly rows = new Map<string, { value: TenantConnection; etag: string }>();
  private version = 0;

  get(tenantId: string): Promise<Versioned<TenantConnection> | undefined> {
    const row = this.rows.get(tenantId);
    return Promise.resolve(row ? { value: structuredClone(row.value), etag: row.etag } : undefined);
  }

  create(connection: TenantConnection): Promise<Versioned<TenantConnection>> {
    if (this.rows.has(connection.tenantId)) {
      return Promise.reject(new ConcurrencyConflictError(`connection of ${connection.tenantId} exists`));
    }
    return Promise.resolve(this.put(connection));
  }

  replace(connection: TenantConnection, etag: string): Promise<Versioned<TenantConnection>> {
    const row = this.rows.get(connection.tenantId);
    if (!row || row.etag !== etag) {
      return Promise.reject(new ConcurrencyConflictError(`connection of ${connection.tenantId} changed`));
    }
    return Promise.resolve(this.put(connection));
  }

  listPendingTests(): Promise<Array<Versioned<TenantConnection>>> {
    return Promise.resolve(
      [...this.rows.values()]
        .filter((row) => row.value.tested?.test.outcome === 'pending')
        .map((row) => ({ value: structuredClone(row.value), etag: row.etag })),
    );
  }

  listSaved(): Promise<Array<Versioned<TenantConnection>>> {
    return Promise.resolve(
      [...this.rows.values()]
        .filter((row) => row.value.saved !== undefined)
        .map((row) => ({ value: structuredClone(row.value), etag: row.etag })),
    );
  }

  private put(connection: TenantConnection): Versioned<TenantConnection> {
    this.version += 1;
    const etag = `W/"${this.version}"`;
    this.rows.set(connection.tenantId, { value: structuredClone(connection), etag });
    return { value: structuredClone(connection), etag };
  }
}

export class InMemoryParkedEventStore implements ParkedEventStore {
  readonly byTenant = new Map<string, ParkedEvent[]>();

  park(events: readonly ParkedEvent[]): Promise<void> {
    for (const event of events) {
      const key = event.tenantId ?? '_unattributed';
      // Replaces an entry with the same id, as the Table Storage store's upsert does.
      const list = (this.byTenant.get(key) ?? []).filter((entry) => entry.parkedId !== event.parkedId);
      list.push(structuredClone(event));
      list.sort((a, b) => a.parkedId.localeCompare(b.parkedId));
      this.byTenant.set(key, list);
    }
    return Promise.resolve();
  }

  list(tenantId: string, page: { limit: number; continuationToken?: string }): Promise<ParkedEventPage> {
    const all = this.byTenant.get(tenantId) ?? [];
    const start = page.continuationToken ? Number(page.continuationToken) : 0;
    const items = all.slice(start, start + page.limit);
    const next = start + page.limit;
    return Promise.resolve(next < all.length ? { items, continuationToken: String(next) } : { items });
  }

  count(tenantId: string): Promise<number> {
    return Promise.resolve(this.byTenant.get(tenantId)?.length ?? 0);
  }

  remove(tenantId: string, parkedIds: readonly string[]): Promise<void> {
    const drop = new Set(parkedIds);
    this.byTenant.set(
      tenantId,
      (this.byTenant.get(tenantId) ?? []).filter((event) => !drop.has(event.parkedId)),
    );
    return Promise.resolve();
  }

  all(): ParkedEvent[] {
    return [...this.byTenant.values()].flat();
  }
}

export class RecordingAuditQueue implements AuditQueue {
  readonly sent: OutgoingAuditMessage[] = [];
  /** Set to make the next sends fail, as when Service Bus is unreachable. */
  failWith: Error | undefined;
  /**
   * Set to behave like a queue with duplicate detection on: a message whose id
   * was already accepted is accepted too, yet silently never delivered.
   */
  duplicateDetection = false;
  /** Messages duplicate detection swallowed. */
  readonly dropped: OutgoingAuditMessage[] = [];

  send(messages: readonly OutgoingAuditMessage[]): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    for (const message of messages) {
      const seen = this.sent.some((earlier) => earlier.messageId === message.messageId);
      if (this.duplicateDetection && seen) this.dropped.push(structuredClone(message));
      else this.sent.push(structuredClone(message));
    }
    return Promise.resolve();
  }
}

export interface LoggedLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | undefined;
}

export class CapturingLogger implements Logger {
  readonly lines: LoggedLine[] = [];
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, fields });
  }
  text(): string {
    return this.lines.map((line) => `${line.message} ${JSON.stringify(line.fields ?? {})}`).join('\n');
  }
}
