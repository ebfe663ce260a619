export {
  type BatchOutcome,
  type ForwarderDependencies,
  type ForwarderSettings,
  type ForwardOptions,
  type ReceivedAuditMessage,
  SettlementError,
  type TenantOutcome,
} from './contract';
export { Forwarder } from './forwarder';
