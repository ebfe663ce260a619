import { HOST_SETTINGS, SETTINGS, type SettingName } from '../src/config';
import { format, README_FILE, replaceGeneratedBlock } from './contractDocs';

/**
 * The README's configuration table, rendered from `SETTINGS` in src/config.ts
 * so the documentation names exactly the settings the app validates.
 * `npm run docs` writes it; test/unit/configDocs.test.ts checks the README.
 */

export const CONFIG_BEGIN = '<!-- BEGIN GENERATED: configuration (npm run docs) -->';
export const CONFIG_END = '<!-- END GENERATED: configuration -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultOf(name: SettingName): string {
  const parsed = SETTINGS[name].schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return '';
  const value: unknown = parsed.data;
  if (Array.isArray(value)) return value.join(',');
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '';
}

export async function renderConfigSection(): Promise<string> {
  const lines = [
    '| setting | meaning | example | default |',
    '| --- | --- | --- | --- |',
    ...(Object.keys(SETTINGS) as SettingName[]).map((name) => {
      const setting = SETTINGS[name];
      const devOnly =
        'devOnly' in setting && setting.devOnly && !setting.description.startsWith('Development only')
          ? ' (development only)'
          : '';
      const fallback = defaultOf(name);
      return `| \`${name}\` | ${cell(setting.description)}${devOnly} | \`${cell(setting.example)}\` | ${fallback ? `\`${cell(fallback)}\`` : ''} |`;
    }),
    '',
    'The Functions host reads these itself (the app never does); the deployment template sets them:',
    '',
    '| setting | meaning | example |',
    '| --- | --- | --- |',
    ...Object.entries(HOST_SETTINGS).map(
      ([name, setting]) => `| \`${name}\` | ${cell(setting.description)} | \`${cell(setting.example)}\` |`,
    ),
  ];
  const formatted = await format(lines.join('\n'), README_FILE);
  return `${CONFIG_BEGIN}\n\n${formatted}\n${CONFIG_END}`;
}

export async function readmeWithConfigSection(readme: string): Promise<string> {
  return replaceGeneratedBlock(readme, {
    begin: CONFIG_BEGIN,
    end: CONFIG_END,
    section: await renderConfigSection(),
    heading: '## Configuration',
  });
}
