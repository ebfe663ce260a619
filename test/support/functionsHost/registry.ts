import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FunctionsHostError, registeredFunctions, type RegisteredFunctionEntry } from './coreApi';
import type { RpcBindingInfo } from './coreTypes';

/** A registered function as the host indexes it. Trigger properties are as the app registered them. */
export interface RegisteredFunctionInfo {
  name: string;
  /** Base name of the entry-point file that registered it (`unknown` if not loaded by startFunctionApp). */
  scriptFile: string;
  /** e.g. `httpTrigger`, `serviceBusTrigger`. */
  triggerType: string;
  /** The trigger binding's generated name (the library hashes it), needed to address the input. */
  triggerBindingName: string;
  /** The whole trigger binding: every option the app passed. */
  trigger: Readonly<RpcBindingInfo>;
  /** HTTP: the route template as registered; undefined means the host routes by the function name. */
  route?: string;
  /** HTTP: upper-cased methods. */
  methods?: string[];
  authLevel?: string;
  /** Service Bus: as registered, possibly a `%SETTING%` reference. */
  queueName?: string;
  topicName?: string;
  subscriptionName?: string;
  connection?: string;
  /** Service Bus and other batching triggers: the host's default is `one`. */
  cardinality?: 'one' | 'many';
  /** `string`, `binary`, `stream` or undefined (the host then picks its default conversion). */
  dataType?: string;
  isSessionsEnabled?: boolean;
  /** Service Bus: whether the host completes messages after a successful invocation (default true). */
  autoCompleteMessages: boolean;
}

export interface HttpRouteMatch {
  function: RegisteredFunctionInfo;
  /** Route parameters, URL-decoded; optional parameters absent from the path are left out. */
  params: Record<string, string>;
}

function isTriggerType(type: string | null | undefined): type is string {
  return !!type && /trigger$/i.test(type);
}

function stringProp(binding: RpcBindingInfo, key: string): string | undefined {
  const value = binding[key];
  return typeof value === 'string' ? value : undefined;
}

export function describeFunction(entry: RegisteredFunctionEntry): RegisteredFunctionInfo {
  const triggerEntry = Object.entries(entry.bindings).find(
    ([, binding]) => binding.direction === 'in' && isTriggerType(binding.type),
  );
  if (!triggerEntry) {
    throw new FunctionsHostError(`Function "${entry.name}" has no trigger binding.`);
  }
  const [triggerBindingName, trigger] = triggerEntry;
  const methods = trigger.methods;
  const cardinality = trigger.cardinality;
  const autoComplete = trigger.autoCompleteMessages;
  return {
    name: entry.name,
    scriptFile: entry.scriptFile,
    triggerType: trigger.type!,
    triggerBindingName,
    trigger,
    route: stringProp(trigger, 'route'),
    methods: Array.isArray(methods) ? methods.map((m) => String(m).toUpperCase()) : undefined,
    authLevel: stringProp(trigger, 'authLevel'),
    queueName: stringProp(trigger, 'queueName'),
    topicName: stringProp(trigger, 'topicName'),
    subscriptionName: stringProp(trigger, 'subscriptionName'),
    connection: stringProp(trigger, 'connection'),
    cardinality: cardinality === 'many' || cardinality === 'one' ? cardinality : undefined,
    dataType: trigger.dataType ?? undefined,
    isSessionsEnabled: typeof trigger.isSessionsEnabled === 'boolean' ? trigger.isSessionsEnabled : undefined,
    autoCompleteMessages:
      autoComplete === undefined ? true : autoComplete === true || autoComplete === 'true',
  };
}

/** Every function registered so far, in registration order. */
export function listFunctions(): RegisteredFunctionInfo[] {
  return registeredFunctions().map(describeFunction);
}

export function functionEntry(name: string): RegisteredFunctionEntry {
  const entry = registeredFunctions().find((f) => f.name === name);
  if (!entry) {
    const known = registeredFunctions().map((f) => f.name);
    throw new FunctionsHostError(
      `No function named "${name}" is registered (registered: ${known.length ? known.join(', ') : 'none'}). ` +
        'Import its file (or call startFunctionApp) first.',
    );
  }
  return entry;
}

