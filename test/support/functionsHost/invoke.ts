import { randomBytes, randomUUID } from 'node:crypto';
import {
  appHookData,
  ensureAppStarted,
  executeHooks,
  programmingModel,
  readOnly,
  recordLog,
  type CapturedLog,
  type InvocationLogScope,
  type RegisteredFunctionEntry,
} from './coreApi';
import type {
  CoreInvocationContext,
  InvocationState,
  RpcInvocationRequest,
  RpcInvocationResponse,
} from './coreTypes';

export interface WorkerInvocationResult {
  invocationId: string;
  logs: CapturedLog[];
  /** The invocation response the worker would send, when the invocation succeeded. */
  response?: RpcInvocationResponse;
  /** Whatever the handler (or a hook, or the library's conversions) threw; the worker reports a failure. */
  error?: unknown;
}

export function newInvocationId(): string {
  return randomUUID();
}

/** The host generates a W3C trace context for every invocation and passes it to the worker. */
function traceContext(): RpcInvocationRequest['traceContext'] {
  return {
    traceParent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`,
    traceState: '',
    attributes: {},
  };
}

export function hostLog(scope: InvocationLogScope, level: CapturedLog['level'], message: string): void {
  recordLog({ level, category: 'host', message }, scope);
}

export function newLogScope(functionName: string, invocationId: string): InvocationLogScope {
  return { functionName, invocationId, hookData: {}, lines: [] };
}

/**
 * Runs one invocation the way the Node.js worker's InvocationHandler does: invocation model from the
 * programming model, getArguments (the library's conversions from RPC data), preInvocation hooks, the
 * handler, postInvocation hooks, then getResponse (conversions back to RPC data). The host's own
 * "Executing/Executed" lines are added around it, including a failure's message and stack as the host
 * logs them.
 */
export async function runWorkerInvocation(
  entry: RegisteredFunctionEntry,
  scope: InvocationLogScope,
  request: Pick<RpcInvocationRequest, 'inputData' | 'triggerMetadata' | 'retryContext'>,
  reason: string,
): Promise<WorkerInvocationResult> {
  await ensureAppStarted();
  const invocationId = scope.invocationId;
  hostLog(
    scope,
    'information',
    `Executing 'Functions.${entry.name}' (Reason='${reason}', Id=${invocationId})`,
  );
  const result: WorkerInvocationResult = { invocationId, logs: scope.lines };
  try {
    result.response = await workerInvoke(entry, scope, {
      ...request,
      invocationId,
      functionId: entry.functionId,
      traceContext: traceContext(),
    });
    hostLog(scope, 'information', `Executed 'Functions.${entry.name}' (Succeeded, Id=${invocationId})`);
  } catch (error) {
    result.error = error;
    const detail = error instanceof Error ? `${error.stack ?? error.message}` : String(error);
    hostLog(scope, 'error', `Executed 'Functions.${entry.name}' (Failed, Id=${invocationId})\n${detail}`);
  }
  return result;
}

async function workerInvoke(
  entry: RegisteredFunctionEntry,
  scope: InvocationLogScope,
  request: RpcInvocationRequest,
): Promise<RpcInvocationResponse> {
  const coreContext: CoreInvocationContext & { state?: InvocationState } = {
    invocationId: scope.invocationId,
    request,
    metadata: {
      name: entry.name,
      functionId: entry.functionId,
      bindings: entry.bindings,
      rawBindings: entry.rawBindings,
      scriptFile: entry.scriptFile,
      directory: entry.directory,
      retryOptions: entry.retryOptions,
    },
    log: (level, category, message) => recordLog({ level, category, message }, scope),
  };
  coreContext.log(
    'debug',
    'system',
    `Worker received FunctionInvocationRequest with invocationId ${scope.invocationId}`,
  );

  const invocationModel = await programmingModel().getInvocationModel(coreContext);
  const { context, inputs: initialInputs } = await invocationModel.getArguments();
  scope.invocationContext = context;

  const shared = {
    hookData: () => scope.hookData,
    appHookData,
    invocationContext: () => context,
  };
  const preInvocation = readOnly({ functionCallback: entry.callback, inputs: initialInputs }, shared);
  coreContext.state = 'preInvocationHooks';
  try {
    await executeHooks('preInvocation', preInvocation);
  } finally {
    coreContext.state = undefined;
  }

  const postInvocation = readOnly<{ inputs: unknown[]; result: unknown; error: unknown }>(
    { inputs: preInvocation.inputs, result: null, error: null },
    shared,
  );
  coreContext.state = 'invocation';
  try {
    postInvocation.result = await invocationModel.invokeFunction(
      context,
      preInvocation.inputs,
      preInvocation.functionCallback,
    );
  } catch (error) {
    postInvocation.error = error;
  } finally {
    coreContext.state = undefined;
  }

  coreContext.state = 'postInvocationHooks';
  try {
    await executeHooks('postInvocation', postInvocation);
  } finally {
    coreContext.state = undefined;
  }

  if (postInvocation.error !== null && postInvocation.error !== undefined) {
    // Handlers may throw anything; the worker passes it on as it is.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw postInvocation.error;
  }
  return invocationModel.getResponse(context, postInvocation.result);
}
