import Module from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  CoreFunctionMetadata,
  FunctionCallback,
  HookCallback,
  ProgrammingModel,
  RpcBindingInfo,
  RpcLogCategory,
  RpcLogLevel,
  WorkerCapabilities,
} from './coreTypes';

/** One log line as the worker would forward it to the host. */
export interface CapturedLog {
  level: RpcLogLevel;
  /** `user`: context.log & co; `system`: the library and worker; `host`: lines this stand-in writes as the host. */
  category: RpcLogCategory | 'host';
  message: string;
  functionName?: string;
  invocationId?: string;
}

export interface RegisteredFunctionEntry {
  name: string;
  functionId: string;
  bindings: Readonly<Record<string, RpcBindingInfo>>;
  retryOptions?: unknown;
  rawBindings: string[];
  scriptFile: string;
  directory?: string;
  callback: FunctionCallback;
}

type HookName = 'preInvocation' | 'postInvocation' | 'appStart' | 'appTerminate' | 'log';
const HOOK_NAMES: readonly HookName[] = [
  'preInvocation',
  'postInvocation',
  'appStart',
  'appTerminate',
  'log',
];

/**
 * What the Node.js worker declares before asking the programming model for more (worker 3.x,
 * src/eventHandlers/getWorkerCapabilities.ts). The host reads them to decide how to shape invocations.
 */
const NODE_WORKER_DEFAULT_CAPABILITIES: WorkerCapabilities = {
  RawHttpBodyBytes: 'true',
  RpcHttpTriggerMetadataRemoved: 'true',
  RpcHttpBodyOnly: 'true',
  IgnoreEmptyValuedRpcHttpHeaders: 'true',
  UseNullableValueDictionaryForHttp: 'true',
  WorkerStatus: 'true',
  TypedDataCollection: 'true',
  HandlesWorkerTerminateMessage: 'true',
};

/**
 * The host accepts function names matching this and refuses `host` (and the worker accepts more than the
 * host does), so a bad name is refused at registration instead of surfacing only in Azure.
 */
const VALID_FUNCTION_NAME = /^[a-z][a-z0-9_-]{0,127}$/i;

interface HostState {
  coreApi: Record<string, unknown>;
  programmingModel?: ProgrammingModel;
  functions: Map<string, RegisteredFunctionEntry>;
  hooks: Map<HookName, HookCallback[]>;
  appHookData: Record<string, unknown>;
  appLevelOnlyHookData: Record<string, unknown>;
  hostLogs: CapturedLog[];
  logListener?: (log: CapturedLog) => void;
  currentEntryPoint?: string;
  /** Set once the app has "started": capabilities negotiated, appStart hooks run, registrations closed. */
  started?: Promise<WorkerCapabilities>;
}

// Kept on globalThis so every copy of this module in a process (vitest's transformed copy, a tsx copy)
// shares one fake core: the library caches the first core module it receives.
const STATE_KEY = Symbol.for('pki-siem-export.functionsHost.state');

export class FunctionsHostError extends Error {
  override name = 'FunctionsHostError';
}

class ReadOnlyError extends TypeError {
  constructor(property: string) {
    super(`Cannot assign to read only property '${property}'`);
  }
}

class Disposable {
  static from(...disposables: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => disposables.forEach((d) => d.dispose()));
  }
  #callOnDispose?: () => unknown;
  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }
  dispose(): unknown {
    const call = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return call?.();
  }
}

function state(): HostState {
  const existing = (globalThis as Record<symbol, unknown>)[STATE_KEY] as HostState | undefined;
  if (!existing) {
    throw new FunctionsHostError(
      'The Functions host stand-in is not installed: call installFunctionsCore() before loading function files.',
    );
  }
  return existing;
}

/**
 * Provides `@azure/functions-core` to every `require` in this process, as the worker does at startup.
 * Idempotent. Must run before @azure/functions first registers anything (the library looks the core module
 * up once and remembers a failure as "test mode").
 */
