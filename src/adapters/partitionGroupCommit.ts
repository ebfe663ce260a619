/**
 * Group commit of inserts per partition: one write in flight per partition;
 * entities arriving meanwhile (from other invocations of this instance) leave
 * together when it is done, in as few transactions as the limits allow. Each
 * caller's promise settles with the write that carried its entities: it never
 * resolves before they are stored, and fails when that write failed (some of
 * its transactions may have been stored, as when each caller wrote alone).
 */
export class PartitionGroupCommit<T> {
  private readonly partitions = new Map<string, Waiting<T> | null>();

  constructor(
    /** Writes one partition's entities (possibly in several transactions); resolves once all are stored. */
    private readonly write: (partition: string, entities: readonly T[], signal: AbortSignal) => Promise<void>,
    private readonly timeoutMs = DEFAULT_WRITE_TIMEOUT_MS,
  ) {}

  add(partition: string, entities: readonly T[]): Promise<void> {
    if (!this.partitions.has(partition)) {
      // Nothing in flight: go now.
      this.partitions.set(partition, null);
      const written = this.bounded(partition, entities);
      void written.then(
        () => this.next(partition),
        () => this.next(partition),
      );
      return written;
    }
    let waiting = this.partitions.get(partition);
    if (!waiting) {
      waiting = { entities: [], done: deferred() };
      this.partitions.set(partition, waiting);
    }
    waiting.entities.push(...entities);
    return waiting.done.promise;
  }

  private next(partition: string): void {
    const waiting = this.partitions.get(partition);
    if (!waiting) {
      this.partitions.delete(partition);
      return;
    }
    this.partitions.set(partition, null);
    const written = this.bounded(partition, waiting.entities);
    written.then(waiting.done.resolve, waiting.done.reject);
    void written.then(
      () => this.next(partition),
      () => this.next(partition),
    );
  }

  private bounded(partition: string, entities: readonly T[]): Promise<void> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new Error(
          `Writing ${entities.length} entities to partition ${partition} did not finish within ${this.timeoutMs} ms.`,
        );
        controller.abort(error);
        reject(error);
      }, this.timeoutMs);
    });
    let written: Promise<void>;
    try {
      written = this.write(partition, entities, controller.signal);
    } catch (error) {
      written = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // Settling after the time is up concerns nobody any more.
    written.catch(() => undefined);
    return Promise.race([written, timedOut]).finally(() => clearTimeout(timer));
  }
}

/**
 * Table Storage gives an entity-group transaction 30 seconds
 * (https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions);
 * twice that leaves room for the client's retries of a throttled one.
 */
export const DEFAULT_WRITE_TIMEOUT_MS = 60_000;

interface Waiting<T> {
  entities: T[];
  done: Deferred;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
