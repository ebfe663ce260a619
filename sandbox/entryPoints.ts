import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';

/**
 * The source files the worker would load: package.json `main` names the built files
 * (`dist/functions/*.js`), and the sandbox runs their TypeScript sources under tsx, so
 * every `src/<x>.ts` whose build output `dist/<x>.js` the glob matches is an entry point.
 */
export function functionEntryPoints(appDirectory: string): string[] {
  const { main } = JSON.parse(readFileSync(path.join(appDirectory, 'package.json'), 'utf8')) as {
    main?: string;
  };
  if (!main) throw new Error('package.json has no "main": the worker would find no functions.');
  const matches = picomatch(main);
  const sourceRoot = path.join(appDirectory, 'src');
  const entryPoints = readdirSync(sourceRoot, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) =>
      path.relative(sourceRoot, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'),
    )
    .filter((relative) => matches(`dist/${relative.replace(/\.ts$/, '.js')}`))
    .sort()
    .map((relative) => `src/${relative}`);
  if (entryPoints.length === 0) {
    throw new Error(`package.json "main" (${main}) matches no source file under src/.`);
  }
  return entryPoints;
}
