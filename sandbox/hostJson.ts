import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';

/**
 * The `extensions.serviceBus` settings of host.json as the Service Bus extension (5.x) reads them,
 * with its defaults for what the file leaves out (azure-contracts.md §5).
 */
export interface ServiceBusHostOptions {
  prefetchCount: number;
  autoCompleteMessages: boolean;
  /** Single-message functions only: the batch receive loop always runs one invocation at a time. */
  maxConcurrentCalls: number;
  maxMessageBatchSize: number;
  minMessageBatchSize: number;
  maxBatchWaitTimeMs: number;
  clientRetryOptions: {
    mode: 'exponential' | 'fixed';
    tryTimeoutMs: number;
    delayMs: number;
    maxDelayMs: number;
    maxRetries: number;
  };
}

/**
 * A .NET TimeSpan as host.json writes it: `[-][d.]hh:mm:ss[.fffffff]`. Returns milliseconds; throws
 * naming the setting, since the host refuses to start on a malformed value.
 */
export function parseTimeSpan(value: string, setting: string): number {
  const match = /^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(value.trim());
  if (!match) {
    throw new Error(`host.json ${setting}: "${value}" is not a TimeSpan like "00:00:05" or "1.00:00:00".`);
  }
  const [, negative, days, hours, minutes, seconds, fraction] = match;
  const ms =
    Number(days ?? 0) * 86_400_000 +
    Number(hours) * 3_600_000 +
    Number(minutes) * 60_000 +
    Number(seconds) * 1000 +
    Math.round(Number(`0.${fraction ?? '0'}`) * 1000);
  return negative ? -ms : ms;
}

type Json = Record<string, unknown>;

function pick<T>(
  source: Json,
  key: string,
  fallback: T,
  check: (value: unknown) => value is T,
  what: string,
): T {
  const value = source[key];
  if (value === undefined) return fallback;
  if (!check(value)) throw new Error(`host.json extensions.serviceBus.${key} must be ${what}.`);
  return value;
}

const isPositiveInt = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value > 0;
const isNonNegativeInt = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;
const isBool = (value: unknown): value is boolean => typeof value === 'boolean';
const isString = (value: unknown): value is string => typeof value === 'string';

export function serviceBusHostOptions(hostJson: unknown): ServiceBusHostOptions {
  const root = (hostJson ?? {}) as Json;
  const extensions = (root.extensions ?? {}) as Json;
  const sb = (extensions.serviceBus ?? {}) as Json;
  const retry = (sb.clientRetryOptions ?? {}) as Json;
  const timeSpan = (source: Json, key: string, fallback: string, prefix = '') =>
    parseTimeSpan(
      pick(source, key, fallback, isString, 'a TimeSpan string'),
      `extensions.serviceBus.${prefix}${key}`,
    );

  const options: ServiceBusHostOptions = {
    prefetchCount: pick(sb, 'prefetchCount', 0, isNonNegativeInt, 'a non-negative integer'),
    autoCompleteMessages: pick(sb, 'autoCompleteMessages', true, isBool, 'true or false'),
    // The extension's default is 16 per processor.
    maxConcurrentCalls: pick(
      sb,
      'maxConcurrentCalls',
      16 * availableParallelism(),
      isPositiveInt,
      'a positive integer',
    ),
    maxMessageBatchSize: pick(sb, 'maxMessageBatchSize', 1000, isPositiveInt, 'a positive integer'),
    minMessageBatchSize: pick(sb, 'minMessageBatchSize', 1, isPositiveInt, 'a positive integer'),
    maxBatchWaitTimeMs: timeSpan(sb, 'maxBatchWaitTime', '00:00:30'),
    clientRetryOptions: {
      mode: pick(
        retry,
        'mode',
        'exponential',
        (v): v is 'exponential' | 'fixed' => v === 'exponential' || v === 'fixed',
        '"exponential" or "fixed"',
      ),
      tryTimeoutMs: timeSpan(retry, 'tryTimeout', '00:01:00', 'clientRetryOptions.'),
      delayMs: timeSpan(retry, 'delay', '00:00:00.80', 'clientRetryOptions.'),
      maxDelayMs: timeSpan(retry, 'maxDelay', '00:01:00', 'clientRetryOptions.'),
      maxRetries: pick(retry, 'maxRetries', 3, isNonNegativeInt, 'a non-negative integer'),
    },
  };
  if (options.minMessageBatchSize > options.maxMessageBatchSize) {
    throw new Error(
      'host.json extensions.serviceBus.minMessageBatchSize must not exceed maxMessageBatchSize.',
    );
  }
  return options;
}

/** Reads host.json from the function app directory, as the host does at start. */
export function readHostJson(functionAppDirectory: string): unknown {
  return JSON.parse(readFileSync(path.join(functionAppDirectory, 'host.json'), 'utf8')) as unknown;
}
