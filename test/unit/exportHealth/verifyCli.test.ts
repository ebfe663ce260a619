import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalHealthSigner } from '../../../src/adapters/localHealthSigner';
import { runCli, type CliIo } from '../../../src/cli/cli';
import { EMPTY_CHAIN, sealRows } from '../../../src/domain/exportHealth/chain';
import type { SignedHealthRow } from '../../../src/domain/exportHealth/healthRow';
import { emptyDeliveries, windowRows } from '../../../src/domain/exportHealth/windowRows';
import { windowContaining } from '../../../src/domain/exportHealth/windows';
import { CA_TABLE, CERTIFICATE_TABLE } from '../../../src/domain/tableSchema';

const TENANT = '6f0b7c1e-1d2a-4c3b-9e8f-0123456789ab';
const id = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const RANGE = ['--from', '2026-12-03T10:00:00Z', '--to', '2026-12-03T11:00:00Z'];

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIo = {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
    env: {},
    stdinIsTerminal: true,
    readStdin: () => Promise.resolve(''),
  };
  const code = await runCli(argv, io);
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

/** `count` windows of 15 minutes from `start` (default: four, 10:00-11:00), each delivering two CA ids and one certificate id. */
async function exported(count = 4, start = '2026-12-03T10:00:00Z') {
  const signer = await LocalHealthSigner.generate();
  const base = Date.parse(start);
  const windowsIndex = Array.from({ length: count }, (_, n) => n);
  const contents = windowsIndex.flatMap((n) => {
    const deliveries = emptyDeliveries();
    deliveries.delivered[CA_TABLE] = new Set([id(n * 10), id(n * 10 + 1)]);
    deliveries.delivered[CERTIFICATE_TABLE] = new Set([id(n * 10 + 2)]);
    const window = windowContaining(new Date(base + n * 15 * 60_000), 15);
    return windowRows(TENANT, window, deliveries, { state: 'active', reason: 'Saved' });
  });
  const sealed = await sealRows(
    contents,
    EMPTY_CHAIN,
    signer,
    new Date(base + count * 15 * 60_000 + 5 * 60_000),
  );
  const at = (n: number, minute: number): string => new Date(base + (n * 15 + minute) * 60_000).toISOString();
  const events = windowsIndex.flatMap((n) => [
    { Type: CA_TABLE, EventRecordId_g: id(n * 10), IngestedAt: at(n, 1) },
    { Type: CA_TABLE, EventRecordId_g: id(n * 10 + 1), IngestedAt: at(n, 2) },
    { Type: CERTIFICATE_TABLE, EventRecordId_g: id(n * 10 + 2), IngestedAt: at(n, 3) },
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'verify-'));
  const keys = join(dir, 'jwks.json');
  await writeFile(keys, JSON.stringify({ keys: await signer.publicKeys() }));
  const write = async (name: string, health: readonly object[], rows: readonly object[]): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify([...health, ...rows]));
    return path;
  };
  return { rows: sealed.rows, events, keys, dir, write };
}

/** The portal's CSV export: one header with every column, empty cells for what a row lacks. */
function toCsv(records: ReadonlyArray<Record<string, unknown>>): string {
  const columns = [...new Set(records.flatMap((record) => Object.keys(record)))];
  const cell = (value: unknown): string =>
    value === undefined
      ? ''
      : `"${typeof value === 'string' ? value.replace(/"/g, '""') : JSON.stringify(value)}"`;
  return [
    columns.join(','),
    ...records.map((record) => columns.map((column) => cell(record[column])).join(',')),
  ].join('\r\n');
}

