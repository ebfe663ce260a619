/**
 * Every timer the stand-in arms goes through here: each is unref'd (a pending
 * scheduled message or lock must never keep a test process alive) and
 * `clearAll()` on stop leaves nothing behind.
 */
export class TimerRegistry {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  /** Node caps timeouts at 2^31-1 ms; longer waits re-arm until the due time. */
  private static readonly MAX_DELAY_MS = 2_147_483_647;

  at(dueMs: number, callback: () => void): () => void {
    let handle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (this.stopped) {
        return;
      }
      const delay = Math.max(0, dueMs - Date.now());
      handle = setTimeout(
        () => {
          if (handle) {
            this.timers.delete(handle);
          }
          if (Date.now() >= dueMs) {
            callback();
          } else {
            arm();
          }
        },
        Math.min(delay, TimerRegistry.MAX_DELAY_MS),
      );
      handle.unref();
      this.timers.add(handle);
    };
    arm();
    return () => {
      if (handle) {
        clearTimeout(handle);
        this.timers.delete(handle);
      }
    };
  }

  get size(): number {
    return this.timers.size;
  }

  clearAll(): void {
    this.stopped = true;
    for (const handle of this.timers) {
      clearTimeout(handle);
    }
    this.timers.clear();
  }
}
