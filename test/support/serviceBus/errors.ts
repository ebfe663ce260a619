/** A queue name or option Service Bus would refuse (the admin API answers 400). */
export class QueueOptionsError extends Error {}
/** A queue that does not exist (the admin API answers 404). */
export class QueueNotFoundError extends Error {}
/** Creating a queue whose name is taken; names are case-insensitive as in Service Bus (409). */
export class QueueAlreadyExistsError extends Error {}
