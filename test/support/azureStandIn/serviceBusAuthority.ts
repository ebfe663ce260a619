import type { ServiceBusRight, ServiceBusTokenAuthority } from '../serviceBus/types';
import { issuerFor, type StandInContext } from './context';
import { describeFailure, normalizeAudience } from './tokens';

/**
 * Entra ID's side of Service Bus authentication: the audience its tokens
 * carry, and the data roles that grant send and receive.
 *
 * Learn, "Authenticate a managed identity with Microsoft Entra ID to access
 * Azure Service Bus resources" / "Authenticate and authorize an application
 * with Microsoft Entra ID to access Azure Service Bus entities": the token is
 * requested for `https://servicebus.azure.net` (the SDKs ask for the scope
 * `https://servicebus.azure.net//.default`, @azure/core-amqp
 * Constants.aadServiceBusScope), and Azure Service Bus Data Sender / Data
 * Receiver / Data Owner, assigned on the namespace or the queue, grant send,
 * receive, or both. The client presents the token on `$cbs` with the token
 * type `jwt` (@azure/core-amqp TokenType.CbsTokenTypeJwt).
 */
export const SERVICE_BUS_AUDIENCE = 'https://servicebus.azure.net';

const SEND = 'Microsoft.ServiceBus/namespaces/messages/send/action';
const RECEIVE = 'Microsoft.ServiceBus/namespaces/messages/receive/action';

/**
 * Checks tokens this stand-in issued for a Service Bus namespace whose ARM id
 * is `namespaceResourceId` (role assignments are made on it or on
 * `<namespace>/queues/<name>`).
 */
export function serviceBusAuthority(
  context: StandInContext,
  namespaceResourceId: string,
): ServiceBusTokenAuthority {
  return {
    async authorize(token, entityPath) {
      const verified = await context.keys.verify(token);
      if (!verified.ok)
        return { ok: false, description: `InvalidSignature: ${describeFailure(verified.failure)}` };
      const { claims } = verified;
      const tenantId = typeof claims.tid === 'string' ? claims.tid : '';
      if (!tenantId || claims.iss !== issuerFor(context, tenantId)) {
        return { ok: false, description: `InvalidIssuer: Token issuer is invalid. '${String(claims.iss)}'.` };
      }
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud ?? ''];
      if (
        !audiences.some((audience) => normalizeAudience(audience) === normalizeAudience(SERVICE_BUS_AUDIENCE))
      ) {
        return {
          ok: false,
          description: `InvalidAudience: The token audience '${audiences.join(',')}' is not ${SERVICE_BUS_AUDIENCE}.`,
        };
      }
      const objectId = typeof claims.oid === 'string' ? claims.oid : '';
      const queue = entityPath.split('/')[0] ?? '';
      const resource = `${namespaceResourceId.replace(/\/+$/, '')}/queues/${queue}`;
      const rights: ServiceBusRight[] = [];
      const holds = (action: string) =>
        context.state.grantingAssignments(tenantId, objectId, resource, action, 'dataAction').length > 0;
      if (holds(SEND)) rights.push('Send');
      if (holds(RECEIVE)) rights.push('Listen');
      return { ok: true, expiresAtMs: Number(claims.exp ?? 0) * 1000, rights };
    },
  };
}
