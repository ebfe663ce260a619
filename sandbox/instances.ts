import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { SandboxError } from './errors';

/**
 * `--instances N`: instance 1 is the app in the sandbox's own process (HTTP, timers, queue); this starts
 * instances 2..N as separate processes (sandbox/instanceHost.ts) that consume the same queue, each with
 * its own caches and clients, as Flex Consumption scales the forwarder out.
 */

export interface RunningInstances {
  /** Process ids of instances 2..N, in order. */
  pids: number[];
  stop(): Promise<void>;
}

export interface InstanceHostOptions {
  /** Total instances, the sandbox's own included (>= 2 to start any). */
  count: number;
  /** The app settings (and NODE_EXTRA_CA_CERTS) the hosts run with. */
  env: NodeJS.ProcessEnv;
  appDirectory: string;
  log: (line: string) => void;
  readyTimeoutMs?: number;
}

const STOP_GRACE_MS = 15_000;

export async function startInstanceHosts(options: InstanceHostOptions): Promise<RunningInstances> {
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.splice(0).map((child) => stopChild(child)));
  };
  try {
    await Promise.all(
      Array.from({ length: options.count - 1 }, (_unused, index) => {
        const child = startChild(index + 2, options);
        children.push(child);
        return ready(child, index + 2, options.readyTimeoutMs ?? 60_000);
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { pids: children.map((child) => child.pid!), stop };
}

function startChild(instance: number, options: InstanceHostOptions): ChildProcess {
  const child = spawn(
    process.execPath,
    [...process.execArgv, path.join(options.appDirectory, 'sandbox', 'instanceHost.ts')],
    {
      cwd: options.appDirectory,
      env: options.env,
      // IPC: the ready message, and the host stops by itself if this process goes away.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    },
  );
  createInterface({ input: child.stderr! }).on('line', (line) =>
    options.log(`instance ${instance}: ${line}`),
  );
  child.once('exit', (code, signal) => options.log(`instance ${instance}: exited (${code ?? signal})`));
  return child;
}

function ready(child: ChildProcess, instance: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SandboxError(`Forwarder instance ${instance} was not ready within ${timeoutMs} ms.`)),
      timeoutMs,
    );
    child.on('message', (message: unknown) => {
      if ((message as { ready?: unknown } | null)?.ready === true) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new SandboxError(`Forwarder instance ${instance} exited (${code ?? signal}) before it was ready.`),
      );
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new SandboxError(`Forwarder instance ${instance} could not start: ${error.message}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
