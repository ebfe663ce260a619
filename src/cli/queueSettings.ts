import { SETTINGS } from '../config';

/**
 * The queue `enqueue` sends to, from the same settings the app reads
 * (ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace, and
 * AUDIT_QUEUE_NAME), without requiring the rest of the app's configuration.
 */
export type QueueSettings =
  | { readonly kind: 'connectionString'; readonly connectionString: string; readonly queueName: string }
  | {
      readonly kind: 'identity';
      readonly fullyQualifiedNamespace: string;
      readonly queueName: string;
      readonly managedIdentityClientId: string | undefined;
    };

export class QueueSettingsError extends Error {}

type Env = Record<string, string | undefined>;

function setting<K extends keyof typeof SETTINGS>(env: Env, name: K): unknown {
  const raw = env[name];
  const parsed = SETTINGS[name].schema.safeParse(raw === '' ? undefined : raw);
  if (!parsed.success) {
    throw new QueueSettingsError(
      `${name} is invalid: ${parsed.error.issues[0]?.message ?? 'unreadable'}. ${SETTINGS[name].description}`,
    );
  }
  return parsed.data;
}

export function queueSettingsFromEnv(env: Env): QueueSettings {
  const connectionString = setting(env, 'ServiceBusConnection') as string | undefined;
  const fullyQualifiedNamespace = setting(env, 'ServiceBusConnection__fullyQualifiedNamespace') as
    string | undefined;
  const queueName = setting(env, 'AUDIT_QUEUE_NAME') as string;
  if (connectionString && fullyQualifiedNamespace) {
    throw new QueueSettingsError(
      'Set only one of ServiceBusConnection and ServiceBusConnection__fullyQualifiedNamespace.',
    );
  }
  if (connectionString) return { kind: 'connectionString', connectionString, queueName };
  if (fullyQualifiedNamespace) {
    return {
      kind: 'identity',
      fullyQualifiedNamespace,
      queueName,
      managedIdentityClientId: setting(env, 'MANAGED_IDENTITY_CLIENT_ID') as string | undefined,
    };
  }
  throw new QueueSettingsError(
    'No queue configured: set ServiceBusConnection (a connection string) or ServiceBusConnection__fullyQualifiedNamespace (with az login or a managed identity); AUDIT_QUEUE_NAME defaults to audit-events.',
  );
}
