import { describe, expect, it } from 'vitest';
import { eventToRow, rowForSchemaVersion } from '../../src/domain/rowMapper';
import { needsUpgrade } from '../../src/domain/schemaUpgrade';
import { CA_TABLE, columnNamesAt, TABLE_SCHEMA_VERSION, TABLE_COLUMNS } from '../../src/domain/tableSchema';
import { auditEvent, savedConnection } from '../support/forwarderFixtures';
import { validateEvent } from '../../src/domain/eventContract';

describe('table schema versions', () => {
  it('version 1 is every column but EventTime_t; the current version has them all', () => {
    const all = TABLE_COLUMNS[CA_TABLE].map((column) => column.name);
    expect([...columnNamesAt(CA_TABLE, 1)]).toEqual(all.filter((name) => name !== 'EventTime_t'));
    expect([...columnNamesAt(CA_TABLE, TABLE_SCHEMA_VERSION)]).toEqual(all);
  });

  it('leaves out of a row the columns an older DCR does not declare, and nothing for a current one', () => {
    const validated = validateEvent(auditEvent('6f1c1b4e-8f0e-4d55-9d7e-0c1a2b3c4d5e', { eventId: 4882 }));
    if (!validated.ok) throw new Error('fixture event is invalid');
    const { table, row } = eventToRow(validated.event);
    expect(row).toHaveProperty('EventTime_t');
    expect(rowForSchemaVersion(table, row, TABLE_SCHEMA_VERSION)).toBe(row);
    const old = rowForSchemaVersion(table, row, undefined);
    expect(old).not.toHaveProperty('EventTime_t');
    expect(Object.keys(old)).toEqual(Object.keys(row).filter((name) => name !== 'EventTime_t'));
  });

  it('upgrades saved connections behind the current version, unless export is off', () => {
    const current = savedConnection('6f1c1b4e-8f0e-4d55-9d7e-0c1a2b3c4d5e');
    expect(needsUpgrade(current)).toBe(false);
    const { schemaVersion: _dropped, ...oldTarget } = current.saved!;
    const old = { ...current, saved: oldTarget };
    expect(needsUpgrade(old)).toBe(true);
    expect(needsUpgrade({ ...old, state: 'degraded' })).toBe(true);
    expect(needsUpgrade({ ...old, state: 'disabled' })).toBe(false);
  });
});
