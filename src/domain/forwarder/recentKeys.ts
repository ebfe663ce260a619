/**
 * The last `capacity` keys remembered, the oldest forgotten first. A Set keeps
 * insertion order, so remembering and forgetting are O(1) with no bookkeeping
 * per entry: this is on every event's path (a lookup at intake, a write per
 * delivered row), where a general LRU cache cost ~1% of the forwarder's CPU.
 * Reads do not refresh an entry: what counts is how recently it was delivered.
 */
export class RecentKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.keys.size;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Remembers `key` as the most recent one (the value is for the callers' map-like interface). */
  set(key: string, _value: true): void {
    // Delivered again: it moves to the back of the line.
    if (!this.keys.delete(key) && this.keys.size >= this.capacity) {
      const oldest = this.keys.values().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
    this.keys.add(key);
  }
}
