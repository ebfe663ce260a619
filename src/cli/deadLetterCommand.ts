import { parseArgs } from 'node:util';
import type { TokenCredential } from '@azure/identity';
import type { DeadLetteredMessage, ServiceBusDeadLetterQueue } from '../adapters/deadLetterQueue';
import { queueSettingsFromEnv } from './queueSettings';
import { textTable } from './textTable';

/**
 * `deadletter`: what sits in the audit queue's dead-letter queue, and the way
 * to put it back on the audit queue. Needs only the queue settings `enqueue` uses.
 */

export const DEADLETTER_USAGE = `  pki-siem-export deadletter [--limit <n>] [--json]
                                          list the audit queue's dead-lettered messages (peeked, left in place)
  pki-siem-export deadletter --requeue [--limit <n>] [--json]
                                          move dead-lettered messages back to the audit queue under new message ids`;

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 5_000;

/** The command line is wrong (exit code 2). */
export class DeadLetterUsageError extends Error {}

export interface DeadLetterIo {
  readonly stdout: (text: string) => void;
  readonly env: Record<string, string | undefined>;
  /** The credential for a fully qualified namespace (default DefaultAzureCredential). */
  readonly credential?: () => TokenCredential;
}

export async function deadLetterCommand(args: string[], io: DeadLetterIo): Promise<number> {
  let values: { limit?: string | undefined; requeue?: boolean | undefined; json?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args,
      options: { limit: { type: 'string' }, requeue: { type: 'boolean' }, json: { type: 'boolean' } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    const message = error instanceof Error ? error.message.split('. ')[0] : String(error);
    throw new DeadLetterUsageError(`deadletter: ${message}`);
  }
  const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new DeadLetterUsageError(`deadletter: --limit must be a whole number from 1 to ${MAX_LIMIT}`);
  }

  const deadLetters = await openDeadLetterQueue(io.env, io.credential);
  try {
    if (values.requeue) {
      const requeued = await deadLetters.requeue(limit);
      if (values.json) {
        io.stdout(JSON.stringify({ queue: deadLetters.queueName, requeued }, null, 2));
      } else {
        io.stdout(
          `Requeued ${requeued.length} dead-lettered message(s) to queue ${deadLetters.queueName}.` +
            (requeued.length === limit ? ` The limit was reached: run again for more.` : ''),
        );
      }
      return 0;
    }
    const messages = await deadLetters.peek(limit);
    if (values.json) {
      io.stdout(JSON.stringify({ queue: deadLetters.queueName, messages }, null, 2));
    } else if (messages.length === 0) {
      io.stdout(`No dead-lettered messages in queue ${deadLetters.queueName}.`);
    } else {
      io.stdout(listing(messages));
    }
    return 0;
  } finally {
    await deadLetters.close();
  }
}

function listing(messages: readonly DeadLetteredMessage[]): string {
  const shorten = (value: string) => (value.length > 160 ? `${value.slice(0, 157)}...` : value);
  return textTable([
    ['Message id', 'Enqueued', 'Deliveries', 'Reason', 'Description', 'Tenant', 'Event'],
    ...messages.map((message) => [
      message.messageId ?? '-',
      message.enqueuedTimeUtc ?? '-',
      message.deliveryCount === undefined ? '-' : String(message.deliveryCount),
      message.deadLetterReason ?? '-',
      shorten(message.deadLetterErrorDescription ?? '-'),
      message.tenantId ?? '-',
      message.eventId ?? '-',
    ]),
  ]);
}

async function openDeadLetterQueue(
  env: Record<string, string | undefined>,
  credential: (() => TokenCredential) | undefined,
): Promise<ServiceBusDeadLetterQueue> {
  const settings = queueSettingsFromEnv(env);
  const [{ ServiceBusDeadLetterQueue }, { ambientCredential }] = await Promise.all([
    import('../adapters/deadLetterQueue'),
    import('../adapters/auditQueueSender'),
  ]);
  // An operator waits at the terminal: fail within about a minute rather than the SDK's several, and
  // a refusal (a missing Data Receiver role: the SDK retries a refused link) within seconds rather
  // than after two of the SDK's default 30 s retry delays.
  const clientOptions = {
    retryOptions: { maxRetries: 2, retryDelayInMs: 1_000, maxRetryDelayInMs: 2_000, timeoutInMs: 20_000 },
  };
  return settings.kind === 'connectionString'
    ? new ServiceBusDeadLetterQueue(
        {
          kind: 'connectionString',
          connectionString: settings.connectionString,
          queueName: settings.queueName,
        },
        () => {
          throw new Error('a connection string needs no credential');
        },
        clientOptions,
      )
    : new ServiceBusDeadLetterQueue(
        {
          kind: 'identity',
          fullyQualifiedNamespace: settings.fullyQualifiedNamespace,
          queueName: settings.queueName,
        },
        credential ?? (() => ambientCredential(settings.managedIdentityClientId)),
        clientOptions,
      );
}
