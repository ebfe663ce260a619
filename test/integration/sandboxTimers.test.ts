import { app, type InvocationContext, type Timer } from '@azure/functions';
import { afterEach, describe, expect, it } from 'vitest';
import { TimerScheduler, type TimerRunReport } from '../../sandbox/timerScheduler';
import { getFunction, invokeTimer } from '../support/functionsHost';

/** Timer triggers as the sandbox fires them: the host's TimerInfo, through the library, one run at a time. */

const runs: Array<{ timer: Timer; invocationId: string; startedAt: number; endedAt?: number }> = [];
let failNext = false;

app.timer('sandboxTick', {
  schedule: '0 */5 * * * *',
  handler: async (timer: Timer, context: InvocationContext) => {
    const run: (typeof runs)[number] = { timer, invocationId: context.invocationId, startedAt: Date.now() };
    runs.push(run);
    await new Promise((resolve) => setTimeout(resolve, 30));
    run.endedAt = Date.now();
    if (failNext) {
      failNext = false;
      throw new Error('tick failed on purpose');
    }
  },
});

app.http('sandboxNotATimer', { handler: () => ({ status: 204 }) });

let scheduler: TimerScheduler | undefined;

afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  runs.length = 0;
});

async function until(what: string, probe: () => boolean, deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('timer triggers in the sandbox', () => {
  it('hand the handler the Timer object the library builds from the host’s TimerInfo', async () => {
    const last = new Date('2024-05-01T10:00:00Z');
    const result = await invokeTimer('sandboxTick', {
      isPastDue: true,
      scheduleStatus: { last, next: new Date('2024-05-01T10:05:00Z'), lastUpdated: last },
    });
    expect(result.outcome).toBe('completed');
    expect(runs[0]?.timer).toEqual({
      isPastDue: true,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: '2024-05-01T10:00:00.0000000Z',
        next: '2024-05-01T10:05:00.0000000Z',
        lastUpdated: '2024-05-01T10:00:00.0000000Z',
      },
    });
    expect(
      result.logs.some((line) => line.category === 'host' && /Reason='Timer fired at/.test(line.message)),
    ).toBe(true);
  });

  it('report a handler that throws as a failed run', async () => {
    failNext = true;
    const result = await invokeTimer('sandboxTick');
    expect(result.outcome).toBe('failed');
    expect(result.outcome === 'failed' && result.error).toMatchObject({ message: 'tick failed on purpose' });
  });

  it('refuse to fire a function that is not timer-triggered', async () => {
    await expect(invokeTimer('sandboxNotATimer')).rejects.toThrow(/not a timer/);
  });

  it('fire on the sandbox interval, never two runs of a function at once, and stop after the run in progress', async () => {
    const reports: TimerRunReport[] = [];
    scheduler = new TimerScheduler({
      functions: [getFunction('sandboxTick')],
      everyMs: 5,
      onRun: (report) => reports.push(report),
    });
    scheduler.start();
    await until('three runs', () => reports.length >= 3);
    await scheduler.stop();
    expect(runs.every((run) => run.endedAt !== undefined)).toBe(true);
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i]!.startedAt).toBeGreaterThanOrEqual(runs[i - 1]!.endedAt!);
    }
    expect(reports.every((report) => report.result.outcome === 'completed')).toBe(true);
  });
});
