import type { CapturedLog } from './coreApi';
import { FunctionsHostError } from './coreApi';
import { newInvocationId, newLogScope, runWorkerInvocation } from './invoke';
import { describeFunction, functionEntry } from './registry';

/** The schedule status the host keeps for a timer (absent when the timer does not use a monitor). */
export interface TimerScheduleStatus {
  last: Date;
  next: Date;
  lastUpdated: Date;
}

export interface TimerInvokeOptions {
  /** Whether the host found the occurrence late (the app was down when it was due). Default false. */
  isPastDue?: boolean;
  scheduleStatus?: TimerScheduleStatus;
  invocationId?: string;
  /** When the timer fired, for the host's log line. Default: now. */
  firedAt?: Date;
}

export type TimerInvocationResult =
  | { outcome: 'completed'; functionName: string; invocationId: string; logs: CapturedLog[] }
  | { outcome: 'failed'; functionName: string; invocationId: string; logs: CapturedLog[]; error: unknown };

/** .NET DateTime as the host's JSON serializer writes a UTC value. */
function dotNetUtc(value: Date): string {
  return value.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

/**
 * Fires a timer-triggered function as the host does: the TimerInfo the timer extension passes
 * (`{ Schedule: { AdjustForDST }, ScheduleStatus, IsPastDue }`, JSON), which the library camel-cases
 * into the handler's `Timer` object.
 */
export async function invokeTimer(
  functionName: string,
  options: TimerInvokeOptions = {},
): Promise<TimerInvocationResult> {
  const info = describeFunction(functionEntry(functionName));
  if (info.triggerType.toLowerCase() !== 'timertrigger') {
    throw new FunctionsHostError(
      `Function "${functionName}" is triggered by ${info.triggerType}, not a timer.`,
    );
  }
  const status = options.scheduleStatus;
  const timerInfo = {
    Schedule: { AdjustForDST: true },
    ScheduleStatus: status
      ? {
          Last: dotNetUtc(status.last),
          Next: dotNetUtc(status.next),
          LastUpdated: dotNetUtc(status.lastUpdated),
        }
      : null,
    IsPastDue: options.isPastDue ?? false,
  };
  const entry = functionEntry(functionName);
  const scope = newLogScope(info.name, options.invocationId ?? newInvocationId());
  const outcome = await runWorkerInvocation(
    entry,
    scope,
    {
      inputData: [{ name: info.triggerBindingName, data: { json: JSON.stringify(timerInfo) } }],
      triggerMetadata: {},
    },
    `Timer fired at ${dotNetUtc(options.firedAt ?? new Date())}`,
  );
  const base = { functionName: info.name, invocationId: outcome.invocationId, logs: outcome.logs };
  return outcome.error === undefined
    ? { ...base, outcome: 'completed' }
    : { ...base, outcome: 'failed', error: outcome.error };
}
