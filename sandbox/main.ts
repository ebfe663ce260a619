import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError } from '../src/config';
import { prepareTestTrust } from '../test/support/testCa';
import { SandboxError } from './errors';
import { runDemo } from './demo';
import { startSandbox, type RunningSandbox } from './sandbox';
import { parseServiceBusRoles, type ServiceBusDataRole } from './serviceBusIdentity';

/**
 * `npm run sandbox [-- --port N] [-- --demo]`: the whole pipeline on this machine, loopback only.
 *
 * Node reads NODE_EXTRA_CA_CERTS only when a process starts, and the app's Azure SDKs must trust the
 * stand-ins' test CA. So this process prepares the CA and, unless it was started already trusting it
 * (as when a test worker spawns it), runs itself again as a child with the variable set, relaying
 * signals to it and exiting with its exit code. The child does the work.
 */

const caBundleAtStart = process.env.NODE_EXTRA_CA_CERTS;

const USAGE = `Usage: npm run sandbox -- [options]

Starts Azurite, the Azure stand-in (Entra ID, ARM, Logs Ingestion) with a demo tenant, the
Service Bus stand-in with the audit queue, and the app's functions, all on 127.0.0.1. When ready,
prints one JSON line on stdout (apiBaseUrl, panelUrl, bearerToken, tenantId, workspaceResourceId,
location, serviceBusConnectionString, queueName, rowsUrl, verifyCommand, tenantsUrl, …); progress
goes to stderr. Open panelUrl in a browser for the how-to's settings panel, signed in as the demo
tenant. Ctrl-C (SIGINT) or SIGTERM stops everything.

Options:
  --port N               API port (default: a free port)
  --demo                 walk the how-to's flow (Create Connection, Save changes, one event of every
                         catalog ID), print the landed rows and the alerts they raise, run verify
                         (timers every 2 s unless --timer-every), then exit
  --timer-every SECONDS  fire timer functions this often instead of on their schedules
  --location REGION      region of the demo workspace (default westeurope)
  --instances N          run N forwarder hosts on the audit queue, N-1 of them as separate processes
                         (competing consumers, each with its own caches; default 1)
  --setting NAME=VALUE   override an app setting (repeatable), e.g. --setting RETRY_BASE_DELAY_SECONDS=5
  --service-bus-identity run Service Bus as production does: local (SAS) auth disabled, the app and its
                         trigger use Entra tokens of a managed identity (ServiceBusConnection__*)
  --service-bus-roles LIST  with --service-bus-identity: the data roles that identity gets on the queue,
                         comma-separated from sender, receiver (default both; "none" for neither)
  --help                 show this text
`;

interface CliOptions {
  port?: number;
  demo: boolean;
  timerEveryMs?: number;
  location?: string;
  instances?: number;
  settings: Record<string, string>;
  serviceBusIdentity?: { roles?: ServiceBusDataRole[] };
  help: boolean;
}

class UsageError extends Error {}

function parseCli(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        demo: { type: 'boolean', default: false },
        'timer-every': { type: 'string' },
        location: { type: 'string' },
        instances: { type: 'string' },
        setting: { type: 'string', multiple: true },
        'service-bus-identity': { type: 'boolean', default: false },
        'service-bus-roles': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  const options: CliOptions = { demo: values.demo, help: values.help, settings: {} };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UsageError(`--port must be a port number (0-65535), got "${values.port}".`);
    }
    options.port = port;
  }
  if (values['timer-every'] !== undefined) {
    const seconds = Number(values['timer-every']);
    if (!(seconds > 0)) throw new UsageError(`--timer-every must be a positive number of seconds.`);
    options.timerEveryMs = seconds * 1000;
  }
  if (values.location !== undefined) options.location = values.location;
  if (values.instances !== undefined) {
    const instances = Number(values.instances);
    if (!Number.isInteger(instances) || instances < 1 || instances > 16) {
      throw new UsageError(`--instances must be a whole number from 1 to 16, got "${values.instances}".`);
    }
    options.instances = instances;
  }
  for (const setting of values.setting ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(setting);
    if (!match) throw new UsageError(`--setting must look like NAME=VALUE, got "${setting}".`);
    options.settings[match[1]!] = match[2]!;
  }
  if (values['service-bus-roles'] !== undefined && !values['service-bus-identity']) {
    throw new UsageError('--service-bus-roles needs --service-bus-identity.');
  }
  if (values['service-bus-identity']) {
    try {
      options.serviceBusIdentity =
        values['service-bus-roles'] === undefined
          ? {}
          : { roles: parseServiceBusRoles(values['service-bus-roles']) };
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
  }
  return options;
}

