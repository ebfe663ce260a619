/**
 * The Azure Functions host side, for tests and the sandbox (the real host and Core Tools cannot run
 * here). Plain TypeScript with no vitest imports, so a `tsx` process can use it too.
 *
 * How it works: the Node.js worker provides the module `@azure/functions-core` to the app at run time;
 * `installFunctionsCore()` provides it the same way (a Module._load hook), so when a function file calls
 * `app.http(...)` / `app.serviceBusQueue(...)` / `app.generic(...)`, the @azure/functions library
 * registers the function and its programming model with us. Invocations then go through the library's
 * own invocation model exactly as the worker drives it (getInvocationModel → getArguments → pre hooks →
 * handler → post hooks → getResponse), fed with the RPC data the host would send, including the host's
 * conversions (feasibility.md, "How the real host and Node worker deliver invocations").
 *
 * Usage
 *   - Vitest: every test worker already has the core installed (setupFiles). Import the function files
 *     (or `await startFunctionApp({ entryPoints })`), then invoke. Import `src/index.ts` first if the test
 *     depends on app-wide setup: startup ends at the first invocation, after which `app.setup` throws and
 *     new registrations are refused, as in the worker.
 *   - Sandbox (tsx): call `installFunctionsCore()` before anything imports @azure/functions, then
 *     `startFunctionApp({ entryPoints: [...] })`, then route requests and messages with
 *     `findHttpFunction` / `invokeHttp` and `findServiceBusFunction` / `invokeServiceBusBatch`.
 *
 * API
 *   installFunctionsCore(): void                         provide @azure/functions-core (idempotent)
 *   startFunctionApp({ entryPoints, functionAppDirectory? }): Promise<WorkerCapabilities>
 *                                                        load entry points in order, then finish startup
 *   getWorkerCapabilities(): Promise<WorkerCapabilities> finish startup if needed; the capabilities the
 *                                                        worker declares (defaults + app.setup ones)
 *   listFunctions(): RegisteredFunctionInfo[]            name, trigger type, route, methods, queue, …
 *   getFunction(name): RegisteredFunctionInfo            throws naming the registered functions
 *   findHttpFunction(method, path): HttpRouteMatch | undefined
 *                                                        route like the host (prefix from host.json)
 *   findServiceBusFunction(queueName): RegisteredFunctionInfo | undefined
 *                                                        `%SETTING%` queue names resolved from process.env
 *   invokeHttp({ method, path, headers?, query?, body? | json? }): Promise<HttpInvocationResult>
 *                                                        404 when no route matches, 500 when the handler
 *                                                        throws; status, headers, body, text(), json(), logs
 *   invokeServiceBusBatch(functionName, messages, { invocationId? }?): Promise<ServiceBusInvocationResult>
 *   invokeServiceBusMessage(functionName, message, { invocationId? }?): Promise<ServiceBusInvocationResult>
 *                                                        { outcome: 'completed' } or { outcome: 'failed',
 *                                                        failedIn: 'host' | 'function', error }, plus logs
 *   HostConversionError                                  error of a batch the host could not convert
 *   getHostLogs(): readonly CapturedLog[]                lines logged outside invocations
 *   setLogListener(listener | undefined): void           stream every captured line (e.g. to a console)
 *
 * Logs: every `context.log/info/warn/error/…` line is captured with its level (`category: 'user'`), with
 * the library's and worker's lines (`system`) and the host's Executing/Executed lines (`host`; a failure's
 * message and stack are logged as the host logs them). `console.*` output is not captured.
 *
 * Not modelled: HTTP streaming, auth levels/function keys (Core Tools does not enforce them locally),
 * Service Bus settlement and sessions (the caller completes or abandons from the outcome), the
 * MessageActions/Client binding data, DateTimeOffset metadata (`enqueuedTimeArray`, `expiresAtArray`).
 */
export {
  installFunctionsCore,
  startFunctionApp,
  getHostLogs,
  setLogListener,
  FunctionsHostError,
} from './coreApi';
export type { CapturedLog } from './coreApi';
export type { WorkerCapabilities } from './coreTypes';
export { listFunctions, getFunction, findHttpFunction, findServiceBusFunction } from './registry';
export type { RegisteredFunctionInfo, HttpRouteMatch } from './registry';
export { invokeHttp } from './http';
export type { HttpInvocationRequest, HttpInvocationResult } from './http';
export { invokeServiceBusBatch, invokeServiceBusMessage, HostConversionError } from './serviceBus';
export type {
  ServiceBusTestMessage,
  ServiceBusInvokeOptions,
  ServiceBusInvocationResult,
} from './serviceBus';

import { ensureAppStarted } from './coreApi';
import type { WorkerCapabilities } from './coreTypes';

/** The capabilities the worker declares to the host: its defaults plus what the app set with app.setup. */
export function getWorkerCapabilities(): Promise<WorkerCapabilities> {
  return ensureAppStarted();
}
