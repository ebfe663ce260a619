import { CronExpressionParser } from 'cron-parser';
import {
  invokeTimer,
  type RegisteredFunctionInfo,
  type TimerInvocationResult,
} from '../test/support/functionsHost';
import { resolveAppSettingReferences } from '../test/support/functionsHost/registry';
import { parseTimeSpan } from './hostJson';

/**
 * Fires timer-triggered functions the way the timer extension does: on the function's schedule (a
 * six-field NCRONTAB expression in UTC, or a TimeSpan interval), one run at a time per function, the
 * next occurrence computed when a run ends, `runOnStartup` honoured. The sandbox may replace every
 * schedule with a fixed, faster interval (`everyMs`) so that work a production timer does every few
 * minutes shows up within seconds.
 */

export interface TimerRunReport {
  functionName: string;
  result: TimerInvocationResult;
}

export type NextOccurrence = (after: Date) => Date;

/** The schedule as the host reads it: `%SETTING%` resolved, NCRONTAB (with seconds) or `hh:mm:ss`. */
export function parseSchedule(schedule: string, functionName: string): NextOccurrence {
  const resolved = resolveAppSettingReferences(schedule, `Function "${functionName}"'s schedule`).trim();
  if (/^(\d+\.)?\d{1,2}:\d{1,2}:\d{1,2}$/.test(resolved)) {
    const intervalMs = parseTimeSpan(resolved, `schedule of ${functionName}`);
    if (intervalMs <= 0) throw new Error(`Function "${functionName}": the interval must be positive.`);
    return (after) => new Date(after.getTime() + intervalMs);
  }
  if (resolved.split(/\s+/).length !== 6) {
    throw new Error(
      `Function "${functionName}": schedule "${resolved}" must be an NCRONTAB expression with six fields ` +
        '({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan such as 00:05:00.',
    );
  }
  // Validate now, as the host does at start.
  CronExpressionParser.parse(resolved, { tz: 'UTC' });
  return (after) => CronExpressionParser.parse(resolved, { tz: 'UTC', currentDate: after }).next().toDate();
}

export interface TimerSchedulerOptions {
  functions: readonly RegisteredFunctionInfo[];
  /** Replace every schedule with this interval. */
  everyMs?: number;
  onRun?: (report: TimerRunReport) => void;
}

export class TimerScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(private readonly options: TimerSchedulerOptions) {}

  start(): void {
    for (const fn of this.options.functions) {
      const schedule = fn.trigger.schedule;
      if (typeof schedule !== 'string') {
        throw new Error(`Timer function "${fn.name}" has no schedule.`);
      }
      const everyMs = this.options.everyMs;
      const next: NextOccurrence =
        everyMs === undefined
          ? parseSchedule(schedule, fn.name)
          : (after) => new Date(after.getTime() + everyMs);
      const runOnStartup = fn.trigger.runOnStartup === true || fn.trigger.runOnStartup === 'true';
      let last = new Date();
      const plan = (after: Date, immediately = false) => {
        if (this.stopped) return;
        const due = immediately ? after : next(after);
        const timer = setTimeout(
          () => {
            this.timers.delete(fn.name);
            const firedAt = new Date();
            const run = invokeTimer(fn.name, {
              firedAt,
              scheduleStatus: { last, next: next(firedAt), lastUpdated: firedAt },
            })
              .then(
                (result) => this.options.onRun?.({ functionName: fn.name, result }),
                // The host could not even start the invocation: report it like a failed run.
                (error: unknown) =>
                  this.options.onRun?.({
                    functionName: fn.name,
                    result: { outcome: 'failed', functionName: fn.name, invocationId: '', logs: [], error },
                  }),
              )
              .then(() => {
                last = firedAt;
                plan(new Date());
              });
            this.running.add(run);
            void run.finally(() => this.running.delete(run));
          },
          Math.max(0, due.getTime() - Date.now()),
        );
        this.timers.set(fn.name, timer);
      };
      plan(new Date(), runOnStartup);
    }
  }

  /** No new runs; waits (up to `graceMs`) for runs in progress. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }
}