const progress = (line: string) => process.stderr.write(`[sandbox] ${line}\n`);

/** Runs this script again with the trust in place; the child's exit code becomes ours. */
function runTrustedChild(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: process.env,
  });
  const relay = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => relay(signal));
  // Started with an IPC channel (by a test) and that parent went away: stop too.
  process.on('disconnect', () => relay('SIGTERM'));
  return new Promise((resolve) => {
    child.once('error', (error) => {
      progress(`could not start the sandbox process: ${error.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

async function runSandboxHere(options: CliOptions): Promise<number> {
  // Set once startup returns; the signal handlers below see it through this holder.
  const running: { sandbox?: RunningSandbox } = {};
  let stopRequested: string | undefined;
  let stopping: Promise<number> | undefined;

  const stop = (reason: string, code: number): Promise<number> => {
    const sandbox = running.sandbox;
    if (!sandbox) return Promise.resolve(code);
    stopping ??= (async () => {
      progress(`stopping (${reason})…`);
      // A stop that hangs must not keep the ports open forever.
      setTimeout(() => {
        progress('did not stop within 20 s; exiting anyway');
        process.exit(1);
      }, 20_000).unref();
      await sandbox.stop();
      progress('stopped');
      return code;
    })();
    return stopping;
  };

  const exitAfterStop = (reason: string) => {
    if (!running.sandbox) {
      // Still starting: the startup below stops what it started as soon as it returns.
      stopRequested ??= reason;
      return;
    }
    void stop(reason, 0).then((code) => process.exit(code));
  };
  process.on('SIGINT', () => exitAfterStop('SIGINT'));
  process.on('SIGTERM', () => exitAfterStop('SIGTERM'));
  process.on('SIGHUP', () => exitAfterStop('SIGHUP'));
  // The launcher went away without a signal (killed): nobody would stop us otherwise.
  process.on('disconnect', () => exitAfterStop('launcher exited'));

  const sandbox = (running.sandbox = await startSandbox({
    ...(options.port !== undefined ? { port: options.port } : {}),
    // The demo ends with verify: timers every 2 s seal its one-minute health windows within seconds.
    ...(options.timerEveryMs !== undefined || options.demo
      ? { timerEveryMs: options.timerEveryMs ?? 2000 }
      : {}),
    ...(options.location !== undefined ? { location: options.location } : {}),
    ...(options.serviceBusIdentity ? { serviceBusIdentity: options.serviceBusIdentity } : {}),
    ...(options.instances !== undefined ? { instances: options.instances } : {}),
    settings: options.settings,
    log: progress,
  }));
  if (stopRequested) return stop(stopRequested, 0);

  process.stdout.write(`${JSON.stringify(sandbox.info)}\n`);
  progress(
    `ready: settings panel ${sandbox.info.panelUrl}, API ${sandbox.info.apiBaseUrl}, rows ${sandbox.info.rowsUrl}` +
      `, Service Bus ${sandbox.info.serviceBusAuth === 'identity' ? 'identity-based (Entra tokens, SAS refused)' : 'by connection string (SAS)'}`,
  );
  progress(`verify the demo workspace (from the repository root): ${sandbox.info.verifyCommand}`);

  if (options.demo) {
    let succeeded = false;
    try {
      succeeded = await runDemo(sandbox.info, {
        out: (line) => process.stdout.write(`${line}\n`),
        progress,
      });
    } catch (error) {
      progress(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return stop('demo finished', succeeded ? 0 : 1);
  }
  progress('press Ctrl-C to stop');
  // Keep running until a signal stops us (the handlers above exit the process).
  return new Promise<number>(() => undefined);
}

async function main(): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const trust = await prepareTestTrust();
  if (caBundleAtStart !== trust.bundlePath) return runTrustedChild();
  return runSandboxHere(options);
}

// Nobody reading our output any more is no reason to crash while stopping.
process.stdout.on('error', () => undefined);

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const explained = error instanceof SandboxError || error instanceof ConfigError;
    progress(
      `failed: ${error instanceof Error ? (explained ? error.message : (error.stack ?? error.message)) : String(error)}`,
    );
    process.exit(1);
  },
);