export function installFunctionsCore(): void {
  const globals = globalThis as Record<symbol, unknown>;
  if (globals[STATE_KEY]) return;

  const hostState: HostState = {
    coreApi: {},
    functions: new Map(),
    hooks: new Map(HOOK_NAMES.map((name) => [name, []])),
    appHookData: {},
    appLevelOnlyHookData: {},
    hostLogs: [],
  };
  hostState.coreApi = {
    version: '3.x (pki-siem-export test stand-in)',
    hostVersion: '4.x (pki-siem-export test stand-in)',
    registerFunction,
    registerHook,
    setProgrammingModel: (model: ProgrammingModel) => {
      hostState.programmingModel = model;
    },
    getProgrammingModel: () => hostState.programmingModel,
    log: (level: RpcLogLevel, category: RpcLogCategory, message: string) =>
      recordLog({ level, category, message }),
    Disposable,
  };
  globals[STATE_KEY] = hostState;

  // Module._load is what every CommonJS require goes through, including the one inside the library's
  // webpack bundle, which is why vi.mock cannot stand in for this module.
  const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const originalLoad = loader._load;
  loader._load = function loadWithFunctionsCore(this: unknown, request: string, ...rest: unknown[]) {
    if (request === '@azure/functions-core') return hostState.coreApi;
    return originalLoad.call(this, request, ...rest);
  };
}

function registerFunction(metadata: CoreFunctionMetadata, callback: FunctionCallback): Disposable {
  const hostState = state();
  if (hostState.started) {
    throw new FunctionsHostError('A function can only be registered during app startup.');
  }
  const functionId = metadata.functionId || metadata.name;
  if (hostState.functions.has(functionId)) {
    throw new FunctionsHostError(`A function with id "${functionId}" has already been registered.`);
  }
  if (!VALID_FUNCTION_NAME.test(metadata.name) || metadata.name.toLowerCase() === 'host') {
    throw new FunctionsHostError(
      `The Functions host would refuse the function name "${metadata.name}": use letters, digits, "_" and "-", ` +
        'starting with a letter, at most 128 characters, and not "host".',
    );
  }
  const entryPoint = hostState.currentEntryPoint;
  hostState.functions.set(functionId, {
    name: metadata.name,
    functionId,
    bindings: metadata.bindings,
    retryOptions: metadata.retryOptions,
    rawBindings: Object.entries(metadata.bindings).map(([name, binding]) =>
      JSON.stringify({ ...binding, name }),
    ),
    scriptFile: entryPoint ? path.basename(entryPoint) : 'unknown',
    directory: entryPoint ? path.dirname(entryPoint) : undefined,
    callback,
  });
  return new Disposable(() => {
    if (hostState.started) {
      throw new FunctionsHostError('A function can only be disposed during app startup.');
    }
    hostState.functions.delete(functionId);
  });
}

function registerHook(hookName: string, callback: HookCallback): Disposable {
  const hooks = state().hooks.get(hookName as HookName);
  if (!hooks) {
    const error = new RangeError(`Unrecognized hook "${hookName}"`);
    Object.assign(error, { isAzureFunctionsSystemError: true });
    throw error;
  }
  hooks.push(callback);
  return new Disposable(() => {
    const index = hooks.indexOf(callback);
    if (index >= 0) hooks.splice(index, 1);
  });
}

/** Runs the hooks registered under a name, in order, awaiting each, as the worker does. */
export async function executeHooks(hookName: HookName, context: Record<string, unknown>): Promise<void> {
  for (const hook of [...state().hooks.get(hookName)!]) {
    await hook(context);
  }
}

export interface InvocationLogScope {
  functionName: string;
  invocationId: string;
  hookData: Record<string, unknown>;
  invocationContext?: unknown;
  lines: CapturedLog[];
}

/**
 * Records a log line: through the app's log hooks (which may rewrite user lines, as in the worker), into
 * the invocation's lines or the host-wide list, and to the listener.
 */
export function recordLog(log: CapturedLog, scope?: InvocationLogScope): void {
  const hostState = state();
  const line: CapturedLog = scope
    ? { ...log, functionName: scope.functionName, invocationId: scope.invocationId }
    : log;
  if (line.category === 'user' || line.category === 'system') {
    const hookContext = logHookContext(line, scope);
    for (const hook of hostState.hooks.get('log')!) {
      try {
        hook(hookContext);
      } catch (error) {
        pushLog({ level: 'error', category: 'system', message: `Log hook failed: ${String(error)}` }, scope);
      }
    }
    if (line.category === 'user') {
      line.level = hookContext.level as RpcLogLevel;
      line.message = hookContext.message as string;
    }
  }
  pushLog(line, scope);
}

