import type { Clock } from '../ports';
import type { TenantConnection } from '../tenantConnection';
import type { HealthChange } from './healthRow';
import type { ChangeRequest, HealthChainStore } from './healthChainStore';
import type { HealthChangeRecorder } from './heartbeat';

/**
 * Records a change for a process that must not sign (the operator CLI: the
 * private key stays with the service's managed identity): the change is
 * stored with its time, actor and reason, and the heartbeat seals it into
 * the tenant's chain on its next tick, so it reaches the customer's
 * workspace like a change made through the API.
 */
export class DeferredHealthChangeRecorder implements HealthChangeRecorder {
  constructor(
    private readonly chain: Pick<HealthChainStore, 'requestChange'>,
    private readonly clock: Clock,
  ) {}

  async recordChange(
    connection: TenantConnection,
    change: HealthChange,
    actor: string,
    reason: string | undefined,
  ): Promise<void> {
    await this.chain.requestChange(connection.tenantId, {
      at: this.clock.now().toISOString(),
      change,
      actor,
      ...(reason ? { reason } : {}),
      connectionState: connection.state,
      ...(connection.stateReason ? { connectionReason: connection.stateReason } : {}),
    });
  }
}

/**
 * The health chain table is written by the service, and by the operator CLI
 * only to ask for a replay row; whoever else can write it (a leaked storage
 * key) must not get arbitrary rows signed. A request is sealed only as what
 * the CLI asks for: a `replayed` change by a `cli:` operator, with the
 * replay's own sentence as reason, at a time the storage server vouches for.
 */
export const MAX_REQUEST_CLOCK_SKEW_MS = 5 * 60_000;
const OPERATOR_ACTOR = /^cli:[A-Za-z0-9._@\\-]{1,64}$/;
const REPLAY_REASON = /^Replayed [0-9]{1,9} parked events?\.$/;
const CONNECTION_STATES: readonly string[] = ['tested', 'active', 'degraded', 'suspended', 'disabled'];
const MAX_CONNECTION_REASON_CHARS = 500;

export type CheckedChangeRequest =
  { ok: true; request: ChangeRequest } | { ok: false; id: string; reason: string };

/**
 * Reads a stored request (`json`: the entity's text, `storedAt`: the
 * entity's server Timestamp). Never throws: a request that is not exactly
 * what the CLI writes is refused with the reason, for the caller to log and
 * delete. The time sealed is the request's own when it lies within
 * MAX_REQUEST_CLOCK_SKEW_MS before the server's, else the server's: a
 * request cannot place its row elsewhere in time.
 */
export function checkChangeRequest(id: string, json: unknown, storedAt: unknown): CheckedChangeRequest {
  const refuse = (reason: string): CheckedChangeRequest => ({ ok: false, id, reason });
  const serverTime = typeof storedAt === 'string' ? Date.parse(storedAt) : NaN;
  if (!Number.isFinite(serverTime)) return refuse('the entity has no server Timestamp');
  if (typeof json !== 'string' || json.length > 4_000) return refuse('the request is not a short text');
  let content: unknown;
  try {
    content = JSON.parse(json);
  } catch {
    return refuse('the request is not JSON');
  }
  if (typeof content !== 'object' || content === null) return refuse('the request is not a JSON object');
  const fields = content as Record<string, unknown>;
  if (fields.change !== 'replayed') return refuse('only replayed changes may be requested');
  if (typeof fields.actor !== 'string' || !OPERATOR_ACTOR.test(fields.actor)) {
    return refuse('the actor is not an operator of the CLI (cli:<login>, at most 64 characters)');
  }
  if (
    fields.reason !== undefined &&
    (typeof fields.reason !== 'string' || !REPLAY_REASON.test(fields.reason))
  ) {
    return refuse('the reason is not the sentence a replay writes');
  }
  if (typeof fields.connectionState !== 'string' || !CONNECTION_STATES.includes(fields.connectionState)) {
    return refuse('the connection state is not one of the known states');
  }
  if (
    fields.connectionReason !== undefined &&
    (typeof fields.connectionReason !== 'string' ||
      fields.connectionReason.length > MAX_CONNECTION_REASON_CHARS)
  ) {
    return refuse(`the connection reason is not a text of at most ${MAX_CONNECTION_REASON_CHARS} characters`);
  }
  const claimed = typeof fields.at === 'string' ? Date.parse(fields.at) : NaN;
  const at =
    Number.isFinite(claimed) && claimed <= serverTime && claimed >= serverTime - MAX_REQUEST_CLOCK_SKEW_MS
      ? claimed
      : serverTime;
  return {
    ok: true,
    request: {
      id,
      at: new Date(at).toISOString(),
      change: 'replayed',
      actor: fields.actor,
      ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
      connectionState: fields.connectionState,
      ...(fields.connectionReason ? { connectionReason: fields.connectionReason } : {}),
    },
  };
}
