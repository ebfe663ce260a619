import type { Clock } from '../ports';
import type { TenantConnection } from '../tenantConnection';
import type { HealthChange } from './healthRow';
import type { HealthChainStore } from './healthChainStore';
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
