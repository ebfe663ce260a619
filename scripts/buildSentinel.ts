import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { buildArmTemplate } from './sentinelArm';
import { ARM_TEMPLATE_PATH, loadSentinelContent } from './sentinelContent';

/**
 * `npm run sentinel:build`: validates sentinel/ and writes the ARM template
 * that deploys it. Run after editing any rule, hunting query or workbook; the
 * test suite fails while the committed template is stale.
 */
async function main(): Promise<void> {
  const root = process.cwd();
  const content = loadSentinelContent(root);
  const target = join(root, ARM_TEMPLATE_PATH);
  const options = (await resolveConfig(target)) ?? {};
  const text = await format(JSON.stringify(buildArmTemplate(content)), { ...options, filepath: target });
  writeFileSync(target, text);
  console.log(
    `${ARM_TEMPLATE_PATH}: ${content.analyticRules.length} analytic rules, ${content.huntingQueries.length} hunting queries, ${content.workbooks.length} workbook(s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
