import { join } from 'node:path';
import { ARM_TEMPLATE_PATH, SOLUTION_DIR, type SentinelContent } from '../sentinelContent';
import { customTableFiles } from './customTables';
import { buildPackage } from './mainTemplate';

/**
 * The Content Hub package of the solution (Package/mainTemplate.json and
 * createUiDefinition.json), in the shape Azure-Sentinel's V3 packager
 * (Tools/Create-Azure-Sentinel-Solution/V3, createSolutionV3.ps1) produces:
 * one contentTemplates resource per rule, hunting query, workbook and data
 * connector, each carrying its resource and a metadata resource, top-level
 * metadata for the connector, and the contentPackages resource listing them
 * all as dependencies. Built from the same parsed sources as the direct-deploy
 * template, so the two cannot drift.
 *
 * Plus the CustomTables schema files Azure-Sentinel's KQL validation tests read
 * (.script/tests/KqlvalidationsTests/CustomTables/<table>.json), derived from
 * src/domain/tableSchema.ts.
 */

export const PACKAGE_DIR = join(SOLUTION_DIR, 'Package');
export const MAIN_TEMPLATE_PATH = join(PACKAGE_DIR, 'mainTemplate.json');
export const CREATE_UI_DEFINITION_PATH = join(PACKAGE_DIR, 'createUiDefinition.json');

export { CUSTOM_TABLE_SCHEMAS, CUSTOM_TABLES_DIR, customTableFile, customTableFiles } from './customTables';
export { buildPackage, type PackageFiles } from './mainTemplate';
export {
  ALERT_RULE_TEMPLATES_API_VERSION,
  CONTENT_API_VERSION,
  METADATA_API_VERSION,
  SAVED_SEARCHES_PACKAGE_API_VERSION,
  WORKBOOKS_PACKAGE_API_VERSION,
} from './templateParts';

/** Every file npm run sentinel:build writes, with its content; a test compares them with the committed files. */
export function generatedFiles(
  content: SentinelContent,
  armTemplate: unknown,
): Array<{ path: string; value: unknown }> {
  const built = buildPackage(content);
  return [
    { path: ARM_TEMPLATE_PATH, value: armTemplate },
    { path: MAIN_TEMPLATE_PATH, value: built.mainTemplate },
    { path: CREATE_UI_DEFINITION_PATH, value: built.createUiDefinition },
    ...customTableFiles().map(({ path, content: table }) => ({ path, value: table })),
  ];
}
