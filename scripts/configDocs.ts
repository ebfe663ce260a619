import { HOST_SETTINGS, SETTINGS, type SettingName } from '../src/config';
import { format, replaceGeneratedBlock } from './contractDocs';

/**
 * The operations guide's configuration list, rendered from `SETTINGS` in
 * src/config.ts so the documentation names exactly the settings the app
 * validates. `npm run docs` writes it; test/unit/configDocs.test.ts checks the
 * committed copy. A list, not a table: descriptions run to several hundred
 * characters, which no table column shows readably.
 */

export const CONFIG_DOC = 'docs/operations.md';
export const CONFIG_BEGIN = '<!-- BEGIN GENERATED: configuration (npm run docs) -->';
export const CONFIG_END = '<!-- END GENERATED: configuration -->';

function defaultOf(name: SettingName): string {
  const parsed = SETTINGS[name].schema.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return '';
  const value: unknown = parsed.data;
  if (Array.isArray(value)) return value.join(',');
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : '';
}

/** Inline code that survives backticks in the value (CommonMark: a longer fence). */
function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function item(name: string, description: string, example: string, fallback: string): string[] {
  return [
    `- **${code(name)}**: ${description.replace(/\s*\n\s*/g, ' ')}`,
    `  - example: ${code(example)}`,
    ...(fallback ? [`  - default: ${code(fallback)}`] : []),
  ];
}

export async function renderConfigSection(): Promise<string> {
  const lines = [
    ...(Object.keys(SETTINGS) as SettingName[]).flatMap((name) => {
      const setting = SETTINGS[name];
      const devOnly =
        'devOnly' in setting && setting.devOnly && !setting.description.startsWith('Development only')
          ? ' (development only)'
          : '';
      return item(name, `${setting.description}${devOnly}`, setting.example, defaultOf(name));
    }),
    '',
    'The Functions host reads these itself (the app never does); the deployment template sets them:',
    '',
    ...Object.entries(HOST_SETTINGS).flatMap(([name, setting]) =>
      item(name, setting.description, setting.example, ''),
    ),
  ];
  const formatted = await format(lines.join('\n'), CONFIG_DOC);
  return `${CONFIG_BEGIN}\n\n${formatted}\n${CONFIG_END}`;
}

export async function withConfigSection(doc: string): Promise<string> {
  return replaceGeneratedBlock(doc, {
    begin: CONFIG_BEGIN,
    end: CONFIG_END,
    section: await renderConfigSection(),
    heading: '## Configuration',
  });
}