describe('pki-siem-export verify --rows', () => {
  it('exits 0 for a complete, intact export (JSON and CSV)', async () => {
    const e = await exported();
    const json = await run([
      'verify',
      '--rows',
      await e.write('ok.json', e.rows, e.events),
      '--keys',
      e.keys,
      ...RANGE,
    ]);
    expect(json.stderr).toBe('');
    expect(json.stdout).toMatch(/verdict: complete and intact \(4 windows, 8 health rows\)/);
    expect(json.code).toBe(0);

    const csvPath = join(e.dir, 'export.csv');
    await writeFile(csvPath, toCsv([...e.rows, ...e.events] as unknown as Array<Record<string, unknown>>));
    const csv = await run(['verify', '--rows', csvPath, '--keys', e.keys, ...RANGE, '--json']);
    expect(csv.code).toBe(0);
    expect(JSON.parse(csv.stdout)).toMatchObject({ ok: true, unexpected: [] });
  });

  it('exits 3 naming a purged event row', async () => {
    const e = await exported();
    const purged = e.events.filter((row) => row.EventRecordId_g !== id(21));
    const result = await run([
      'verify',
      '--rows',
      await e.write('purged.json', e.rows, purged),
      '--keys',
      e.keys,
      ...RANGE,
    ]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain(`missing ${CA_TABLE} ${id(21)}`);
    expect(result.stdout).toMatch(/2026-12-03T10:30:00.000Z \.\. 2026-12-03T10:45:00.000Z {2}rowsMissing/);
  });

  it('judges the windows only partly inside the range: a purged row of an edge window fails the run', async () => {
    // --from 10:07 lies inside window 10:00-10:15, --to 10:50 inside 10:45-11:00. Before: both edge windows were
    // left out of the verdict while coverage counted them, so a row purged from either verified as complete.
    const e = await exported();
    const edges = ['--from', '2026-12-03T10:07:00Z', '--to', '2026-12-03T10:50:00Z'];
    const complete = await run([
      'verify',
      '--rows',
      await e.write('all.json', e.rows, e.events),
      '--keys',
      e.keys,
      ...edges,
    ]);
    expect(complete.stdout).toContain(
      'judged: whole windows 2026-12-03T10:00:00.000Z .. 2026-12-03T11:00:00.000Z (every window that overlaps --from 2026-12-03T10:07:00.000Z .. --to 2026-12-03T10:50:00.000Z)',
    );
    expect(complete.stdout).toMatch(/verdict: complete and intact \(4 windows, 8 health rows\)/);
    expect(complete.code).toBe(0);

    for (const purgedId of [id(1), id(32)]) {
      const purged = e.events.filter((row) => row.EventRecordId_g !== purgedId);
      const result = await run([
        'verify',
        '--rows',
        await e.write(`purged-${purgedId}.json`, e.rows, purged),
        '--keys',
        e.keys,
        ...edges,
        '--json',
      ]);
      expect(result.code).toBe(3);
      const report = JSON.parse(result.stdout) as {
        ok: boolean;
        windows: Array<{ missing: Array<{ recordId: string }> }>;
      };
      expect(report.ok).toBe(false);
      expect(report.windows.flatMap((window) => window.missing.map((row) => row.recordId))).toEqual([
        purgedId,
      ]);
    }
  });

  it('says when an edge window reaches past the hour of event rows read, instead of calling the trail complete', async () => {
    const signer = await LocalHealthSigner.generate();
    const deliveries = emptyDeliveries();
    deliveries.delivered[CA_TABLE] = new Set([id(1)]);
    // Two-hour windows (HEARTBEAT_INTERVAL_MINUTES=120): 10:00-12:00 reaches past --to 10:30 + 1 hour.
    const window = windowContaining(new Date('2026-12-03T10:00:00Z'), 120);
    const sealed = await sealRows(
      windowRows(TENANT, window, deliveries, { state: 'active', reason: 'Saved' }),
      EMPTY_CHAIN,
      signer,
      new Date('2026-12-03T12:05:00Z'),
    );
    const dir = await mkdtemp(join(tmpdir(), 'verify-long-'));
    const keys = join(dir, 'jwks.json');
    await writeFile(keys, JSON.stringify({ keys: await signer.publicKeys() }));
    const rows = join(dir, 'rows.json');
    await writeFile(
      rows,
      JSON.stringify([
        ...sealed.rows,
        { Type: CA_TABLE, EventRecordId_g: id(1), IngestedAt: '2026-12-03T10:01:00Z' },
      ]),
    );
    const result = await run([
      'verify',
      '--rows',
      rows,
      '--keys',
      keys,
      '--from',
      '2026-12-03T10:07:00Z',
      '--to',
      '2026-12-03T10:30:00Z',
    ]);
    expect(result.stdout).toContain(
      'problem: window 2026-12-03T10:00:00.000Z .. 2026-12-03T12:00:00.000Z reaches more than an hour beyond --from/--to',
    );
    expect(result.code).toBe(3);
  });

  it('exits 3 on a deleted health row (broken chain) and on an altered one', async () => {
    const e = await exported();
    const deleted = await run([
      'verify',
      '--rows',
      await e.write(
        'deleted.json',
        e.rows.filter((row) => row.Sequence_d !== 4),
        e.events,
      ),
      '--keys',
      e.keys,
      ...RANGE,
    ]);
    expect(deleted.code).toBe(3);
    expect(deleted.stdout).toMatch(/broken chain, health rows 4\.\.4 are missing/);

    const altered: SignedHealthRow[] = e.rows.map((row) =>
      row.Sequence_d === 3 ? { ...row, ParkedCount_d: 0, ReenqueuedCount_d: 7 } : row,
    );
    const tampered = await run([
      'verify',
      '--rows',
      await e.write('altered.json', altered, e.events),
      '--keys',
      e.keys,
      ...RANGE,
    ]);
    expect(tampered.code).toBe(3);
    expect(tampered.stdout).toMatch(/health row 3: signature does not match the row \(altered\)/);
  });

  it('exits 3 when the first windows of the trail were purged, health rows and events alike', async () => {
    // Eight windows 09:00-11:00; a purge of 09:00-10:15 leaves a chain that starts at health row 11 and
    // still links. Before: verified as complete (ok, 4 windows, no problems); the chain's start was never checked.
    const e = await exported(8, '2026-12-03T09:00:00Z');
    const cut = Date.parse('2026-12-03T10:15:00Z');
    const health = e.rows.filter((row) => Date.parse(row.WindowStart_t) >= cut);
    const events = e.events.filter((row) => Date.parse(row.IngestedAt) >= cut);
    const result = await run([
      'verify',
      '--rows',
      await e.write('purged-start.json', health, events),
      '--keys',
      e.keys,
      ...RANGE,
      '--json',
    ]);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.stdout) as { ok: boolean; problems: string[] };
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(
      /earliest health row read is 11 \(2026-12-03T10:30:00.000Z\), inside the range, and its predecessor 10 is not among the rows read/,
    );
    expect(report.problems.join('\n')).toMatch(
      /no health window covers 2026-12-03T10:00:00.000Z \.\. 2026-12-03T10:15:00.000Z/,
    );
  });

  it('exits 3 when the last windows before --to were purged, once they are past the grace', async () => {
    // Before: the chain ended early but linked, so verify passed (ok, no problems).
    const e = await exported(8, '2026-12-03T09:00:00Z');
    const cut = Date.parse('2026-12-03T10:30:00Z');
    const health = e.rows.filter((row) => Date.parse(row.WindowStart_t) < cut);
    const events = e.events.filter((row) => Date.parse(row.IngestedAt) < cut);
    const path = await e.write('purged-end.json', health, events);
    const late = await run([
      'verify',
      '--rows',
      path,
      '--keys',
      e.keys,
      '--from',
      '2026-12-03T10:00:00Z',
      '--to',
      '2026-12-03T11:30:00Z',
    ]);
    expect(late.code).toBe(3);
    // Grace: one interval (15 min) + seal and ingestion slack (15 min) before --to.
    expect(late.stdout).toMatch(
      /no health window covers 2026-12-03T10:30:00.000Z \.\. 2026-12-03T11:00:00.000Z and no signed exportDisabled change explains it/,
    );

    // Right after the windows end they may simply not be sealed yet: reported, not failed.
    const recent = await run(['verify', '--rows', path, '--keys', e.keys, ...RANGE]);
    expect(recent.stdout).toMatch(
      /not yet proven: tenant .*: 2026-12-03T10:30:00.000Z \.\. 2026-12-03T11:00:00.000Z has no health window yet/,
    );
    expect(recent.code).toBe(0);
  });

  it('accepts a range that starts before the export existed (the chain starts at 1)', async () => {
    const e = await exported(4, '2026-12-03T10:30:00Z');
    const result = await run([
      'verify',
      '--rows',
      await e.write('genesis.json', e.rows, e.events),
      '--keys',
      e.keys,
      '--from',
      '2026-12-03T10:00:00Z',
      '--to',
      '2026-12-03T11:30:00Z',
    ]);
    expect(result.stdout).toMatch(/verdict: complete and intact/);
    expect(result.code).toBe(0);
  });

  it('exits 3 on an event row no health row lists (written by someone else)', async () => {
    const e = await exported();
    const injected = [
      ...e.events,
      { Type: CA_TABLE, EventRecordId_g: id(999), IngestedAt: '2026-12-03T10:20:00Z' },
    ];
    const result = await run([
      'verify',
      '--rows',
      await e.write('injected.json', e.rows, injected),
      '--keys',
      e.keys,
      ...RANGE,
    ]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain(`unexpected (listed by no health row) ${CA_TABLE} ${id(999)}`);
  });

  it('exits 3 on an injected event row without a record id', async () => {
    // Before: rows whose EventRecordId_g was empty (or absent) were dropped before the check: exit 0.
    const e = await exported();
    const injected = [
      ...e.events,
      { Type: CA_TABLE, EventRecordId_g: '', IngestedAt: '2026-12-03T10:20:00Z' },
      { Type: CERTIFICATE_TABLE, IngestedAt: '2026-12-03T10:21:00Z' },
    ];
    const path = await e.write('no-id.json', e.rows, injected);
    const result = await run(['verify', '--rows', path, '--keys', e.keys, ...RANGE]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain(`unexpected (listed by no health row) ${CA_TABLE} (no record id)`);
    expect(result.stdout).toContain(
      `unexpected (listed by no health row) ${CERTIFICATE_TABLE} (no record id)`,
    );

    const csvPath = join(e.dir, 'no-id.csv');
    await writeFile(csvPath, toCsv([...e.rows, ...injected] as unknown as Array<Record<string, unknown>>));
    const csv = await run(['verify', '--rows', csvPath, '--keys', e.keys, ...RANGE, '--json']);
    expect(csv.code).toBe(3);
    expect((JSON.parse(csv.stdout) as { unexpected: unknown[] }).unexpected).toHaveLength(2);
  });

  it('exits 3 when no health row covers the range', async () => {
    const e = await exported();
    const result = await run([
      'verify',
      '--rows',
      await e.write('none.json', [], e.events),
      '--keys',
      e.keys,
      ...RANGE,
    ]);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/no health rows in the range: nothing is proven/);
  });

  it.each([
    [['verify', ...RANGE, '--keys', 'k.json'], /either --workspace <workspaceResourceId> or --rows <file>/],
    [['verify', '--rows', 'r.json', ...RANGE], /either --jwks-url .* or --keys/],
    [
      [
        'verify',
        '--rows',
        'r.json',
        '--keys',
        'k.json',
        '--from',
        '2026-12-03',
        '--to',
        '2026-12-04T00:00:00Z',
      ],
      /--from must be an ISO 8601 time with a zone/,
    ],
    [
      [
        'verify',
        '--rows',
        'r.json',
        '--keys',
        'k.json',
        '--from',
        '2026-12-04T00:00:00Z',
        '--to',
        '2026-12-03T00:00:00Z',
      ],
      /--from must be before --to/,
    ],
    // Before: accepted, and the keys were fetched over plain http.
    [
      ['verify', '--rows', 'r.json', '--jwks-url', 'http://example.com/api/siem/signing-keys', ...RANGE],
      /--jwks-url must be https:\/\//,
    ],
    [['verify', '--rows', 'r.json', '--jwks-url', 'not a url', ...RANGE], /--jwks-url is not a URL/],
    [['verify', '--workspace', 'not-a-resource-id', '--keys', 'k.json', ...RANGE], /--workspace/],
    [
      ['verify', '--rows', 'r.json', '--keys', 'k.json', ...RANGE, '--bogus'],
      /verify: Unknown option '--bogus'/,
    ],
  ])('exits 2 for a wrong command line: %j', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
