import type { Versioned } from '../tenantConnection';
import { createConnection } from './createConnection';
import { retestPendingConnections } from './retest';
import { disableExport, getSettings, saveSettings } from './settings';
import { CreateConnectionTurns } from './turns';
import type {
  ConnectionUseCaseDeps,
  CreateConnectionInput,
  CreateConnectionResult,
  RetestSummary,
  SaveSettingsInput,
  SettingsView,
} from './types';

/**
 * The portal's use cases for a tenant's connection: Create Connection
 * (provision + test), the timer that finishes pending tests, Save changes,
 * status, and turning export off. Every write goes through the ETag that was
 * read, so two portal sessions never silently overwrite each other.
 */
export class ConnectionUseCases {
  private readonly retestTimeoutMs: number;
  private readonly turns: CreateConnectionTurns;

  constructor(private readonly deps: ConnectionUseCaseDeps) {
    this.retestTimeoutMs = deps.settings.retestTimeoutMs ?? 20_000;
    this.turns = new CreateConnectionTurns(deps);
  }

  /** See createConnection.ts. Throws ValidationError for input that can never work. */
  createConnection(
    tenantId: string,
    input: CreateConnectionInput,
  ): Promise<Versioned<CreateConnectionResult>> {
    return createConnection(this.deps, this.turns, tenantId, input);
  }

  /** See retest.ts: run by a timer, never by a promise left running after a response. */
  retestPendingConnections(): Promise<RetestSummary> {
    return retestPendingConnections(this.deps, this.retestTimeoutMs);
  }

  /** "Save changes" (see settings.ts); `ifMatch` makes a stale save fail instead of overwriting. */
  saveSettings(
    tenantId: string,
    input: SaveSettingsInput,
    ifMatch?: string,
  ): Promise<Versioned<SettingsView>> {
    return saveSettings(this.deps, tenantId, input, ifMatch);
  }

  /** Settings and health of the tenant's export; NotFoundError when nothing was ever configured. */
  getSettings(tenantId: string): Promise<Versioned<SettingsView>> {
    return getSettings(this.deps, tenantId);
  }

  /** Turns export off (events are then counted and completed, not delivered); keeps the saved target. */
  disableExport(tenantId: string, ifMatch?: string): Promise<Versioned<SettingsView>> {
    return disableExport(this.deps, tenantId, ifMatch);
  }
}
