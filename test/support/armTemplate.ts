import { readFileSync } from 'node:fs';

/**
 * Just enough of an ARM template to check it without Azure: plain JSON access
 * and the two expression forms the template uses for values it wants tests to
 * see (`[variables('x')]`, `[parameters('x')]` with its default), plus the
 * Node.js worker arguments (nodeWorkerArguments). Anything richer stays an
 * unevaluated expression string.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ArmResource {
  type: string;
  name: string;
  apiVersion: string;
  condition?: string;
  scope?: string;
  kind?: string;
  location?: string;
  sku?: { [key: string]: Json };
  identity?: { [key: string]: Json };
  properties?: { [key: string]: Json };
  dependsOn?: string[];
}

export interface ArmTemplate {
  parameters: { [name: string]: { type: string; defaultValue?: Json; [key: string]: Json | undefined } };
  variables: { [name: string]: Json };
  resources: ArmResource[];
  outputs: { [name: string]: { type: string; value: Json } };
}

export function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

export function readTemplate(path = 'infra/azuredeploy.json'): ArmTemplate {
  return readJson(path) as unknown as ArmTemplate;
}

/** Follows a dotted path through objects; undefined where it leads nowhere. */
export function at(value: Json | undefined, path: string): Json | undefined {
  let current: Json | undefined = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Resolves `[variables('x')]` and `[parameters('x')]` (to its default), recursively. */
export function resolve(template: ArmTemplate, value: Json | undefined): Json | undefined {
  if (typeof value !== 'string') return value;
  const variable = /^\[variables\('(\w+)'\)\]$/.exec(value);
  if (variable?.[1] !== undefined) return resolve(template, template.variables[variable[1]]);
  const parameter = /^\[parameters\('(\w+)'\)\]$/.exec(value);
  if (parameter?.[1] !== undefined) return resolve(template, template.parameters[parameter[1]]?.defaultValue);
  return value;
}

/** The child name a nested resource's `format('{0}/…/{1}', …, variables('x'))` name ends with. */
export function lastNameSegment(template: ArmTemplate, resource: ArmResource): Json | undefined {
  const last = /variables\('(\w+)'\)\)\]$/.exec(resource.name);
  return last?.[1] === undefined ? undefined : resolve(template, template.variables[last[1]]);
}

export function resourcesOfType(template: ArmTemplate, type: string): ArmResource[] {
  return template.resources.filter((resource) => resource.type.toLowerCase() === type.toLowerCase());
}

export function onlyResourceOfType(template: ArmTemplate, type: string): ArmResource {
  const found = resourcesOfType(template, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0] as ArmResource;
}

/** Every object key and string value with where it sits, for scanning. */
export function stringsIn(value: Json, path = '$'): Array<{ path: string; text: string }> {
  if (typeof value === 'string') return [{ path, text: value }];
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((item, index) => stringsIn(item, `${path}[${index}]`));
  return Object.entries(value).flatMap(([key, item]) => [
    { path: `${path}.${key} (key)`, text: key },
    ...stringsIn(item, `${path}.${key}`),
  ]);
}

const WORKER_ARGUMENTS_SETTING = 'languageWorkers__node__arguments';
const HEAP_BY_INSTANCE_MEMORY =
  /^\[format\('--max-old-space-size=\{0\}', div\(parameters\('instanceMemoryMB'\), (\d+)\)\)\]$/;

/**
 * The Node.js worker arguments the template gives an instance of
 * `instanceMemoryMB` (the parameter's default when omitted). Evaluates the one
 * expression form the template uses for them and throws on any other, so the
 * bench never runs the measured process with arguments the template does not
 * set.
 */
export function nodeWorkerArguments(template: ArmTemplate, instanceMemoryMB?: number): string[] {
  const site = onlyResourceOfType(template, 'Microsoft.Web/sites');
  const settings = at(site.properties ?? null, 'siteConfig.appSettings') as Array<{
    name: string;
    value: Json;
  }>;
  const value = settings.find((setting) => setting.name === WORKER_ARGUMENTS_SETTING)?.value;
  if (value === undefined) return [];
  const divisor = typeof value === 'string' ? HEAP_BY_INSTANCE_MEMORY.exec(value)?.[1] : undefined;
  if (divisor === undefined) {
    throw new Error(
      `${WORKER_ARGUMENTS_SETTING} is ${JSON.stringify(value)}, a form this reader does not evaluate`,
    );
  }
  const memory = instanceMemoryMB ?? template.parameters.instanceMemoryMB?.defaultValue;
  if (typeof memory !== 'number') throw new Error('instanceMemoryMB has no numeric default');
  // ARM's div() is integer division.
  return [`--max-old-space-size=${Math.trunc(memory / Number(divisor))}`];
}
