import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AUDIT_EVENT_SCHEMA_FILE } from '../src/domain/eventJsonSchema';
import {
  README_FILE,
  readmeWithGeneratedSection,
  readRepoFile,
  renderJsonSchemaFile,
  REPO_ROOT,
} from './contractDocs';
import { readmeWithConfigSection } from './configDocs';

/** `npm run docs`: rewrites the JSON Schema file and the README's generated sections from the code. */
async function main(): Promise<void> {
  const schemaPath = path.join(REPO_ROOT, AUDIT_EVENT_SCHEMA_FILE);
  await mkdir(path.dirname(schemaPath), { recursive: true });
  await writeFile(schemaPath, await renderJsonSchemaFile());
  const readme = await readRepoFile(README_FILE);
  await writeFile(
    path.join(REPO_ROOT, README_FILE),
    await readmeWithConfigSection(await readmeWithGeneratedSection(readme)),
  );
  console.log(`Wrote ${AUDIT_EVENT_SCHEMA_FILE} and the generated sections of ${README_FILE}.`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