/** The function registered under this name; throws naming the registered ones if there is none. */
export function getFunction(name: string): RegisteredFunctionInfo {
  return describeFunction(functionEntry(name));
}

/**
 * Resolves `%SETTING%` references the way the host does for binding expressions in trigger options,
 * from process.env at call time. A reference to a missing setting is an error, as it is at host startup.
 */
export function resolveAppSettingReferences(value: string, what: string): string {
  return value.replace(/%([^%]+)%/g, (_match, setting: string) => {
    const resolved = process.env[setting];
    if (resolved === undefined) {
      throw new FunctionsHostError(`${what} refers to app setting "${setting}", which is not set.`);
    }
    return resolved;
  });
}

/** The Service Bus-triggered function reading this queue (`%SETTING%` queue names resolved), if any. */
export function findServiceBusFunction(queueName: string): RegisteredFunctionInfo | undefined {
  const matches = listFunctions().filter(
    (f) =>
      f.triggerType.toLowerCase() === 'servicebustrigger' &&
      f.queueName !== undefined &&
      resolveAppSettingReferences(f.queueName, `Function "${f.name}"'s queueName`).toLowerCase() ===
        queueName.toLowerCase(),
  );
  if (matches.length > 1) {
    throw new FunctionsHostError(
      `Several functions read queue "${queueName}": ${matches.map((f) => f.name).join(', ')}. ` +
        'They would compete for its messages.',
    );
  }
  return matches[0];
}

// ---------------------------------------------------------------------------------------------------
// HTTP routing, as ASP.NET Core route templates behave in the Functions host.

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'parameter'; name: string; optional: boolean; constraints: string[] }
  | { kind: 'catchAll'; name: string };

let routePrefixCache: string | undefined;

/** `extensions.http.routePrefix` from the app's host.json (cwd), `api` by default, as the host reads it. */
export function httpRoutePrefix(): string {
  if (routePrefixCache === undefined) {
    let prefix = 'api';
    try {
      const hostJson = JSON.parse(readFileSync(path.resolve('host.json'), 'utf8')) as {
        extensions?: { http?: { routePrefix?: unknown } };
      };
      const configured = hostJson.extensions?.http?.routePrefix;
      if (typeof configured === 'string') prefix = configured;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    routePrefixCache = prefix.replace(/^\/+|\/+$/g, '');
  }
  return routePrefixCache;
}

function parseTemplate(template: string, functionName: string): Segment[] {
  const parts = template.replace(/^\/+|\/+$/g, '').split('/');
  return parts
    .filter((part, index) => !(part === '' && parts.length === 1 && index === 0))
    .map((part, index, all): Segment => {
      const parameter = /^\{(\*{1,2})?([A-Za-z_][\w]*)((?::[^{}?=]+)*)(\?)?\}$/.exec(part);
      if (parameter) {
        const [, star, name, constraintText, optional] = parameter;
        if (star) {
          if (index !== all.length - 1) {
            throw new FunctionsHostError(`Route of "${functionName}": a catch-all must be the last segment.`);
          }
          return { kind: 'catchAll', name: name! };
        }
        const constraints = constraintText ? constraintText.slice(1).split(':') : [];
        return { kind: 'parameter', name: name!, optional: optional === '?', constraints };
      }
      if (/[{}]/.test(part) || part === '') {
        throw new FunctionsHostError(
          `Route of "${functionName}": segment "${part}" in "${template}" is not supported by the host stand-in ` +
            '(complex segments, defaults and empty segments).',
        );
      }
      return { kind: 'literal', text: part };
    });
}

const HEX_GUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** The formats .NET's Guid.TryParse accepts that can appear in a path segment: D, N, B and P. */
const GUID_FORMATS = [`^${HEX_GUID}$`, '^[0-9a-f]{32}$', `^\\{${HEX_GUID}\\}$`, `^\\(${HEX_GUID}\\)$`].map(
  (source) => new RegExp(source, 'i'),
);

function satisfies(value: string, constraint: string, functionName: string): boolean {
  const withArgument = /^(\w+)(?:\((.*)\))?$/.exec(constraint);
  const [, kind, argument] = withArgument ?? [];
  const size = Number(argument);
  switch (kind?.toLowerCase()) {
    case 'int':
      return /^-?\d+$/.test(value) && Number(value) >= -(2 ** 31) && Number(value) < 2 ** 31;
    case 'long':
      return /^-?\d+$/.test(value) && BigInt(value) >= -(2n ** 63n) && BigInt(value) < 2n ** 63n;
    case 'bool':
      return /^(true|false)$/i.test(value);
    case 'guid':
      return GUID_FORMATS.some((format) => format.test(value));
    case 'alpha':
      return /^[a-z]+$/i.test(value);
    case 'minlength':
      return value.length >= size;
    case 'maxlength':
      return value.length <= size;
    case 'length':
      return value.length === size;
    default:
      throw new FunctionsHostError(
        `Route of "${functionName}": constraint "${constraint}" is not supported by the host stand-in.`,
      );
  }
}

function matchSegments(
  segments: Segment[],
  pathSegments: string[],
  functionName: string,
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const value = pathSegments[i];
    if (segment.kind === 'catchAll') {
      const rest = pathSegments.slice(i).join('/');
      if (rest !== '') params[segment.name] = rest;
      return params;
    }
    if (value === undefined) {
      const restIsOptional = segments
        .slice(i)
        .every((s) => s.kind === 'catchAll' || (s.kind === 'parameter' && s.optional));
      return restIsOptional ? params : undefined;
    }
    if (segment.kind === 'literal') {
      if (segment.text.toLowerCase() !== value.toLowerCase()) return undefined;
    } else {
      if (value === '' || !segment.constraints.every((c) => satisfies(value, c, functionName)))
        return undefined;
      params[segment.name] = value;
    }
  }
  return pathSegments.length === segments.length ? params : undefined;
}