function pushLog(line: CapturedLog, scope: InvocationLogScope | undefined): void {
  const hostState = state();
  (scope ? scope.lines : hostState.hostLogs).push(line);
  hostState.logListener?.(line);
}

function logHookContext(line: CapturedLog, scope: InvocationLogScope | undefined): Record<string, unknown> {
  const hostState = state();
  const hookData = scope?.hookData ?? {};
  return readOnly(
    { level: line.level, message: line.message },
    {
      hookData: () => hookData,
      appHookData: () => hostState.appHookData,
      invocationContext: () => scope?.invocationContext,
      category: () => line.category,
    },
  );
}

/** An object whose listed properties are read-only getters (assigning throws), like the worker's hook contexts. */
export function readOnly<T extends Record<string, unknown>>(
  writable: T,
  getters: Record<string, () => unknown>,
): T & Record<string, unknown> {
  for (const [key, get] of Object.entries(getters)) {
    Object.defineProperty(writable, key, {
      enumerable: true,
      get,
      set: () => {
        throw new ReadOnlyError(key);
      },
    });
  }
  return writable;
}

export function appHookData(): Record<string, unknown> {
  return state().appHookData;
}

export function registeredFunctions(): RegisteredFunctionEntry[] {
  return [...state().functions.values()];
}

export function programmingModel(): ProgrammingModel {
  const model = state().programmingModel;
  if (!model) {
    throw new FunctionsHostError(
      'No programming model was set: no function file using @azure/functions has registered anything yet.',
    );
  }
  return model;
}

/**
 * Loads entry-point files in order, as the worker loads the files matched by package.json `main`, then
 * finishes startup (see {@link ensureAppStarted}).
 */
export async function startFunctionApp(options: {
  entryPoints: readonly string[];
  functionAppDirectory?: string;
}): Promise<WorkerCapabilities> {
  const hostState = state();
  if (hostState.started) {
    throw new FunctionsHostError('The function app has already started; entry points load only once.');
  }
  for (const entryPoint of options.entryPoints) {
    const absolute = path.resolve(options.functionAppDirectory ?? process.cwd(), entryPoint);
    hostState.currentEntryPoint = absolute;
    try {
      await import(pathToFileURL(absolute).href);
    } catch (error) {
      throw new FunctionsHostError(
        `Worker was unable to load entry point "${entryPoint}": ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    } finally {
      hostState.currentEntryPoint = undefined;
    }
  }
  return ensureAppStarted(options.functionAppDirectory);
}

/**
 * Completes worker startup once: asks the programming model for its capabilities (which also locks the
 * library's `app.setup`), runs appStart hooks, and closes registration. Invocations call this first, so
 * tests that simply import function files get the same startup as the worker gives a loaded app.
 */
export function ensureAppStarted(functionAppDirectory = process.cwd()): Promise<WorkerCapabilities> {
  const hostState = state();
  hostState.started ??= (async () => {
    const model = hostState.programmingModel;
    const defaults = { ...NODE_WORKER_DEFAULT_CAPABILITIES };
    const capabilities = model?.getCapabilities ? await model.getCapabilities(defaults) : defaults;
    if (capabilities.HttpUri) {
      throw new FunctionsHostError(
        'The app enabled HTTP streaming (app.setup({ enableHttpStream: true })), which this host stand-in does not implement.',
      );
    }
    await executeHooks(
      'appStart',
      readOnly(
        { functionAppDirectory },
        {
          hookData: () => hostState.appLevelOnlyHookData,
          appHookData: () => hostState.appHookData,
        },
      ),
    );
    return Object.freeze({ ...capabilities });
  })();
  return hostState.started;
}

/** Lines the library, worker or host wrote outside any invocation (e.g. at registration or setup). */
export function getHostLogs(): readonly CapturedLog[] {
  return state().hostLogs;
}

/** Streams every captured line (host-wide and per invocation) to a listener, e.g. a sandbox console. */
export function setLogListener(listener: ((log: CapturedLog) => void) | undefined): void {
  state().logListener = listener;
}
