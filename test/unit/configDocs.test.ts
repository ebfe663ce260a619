import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config';
import { CONFIG_BEGIN, CONFIG_END, renderConfigSection } from '../../scripts/configDocs';
import { README_FILE, readRepoFile } from '../../scripts/contractDocs';

describe('README configuration table (regenerate with `npm run docs`)', () => {
  it('is exactly what src/config.ts renders', async () => {
    const readme = await readRepoFile(README_FILE);
    const begin = readme.indexOf(CONFIG_BEGIN);
    const end = readme.indexOf(CONFIG_END);
    expect(begin, 'README has the configuration block').toBeGreaterThanOrEqual(0);
    expect(readme.slice(begin, end + CONFIG_END.length)).toBe(await renderConfigSection());
  });

  it('has a row with meaning and example for every setting', async () => {
    const section = await renderConfigSection();
    for (const name of Object.keys(SETTINGS)) {
      expect(section).toMatch(new RegExp(`^\\| \`${name}\` +\\| \\S`, 'm'));
    }
  });
});
