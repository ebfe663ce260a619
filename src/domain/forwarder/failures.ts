import { IngestionFailure } from '../errors';
import type { DeliveryFailure } from './batchState';

/** How the forwarder stops waiting (time budget, host shutdown, slow upload) and names what went wrong. */

export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} seconds`;
}

/**
 * The signal for one upload: aborts with the batch (time budget, host
 * shutdown) or when the upload has taken `timeoutMs`. A timer and a listener
 * rather than AbortSignal.any/timeout: thousands of uploads a minute should
 * leave nothing behind once disposed.
 */
export function uploadSignal(
  batchSignal: AbortSignal,
  timeoutMs: number,
): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const onBatchAbort = (): void => controller.abort(batchSignal.reason);
  if (batchSignal.aborted) onBatchAbort();
  else batchSignal.addEventListener('abort', onBatchAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('The upload timed out.', 'TimeoutError'));
  }, timeoutMs);
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      batchSignal.removeEventListener('abort', onBatchAbort);
    },
  };
}

class CutOffError extends Error {
  constructor() {
    super('cut off by the batch time budget');
    this.name = 'CutOffError';
  }
}

/** Stops waiting when the signal fires, whether or not the work honours the signal itself. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CutOffError());
    if (signal.aborted) {
      onAbort();
    } else {
      signal.addEventListener('abort', onAbort, { once: true });
    }
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(
          error instanceof Error
            ? error.name === 'AbortError'
              ? new CutOffError()
              : error
            : new Error(String(error)),
        );
      },
    );
  });
}

export function classify(error: unknown): DeliveryFailure {
  if (error instanceof CutOffError) {
    return { kind: 'unavailable', message: 'The upload did not finish within the batch time budget.' };
  }
  if (!(error instanceof IngestionFailure)) {
    return { kind: 'unavailable', message: `The upload failed: ${errorLine(error)}` };
  }
  const failure: DeliveryFailure = {
    kind: error.kind,
    message: error.message,
    ...(error.details.status !== undefined ? { status: error.details.status } : {}),
    ...(error.details.retryAfterMs !== undefined ? { retryAfterMs: error.details.retryAfterMs } : {}),
  };
  return failure;
}

export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 300);
}
