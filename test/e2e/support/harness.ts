import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll } from 'vitest';
import { AzureStandInAdmin } from '../../support/azureStandIn';
import {
  expectStoppedCleanly,
  sandboxForThisFile,
  type SandboxProcess,
  type StartSandboxProcessOptions,
} from '../../support/sandboxProcess';

export { eventually, isPortOpen, type SandboxProcess } from '../../support/sandboxProcess';

/**
 * What every end-to-end file sets up: one sandbox process (`npm run sandbox`) for the file, started
 * before its tests and checked to stop cleanly after them (readiness is the sandbox's JSON line, see
 * sandboxProcess.ts), an admin client of its Azure stand-in, and child processes run to their exit.
 */

export const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** The file's sandbox process, plus the admin client of its Azure stand-in. */
export interface E2eSandbox extends SandboxProcess {
  readonly azure: AzureStandInAdmin;
}

/**
 * One sandbox for this file (sandboxForThisFile). Everything on it reads the running process, so it
 * works in tests and in hooks declared after this call, not at import time.
 */
export function e2eSandbox(options: StartSandboxProcessOptions = {}): E2eSandbox {
  const current = sandboxForThisFile(options);
  let azure: AzureStandInAdmin | undefined;
  return {
    get info() {
      return current().info;
    },
    get pid() {
      return current().pid;
    },
    get azure() {
      azure ??= new AzureStandInAdmin(current().info.azureAdminUrl);
      return azure;
    },
    stderr: () => current().stderr(),
    stdoutLines: () => current().stdoutLines(),
    ports: () => current().ports(),
    exited: () => current().exited(),
    stop: (signal) => current().stop(signal),
  };
}

/**
 * Stops a sandbox a test started itself once the file's tests are done, and checks it exited
 * cleanly with every port it opened closed again (what sandboxForThisFile checks for its own).
 */
export function stopCleanlyAfterAll(started: () => SandboxProcess | undefined): void {
  afterAll(async () => {
    const sandbox = started();
    if (sandbox) await expectStoppedCleanly(sandbox);
  });
}

/**
 * The workspace refuses the tenant's next upload outright (400 InvalidRequest), so the forwarder
 * parks the record instead of retrying it. `stream` limits the refusal to one table's uploads, so
 * that a heartbeat's health-row upload does not take it.
 */
export function refuseNextUpload(azure: AzureStandInAdmin, tenantId: string, stream?: string) {
  return azure.injectFault({
    face: 'ingestion',
    operation: 'upload',
    tenantId,
    ...(stream === undefined ? {} : { stream }),
    status: 400,
    errorCode: 'InvalidRequest',
    message: 'The record does not match the stream declaration.',
    times: 1,
  });
}

export interface ProcessOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Run `command` through this shell (its arguments are then part of `command`). */
  shell?: string;
  /** 'exit' (default): the process ended; 'close': it ended and its output streams are drained. */
  until?: 'exit' | 'close';
}

/** Runs a command from the repository root until it ends by itself, collecting what it wrote. */
export async function runToExit(
  command: string,
  args: readonly string[],
  { env = process.env, shell, until = 'exit' }: RunOptions = {},
): Promise<ProcessOutcome> {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env,
    ...(shell === undefined ? {} : { shell }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const outcome: ProcessOutcome = { code: null, stdout: '', stderr: '', output: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    outcome.stdout += chunk;
    outcome.output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    outcome.stderr += chunk;
    outcome.output += chunk;
  });
  outcome.code = await new Promise<number | null>((resolve) =>
    until === 'close' ? child.once('close', resolve) : child.once('exit', resolve),
  );
  return outcome;
}

/** A TypeScript entry point of this repository (e.g. sandbox/main.ts, src/cli/main.ts) run with tsx. */
export function runTsx(
  script: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ProcessOutcome> {
  return runToExit(process.execPath, ['--import', 'tsx', script, ...args], options);
}
