export {
  type BatchOutcome,
  Forwarder,
  type ForwarderDependencies,
  type ForwarderSettings,
  type ForwardOptions,
  type ReceivedAuditMessage,
  SettlementError,
  type TenantOutcome,
} from './forwarder';
