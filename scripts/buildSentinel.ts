import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { buildArmTemplate } from './sentinelArm';
import { loadSentinelContent } from './sentinelContent';
import { buildPackage, generatedFiles } from './sentinelPackage';
import { packageProblems } from './sentinelSolutionFiles';

/**
 * `npm run sentinel:build`: validates the solution folder (sentinel/EZCA) and
 * writes what derives from it: the direct-deploy template
 * (sentinel/azuredeploy.sentinel.json), the Content Hub package
 * (Package/mainTemplate.json, Package/createUiDefinition.json) and the
 * CustomTables schema files. Run after editing any source; the test suite
 * fails while a committed file is stale.
 */
async function main(): Promise<void> {
  const root = process.cwd();
  const content = loadSentinelContent(root);
  const problems = packageProblems(buildPackage(content).mainTemplate);
  if (problems.length > 0) {
    throw new Error(
      `The solution package would fail Azure-Sentinel's validation:\n  ${problems.join('\n  ')}`,
    );
  }
  for (const { path, value } of generatedFiles(content, buildArmTemplate(content))) {
    const target = join(root, path);
    const options = (await resolveConfig(target)) ?? {};
    writeFileSync(target, await format(JSON.stringify(value), { ...options, filepath: target }));
    console.log(`wrote ${path}`);
  }
  console.log(
    `${content.analyticRules.length} analytic rules, ${content.huntingQueries.length} hunting queries, ${content.workbooks.length} workbook(s), ${content.dataConnectors.length} data connector(s)`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
