import { DeadlineExceeded, type Deadline } from '../deadline';
import { AuthorizationError, DomainError } from '../errors';
import type { Logger } from '../ports';
import type { ConnectionStep, ConnectionTestResult, StepResult } from '../tenantConnection';

export const STEP_ORDER: readonly ConnectionStep[] = [
  'workspace',
  'tables',
  'dataCollectionRule',
  'testMessage',
  'diagnosticSetting',
];

/** Per-step bookkeeping of one Create Connection: results, deadline, what was not reached. */
export class StepRunner {
  private readonly steps: Record<ConnectionStep, StepResult> = {
    workspace: notRun(),
    tables: notRun(),
    dataCollectionRule: notRun(),
    testMessage: notRun(),
    diagnosticSetting: notRun(),
  };
  private timedOut = false;

  constructor(
    private readonly logger: Logger,
    private readonly tenantId: string,
  ) {}

  /** Runs one step within the deadline; on failure records why and returns undefined. */
  async step<T>(
    step: ConnectionStep,
    deadline: Deadline,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined> {
    if (this.timedOut) return undefined;
    try {
      return await deadline.run(work);
    } catch (error) {
      if (error instanceof DeadlineExceeded) {
        this.timedOut = true;
        const seconds = Math.round(error.ms / 1000);
        this.steps[step] = {
          outcome: 'pending',
          code: 'Timeout',
          detail: `Still running when the ${seconds} s time limit was reached. Azure may finish it on its own; click Create Connection again in a few minutes (it picks up what is already done).`,
        };
        for (const later of STEP_ORDER.slice(STEP_ORDER.indexOf(step) + 1)) {
          this.steps[later] = { outcome: 'skipped', detail: 'Not reached within the time limit.' };
        }
        return undefined;
      }
      this.steps[step] = failure(error);
      if (!(error instanceof DomainError)) {
        this.logger.error('Create Connection step failed unexpectedly', {
          tenantId: this.tenantId,
          step,
          error: describeError(error),
        });
      }
      return undefined;
    }
  }

  ok(step: ConnectionStep, detail: string): void {
    this.steps[step] = { outcome: 'ok', detail };
  }

  fail(step: ConnectionStep, result: StepResult): void {
    this.steps[step] = result;
  }

  set(step: ConnectionStep, result: StepResult): void {
    this.steps[step] = result;
  }

  /** An optional step that failed or timed out: a warning that keeps its code and says events still flow. */
  warnInstead(step: ConnectionStep): void {
    const result = this.steps[step];
    if (result.outcome !== 'failed' && result.outcome !== 'pending') return;
    this.steps[step] = {
      ...result,
      outcome: 'warning',
      detail: `${result.detail} Events are still delivered; only errors Azure logs about dropped rows (table DCRLogErrors) are not sent to your workspace until this is fixed.`,
    };
  }

  outcomeOf(step: ConnectionStep): StepResult['outcome'] {
    return this.steps[step].outcome;
  }

  /** ok only if every step is; pending only when provisioning is done and the test waits; failed otherwise. */
  overall(provisioned: boolean): ConnectionTestResult['outcome'] {
    const outcomes = STEP_ORDER.map((step) => this.steps[step].outcome);
    if (outcomes.every((outcome) => outcome === 'ok' || outcome === 'warning')) return 'ok';
    if (provisioned && this.steps.testMessage.outcome === 'pending') return 'pending';
    return 'failed';
  }

  results(): Record<ConnectionStep, StepResult> {
    return { ...this.steps };
  }
}

function notRun(): StepResult {
  return { outcome: 'skipped', detail: 'Not run: an earlier step did not succeed.' };
}

/** A step's failure as the portal shows it: the domain error's own actionable message, nothing internal. */
function failure(error: unknown): StepResult {
  if (error instanceof AuthorizationError) {
    return {
      outcome: 'failed',
      code: error.code,
      detail: error.message,
      ...(error.missingRole ? { missingRole: error.missingRole } : {}),
      ...(error.scope ? { scope: error.scope } : {}),
    };
  }
  if (error instanceof DomainError) return { outcome: 'failed', code: error.code, detail: error.message };
  return {
    outcome: 'failed',
    code: 'InternalError',
    detail:
      'An unexpected error occurred on our side. It has been logged; try again or contact Keytos support.',
  };
}

export function testedReason(test: ConnectionTestResult): string {
  switch (test.outcome) {
    case 'ok':
      return 'Connection tested successfully; click Save changes to turn export on.';
    case 'pending':
      return `Connection provisioned; the test event waits for Azure to propagate permissions (until ${test.pendingUntil ?? 'the end of the propagation window'}). Save changes is already possible.`;
    case 'failed': {
      const step = STEP_ORDER.find((name) => {
        const outcome = test.steps[name]?.outcome;
        return outcome !== undefined && outcome !== 'ok' && outcome !== 'warning';
      });
      const result = step ? test.steps[step] : undefined;
      return `Connection test failed${step && result ? ` at the ${step} step (${result.code ?? result.outcome})` : ''}.`;
    }
  }
}

/** Error class and first line only: messages of unexpected errors are not written for customers. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${(error.message.split('\n')[0] ?? '').slice(0, 300)}`;
  return typeof error;
}
