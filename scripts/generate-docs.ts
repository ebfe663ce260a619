import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AUDIT_EVENT_SCHEMA_FILE } from '../src/domain/eventJsonSchema';
import {
  CONTRACT_DOC,
  readRepoFile,
  renderJsonSchemaFile,
  REPO_ROOT,
  withContractSection,
} from './contractDocs';
import { CONFIG_DOC, withConfigSection } from './configDocs';

/** `npm run docs`: rewrites the JSON Schema file and the generated sections of docs/ from the code. */
async function main(): Promise<void> {
  const schemaPath = path.join(REPO_ROOT, AUDIT_EVENT_SCHEMA_FILE);
  await mkdir(path.dirname(schemaPath), { recursive: true });
  await writeFile(schemaPath, await renderJsonSchemaFile());
  const contractDoc = await readRepoFile(CONTRACT_DOC);
  await writeFile(path.join(REPO_ROOT, CONTRACT_DOC), await withContractSection(contractDoc));
  const configDoc = await readRepoFile(CONFIG_DOC);
  await writeFile(path.join(REPO_ROOT, CONFIG_DOC), await withConfigSection(configDoc));
  console.log(
    `Wrote ${AUDIT_EVENT_SCHEMA_FILE}, the event contract in ${CONTRACT_DOC} and the configuration in ${CONFIG_DOC}.`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
