import { describe, expect, it } from 'vitest';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { AUDIT_EVENT_SCHEMA_FILE } from '../../src/domain/eventJsonSchema';
import { TABLE_COLUMNS, TABLE_NAMES } from '../../src/domain/tableSchema';
import {
  README_BEGIN,
  README_END,
  README_FILE,
  readRepoFile,
  renderJsonSchemaFile,
  renderReadmeSection,
} from '../../scripts/contractDocs';

describe('generated contract documentation (regenerate with `npm run docs`)', () => {
  it('README documents the event contract, the catalog and the columns exactly as the code defines them', async () => {
    const readme = await readRepoFile(README_FILE);
    const begin = readme.indexOf(README_BEGIN);
    const end = readme.indexOf(README_END);
    expect(begin, 'README has the generated block').toBeGreaterThanOrEqual(0);
    expect(readme.slice(begin, end + README_END.length)).toBe(await renderReadmeSection());
  });

  it('the committed JSON Schema file is byte for byte what the code generates', async () => {
    expect(await readRepoFile(AUDIT_EVENT_SCHEMA_FILE)).toBe(await renderJsonSchemaFile());
  });

  it('the README block has a row for every catalog event, every column and every contract field', async () => {
    const section = await renderReadmeSection();
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const hasRow = (...cells: string[]) =>
      expect(section).toMatch(new RegExp(`^\\| ${cells.map(escape).join(' +\\| ')} +\\|`, 'm'));
    for (const entry of EVENT_CATALOG) hasRow(String(entry.eventId), entry.summary);
    for (const table of TABLE_NAMES) for (const column of TABLE_COLUMNS[table]) hasRow(`\`${column.name}\``);
    for (const field of [
      'schemaVersion',
      'tenantId',
      'actor.ipAddress',
      'ca.id',
      'certificate.subjectAltNames',
    ]) {
      hasRow(`\`${field}\``);
    }
  });
});
