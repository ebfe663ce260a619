/**
 * A request-scoped time limit: its signal aborts every wait below it, and
 * `run` stops waiting for work that ignores the signal, so a request always
 * answers in time with what it has.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly ms: number) {
    this.timer = setTimeout(() => this.controller.abort(new DeadlineExceeded(ms)), ms);
    // A pending deadline must not keep a finished process alive.
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  /** Resolves with `work`'s result, or rejects with DeadlineExceeded when time runs out first. */
  run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(new DeadlineExceeded(this.ms));
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new DeadlineExceeded(this.ms));
      signal.addEventListener('abort', onAbort, { once: true });
      work(signal).then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(signal.aborted || !(error instanceof Error) ? asError(error, signal, this.ms) : error);
        },
      );
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`Time limit of ${Math.round(ms / 1000)} s reached`);
    this.name = 'DeadlineExceeded';
  }
}

function asError(error: unknown, signal: AbortSignal, ms: number): Error {
  if (signal.aborted) return new DeadlineExceeded(ms);
  return new Error(typeof error === 'string' ? error : 'Non-error rejection');
}
