export { ServiceBusStandIn, type ServiceBusStandInOptions } from './serviceBusStandIn';
export { ServiceBusStandInAdmin, ServiceBusStandInAdminError, uniqueQueueName } from './adminClient';
export { QueueAlreadyExistsError, QueueNotFoundError, QueueOptionsError } from './errors';
export { DEFAULT_QUEUE_OPTIONS } from './queue';
export type * from './types';
