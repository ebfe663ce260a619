import { describe, expect, it } from 'vitest';
import { HOST_SETTINGS, SETTINGS } from '../../src/config';
import { CONFIG_BEGIN, CONFIG_DOC, CONFIG_END, renderConfigSection } from '../../scripts/configDocs';
import { readRepoFile } from '../../scripts/contractDocs';

describe('configuration list in docs/operations.md (regenerate with `npm run docs`)', () => {
  it('is exactly what src/config.ts renders', async () => {
    const doc = await readRepoFile(CONFIG_DOC);
    const begin = doc.indexOf(CONFIG_BEGIN);
    const end = doc.indexOf(CONFIG_END);
    expect(begin, `${CONFIG_DOC} has the configuration block`).toBeGreaterThanOrEqual(0);
    expect(doc.slice(begin, end + CONFIG_END.length)).toBe(await renderConfigSection());
  });

  it('has an entry with meaning and example for every setting, the host settings included', async () => {
    const section = await renderConfigSection();
    for (const name of [...Object.keys(SETTINGS), ...Object.keys(HOST_SETTINGS)]) {
      expect(section).toMatch(new RegExp(`^- \\*\\*\`${name}\`\\*\\*: \\S.*\\n {2}- example: \`.+\``, 'm'));
    }
  });
});
