import { resetCompositionForTests } from '../src/composition';
import {
  installFunctionsCore,
  listFunctions,
  setLogListener,
  startFunctionApp,
} from '../test/support/functionsHost';
import { functionEntryPoints } from './entryPoints';
import { readHostJson, serviceBusHostOptions } from './hostJson';
import { errorText, formatLog, shouldShow } from './logLines';
import { ServiceBusListener } from './serviceBusListener';

/**
 * One more forwarder host for `npm run sandbox -- --instances N`: a separate process, started by
 * sandbox/instances.ts with the app settings in its environment, that loads the app's functions as the
 * worker does and runs their Service Bus listeners on the shared queue (competing consumers). It has its
 * own caches, credentials and clients, as another Flex Consumption instance would. HTTP routes and
 * timers stay with the first instance: the platform runs a timer function on one instance at a time.
 *
 * Protocol with the parent: progress lines on stderr; `{ ready: true }` over IPC once listening;
 * SIGTERM (or the parent going away) stops it, exit code 0 once everything is closed.
 */

const progress = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const stops: Array<() => Promise<void>> = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const close of stops.splice(0).reverse()) {
        try {
          await close();
        } catch (error) {
          progress(`could not stop cleanly: ${errorText(error)}`);
        }
      }
      resetCompositionForTests();
    })().then(() => process.exit(0)));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop());
  process.on('disconnect', () => void stop());

  installFunctionsCore();
  setLogListener((line) => {
    if (shouldShow(line)) progress(formatLog(line));
  });
  const appDirectory = process.cwd();
  await startFunctionApp({ entryPoints: functionEntryPoints(appDirectory) });
  const hostOptions = serviceBusHostOptions(readHostJson(appDirectory));
  const queueFunctions = listFunctions().filter((f) => f.triggerType.toLowerCase() === 'servicebustrigger');
  for (const fn of queueFunctions) {
    const listener = new ServiceBusListener({
      function: fn,
      hostOptions,
      onDispatch: (report) =>
        progress(
          `${report.functionName}: ${report.messageIds.length} message(s) ${report.outcome}` +
            (report.result.outcome === 'failed' ? ` (${errorText(report.result.error)})` : ''),
        ),
      onError: (error) => progress(`${fn.name}: receive error: ${errorText(error)}`),
    });
    listener.start();
    stops.push(() => listener.stop());
  }
  progress(`listening: ${queueFunctions.map((f) => f.name).join(', ') || 'no queue function'}`);
  process.send?.({ ready: true });
}

main().catch((error: unknown) => {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
