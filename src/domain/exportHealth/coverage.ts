/**
 * Whether one tenant's health rows account for every moment of a verified
 * range. The chain alone cannot show it: a purge of the first rows leaves a
 * chain that starts later, a purge of the last rows one that ends earlier,
 * and both still link. The heartbeat seals one window per interval for as
 * long as the export is on (windows with nothing delivered too), so a stretch
 * of the range no window covers is either explained by a signed
 * `exportDisabled` change row or is rows purged.
 */

/** Interval of time, ms since the epoch, end exclusive. */
export interface Span {
  start: number;
  end: number;
}

export interface TenantTrail {
  tenantId: string;
  /** Windows of verified (signature and link) window rows. */
  windows: Span[];
  /** Instants of verified `exportDisabled` change rows. */
  disabledAt: number[];
  /** The lowest sequence read, and the time its row speaks of (window end, or the change instant). */
  first: { sequence: number; at: number } | undefined;
}

export interface CoverageRange {
  from: number;
  to: number;
  /**
   * Seal delay plus ingestion latency. A window's health row may still
   * legitimately be absent up to one interval (the heartbeat timer period)
   * plus this after the window ends: stretches later than that before `to`
   * are reported as pending, not as missing.
   */
  slackMs: number;
}

export interface CoverageFindings {
  /** Failures: the range is not proven. */
  problems: string[];
  /** Stretches at the end of the range that may simply not be sealed and ingested yet. */
  pending: string[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function checkCoverage(trail: TenantTrail, range: CoverageRange): CoverageFindings {
  const problems: string[] = [];
  const pending: string[] = [];
  const label = `tenant ${trail.tenantId}`;

  // The chain's start must lie before the range, or be the chain's genesis:
  // otherwise the rows before the first one read may have been purged.
  if (trail.first && trail.first.sequence > 1 && trail.first.at > range.from) {
    problems.push(
      `${label}: the earliest health row read is ${String(trail.first.sequence)} (${iso(trail.first.at)}), inside the range, and its predecessor ${String(trail.first.sequence - 1)} is not among the rows read: the rows before it may have been purged. Move --from back to before health row ${String(trail.first.sequence - 1)} to prove the start.`,
    );
  }

  const windows = [...trail.windows].sort((a, b) => a.start - b.start);
  const gaps: Span[] = [];
  let cursor = range.from;
  for (const window of windows) {
    if (window.end <= cursor) continue;
    if (window.start >= range.to) break;
    if (window.start > cursor) gaps.push({ start: cursor, end: window.start });
    cursor = Math.max(cursor, window.end);
  }
  if (cursor < range.to) gaps.push({ start: cursor, end: range.to });

  const interval = windows.reduce((max, window) => Math.max(max, window.end - window.start), 0);
  const graceMs = interval + range.slackMs;
  const provenUntil = range.to - graceMs;
  // A genesis chain explains the time before it: the export did not exist yet.
  const genesisAt = trail.first?.sequence === 1 ? trail.first.at : undefined;
  for (const gap of gaps) {
    const explained =
      (genesisAt !== undefined && gap.end <= genesisAt + interval) ||
      trail.disabledAt.some((at) => at <= gap.end && at >= gap.start - interval);
    if (explained) continue;
    if (gap.start >= provenUntil) {
      pending.push(
        `${label}: ${iso(gap.start)} .. ${iso(gap.end)} has no health window yet (it may not be sealed and ingested yet; verify again after ${iso(gap.end + graceMs)})`,
      );
    } else {
      problems.push(
        `${label}: no health window covers ${iso(gap.start)} .. ${iso(Math.min(gap.end, provenUntil))} and no signed exportDisabled change explains it: health rows (and probably events) were purged, or heartbeats stopped`,
      );
    }
  }
  return { problems, pending };
}