/** ASP.NET precedence, segment by segment: literal, then constrained, plain, optional, catch-all. */
function precedence(segments: Segment[]): number[] {
  return segments.map((s) =>
    s.kind === 'literal' ? 1 : s.kind === 'catchAll' ? 5 : s.optional ? 4 : s.constraints.length ? 2 : 3,
  );
}

function comparePrecedence(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function splitPath(pathname: string): string[] | undefined {
  const parts = pathname.replace(/^\//, '').split('/');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    return undefined;
  }
}

/**
 * The HTTP function the host would route `method path` to, with its route parameters. `path` is the
 * request path (a query string is ignored), including the route prefix, e.g. `/api/tenants/t1/siem`.
 */
export function findHttpFunction(method: string, requestPath: string): HttpRouteMatch | undefined {
  const pathname = new URL(requestPath, 'http://localhost').pathname;
  const pathSegments = splitPath(pathname);
  if (!pathSegments) return undefined;
  const prefix = httpRoutePrefix();
  const candidates: { match: HttpRouteMatch; rank: number[] }[] = [];
  for (const info of listFunctions()) {
    if (info.triggerType.toLowerCase() !== 'httptrigger') continue;
    if (info.methods && !info.methods.includes(method.toUpperCase())) continue;
    const template = `${prefix}/${info.route ?? info.name}`;
    const segments = parseTemplate(template, info.name);
    const params = matchSegments(segments, pathSegments, info.name);
    if (params) candidates.push({ match: { function: info, params }, rank: precedence(segments) });
  }
  candidates.sort((a, b) => comparePrecedence(a.rank, b.rank));
  const [best, runnerUp] = candidates;
  if (best && runnerUp && comparePrecedence(best.rank, runnerUp.rank) === 0) {
    throw new FunctionsHostError(
      `Ambiguous route: ${method} ${pathname} matches both "${best.match.function.name}" and ` +
        `"${runnerUp.match.function.name}".`,
    );
  }
  return best?.match;
}
