import type { ConnectionState, TenantConnection } from './tenantConnection';

/**
 * Who changed a tenant's connection, and when: every change (Create
 * Connection, Save, turning export off, replay, state changes by the
 * forwarder or the timer) is recorded on the connection itself, newest first
 * and bounded, so the portal can say who turned an export off without
 * digging through request logs. Only identifiers are kept: never a token,
 * a claim beyond who called, or a secret.
 */

/** How many changes a connection keeps; older ones are dropped. */
export const HISTORY_LIMIT = 20;

export type SystemActorId = 'system:forwarder' | 'system:timer' | 'system:cli';

export type ConnectionActor =
  /** An API caller: the token's tenant, object and calling app. */
  | { kind: 'caller'; tenantId: string; objectId?: string; appId?: string }
  /** The app itself: the forwarder, the pending-test timer (`system:cli`: the operator CLI, before it named the operator). */
  | { kind: 'system'; id: SystemActorId }
  /** An operator running the CLI, by the name they are signed in to their machine with. */
  | { kind: 'operator'; name: string };

export const SYSTEM_FORWARDER: ConnectionActor = { kind: 'system', id: 'system:forwarder' };
export const SYSTEM_TIMER: ConnectionActor = { kind: 'system', id: 'system:timer' };
export const SYSTEM_CLI: ConnectionActor = { kind: 'system', id: 'system:cli' };

export type ConnectionAction =
  | 'createConnection'
  | 'saveSettings'
  | 'disableExport'
  | 'replay'
  | 'retestPending'
  | 'deliveryState'
  | 'schemaUpgrade';

export interface ConnectionChange {
  at: string;
  action: ConnectionAction;
  actor: ConnectionActor;
  /** The connection's state after the change. */
  state: ConnectionState;
  /** What changed, in a sentence. */
  summary: string;
}

/** The actor in words, for state reasons and summaries. */
export function describeActor(actor: ConnectionActor): string {
  if (actor.kind === 'system') return actor.id;
  if (actor.kind === 'operator') return `cli:${actor.name}`;
  const who = actor.objectId ? `object ${actor.objectId}` : 'an unnamed caller';
  return `${who} of tenant ${actor.tenantId}${actor.appId ? ` through app ${actor.appId}` : ''}`;
}

/** The operator CLI's actor: `name` reduced to a login name's characters and length. */
export function operatorActor(name: string | undefined): ConnectionActor {
  const cleaned = (name ?? '').replace(/[^A-Za-z0-9._@\\-]/g, '').slice(0, 64);
  return { kind: 'operator', name: cleaned || 'unknown' };
}

/** A state reason that names who made the change. */
export function attributedReason(reason: string, actor: ConnectionActor): string {
  return `${reason} Changed by ${describeActor(actor)}.`;
}

/** The connection with `change` recorded first in its history, keeping at most HISTORY_LIMIT. */
export function withChange(connection: TenantConnection, change: ConnectionChange): TenantConnection {
  const history = [change, ...(connection.history ?? [])].slice(0, HISTORY_LIMIT);
  return { ...connection, history };
}

/** The connection's most recent change, if any was recorded. */
export function lastChange(connection: TenantConnection): ConnectionChange | undefined {
  return connection.history?.[0];
}
