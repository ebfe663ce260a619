/**
 * Heartbeat windows: fixed, aligned slices of delivery time. Every instance
 * computes the same window for the same instant without talking to the
 * others, so concurrent forwarders record into the same window.
 */
export interface HealthWindow {
  start: Date;
  end: Date;
}

export function windowContaining(at: Date, intervalMinutes: number): HealthWindow {
  const size = intervalMinutes * 60_000;
  const start = Math.floor(at.getTime() / size) * size;
  return { start: new Date(start), end: new Date(start + size) };
}

/**
 * The windows the heartbeat may seal at `now`: those that ended at least
 * `graceMs` ago (a record write started just before a window closed lands
 * before it is sealed), after `sealedUpTo` (exclusive), oldest first, at most
 * `limit` of them so one tick stays bounded after a long outage.
 */
export function windowsToSeal(
  sealedUpTo: Date | undefined,
  now: Date,
  intervalMinutes: number,
  graceMs: number,
  limit: number,
): HealthWindow[] {
  const size = intervalMinutes * 60_000;
  const last = windowContaining(new Date(now.getTime() - graceMs), intervalMinutes);
  // The window containing now - grace is still open; the one before it is the newest closed one.
  const newestEnd = last.start.getTime();
  // A tenant never sealed before starts with the newest closed window.
  let start = sealedUpTo ? Math.floor(sealedUpTo.getTime() / size) * size : newestEnd - size;
  const windows: HealthWindow[] = [];
  while (start + size <= newestEnd && windows.length < limit) {
    windows.push({ start: new Date(start), end: new Date(start + size) });
    start += size;
  }
  return windows;
}
