import { describe, expect, it } from 'vitest';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { AUDIT_EVENT_SCHEMA_FILE } from '../../src/domain/eventJsonSchema';
import { TABLE_COLUMNS, TABLE_NAMES } from '../../src/domain/tableSchema';
import {
  CONTRACT_BEGIN,
  CONTRACT_DOC,
  CONTRACT_END,
  readRepoFile,
  renderContractSection,
  renderJsonSchemaFile,
} from '../../scripts/contractDocs';

describe('generated contract documentation (regenerate with `npm run docs`)', () => {
  it('docs/producers.md documents the event contract, the catalog and the columns exactly as the code defines them', async () => {
    const doc = await readRepoFile(CONTRACT_DOC);
    const begin = doc.indexOf(CONTRACT_BEGIN);
    const end = doc.indexOf(CONTRACT_END);
    expect(begin, `${CONTRACT_DOC} has the generated block`).toBeGreaterThanOrEqual(0);
    expect(doc.slice(begin, end + CONTRACT_END.length)).toBe(await renderContractSection());
  });

  it('the committed JSON Schema file is byte for byte what the code generates', async () => {
    expect(await readRepoFile(AUDIT_EVENT_SCHEMA_FILE)).toBe(await renderJsonSchemaFile());
  });

  it('the generated block has a row for every catalog event and an entry for every column and every contract field', async () => {
    const section = await renderContractSection();
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const hasRow = (...cells: string[]) =>
      expect(section).toMatch(new RegExp(`^\\| ${cells.map(escape).join(' +\\| ')} +\\|`, 'm'));
    const hasEntry = (name: string, description: string) =>
      expect(section).toMatch(new RegExp(`^- \`${escape(name)}\`: .*${escape(description)}$`, 'm'));
    for (const entry of EVENT_CATALOG) hasRow(String(entry.eventId), entry.summary);
    for (const table of TABLE_NAMES) {
      for (const column of TABLE_COLUMNS[table]) hasEntry(column.name, column.description);
    }
    for (const field of [
      'schemaVersion',
      'tenantId',
      'actor.ipAddress',
      'ca.id',
      'certificate.subjectAltNames',
    ]) {
      hasEntry(field, '');
    }
  });
});
