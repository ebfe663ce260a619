import { afterAll, beforeAll, expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { SandboxInfo } from '../../sandbox/sandbox';
import { assertLoopback } from './loopback';

/**
 * Runs `sandbox/main.ts` as a separate process, the way a developer runs `npm run sandbox`, for the
 * end-to-end tests: readiness is the JSON line it prints, nothing else (no sleeps).
 */

const repoRoot = path.resolve(import.meta.dirname, '../..');

export interface SandboxProcess {
  info: SandboxInfo;
  pid: number;
  /** Everything the sandbox wrote to stderr so far (its progress lines), for failure messages. */
  stderr(): string;
  /** Lines it wrote to stdout after the JSON line. */
  stdoutLines(): string[];
  /** Every loopback port the sandbox announced (API, rows, stand-ins). */
  ports(): number[];
  /** Resolves when the process exits by itself (e.g. after --demo). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends the signal (default SIGTERM) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartSandboxProcessOptions {
  /** Extra command-line arguments, e.g. ['--setting', 'RETRY_BASE_DELAY_SECONDS=1']. */
  args?: string[];
  /** Give up waiting for the JSON line after this long. */
  readyTimeoutMs?: number;
}

function portOf(url: string): number {
  const parsed = new URL(assertLoopback(url).replace(/^sb:/, 'http:'));
  return Number(parsed.port);
}

export function sandboxPorts(info: SandboxInfo): number[] {
  const endpoint = /Endpoint=([^;]+)/.exec(info.serviceBusConnectionString)?.[1] ?? '';
  const tls = info.serviceBusIdentity ? [`sb://${info.serviceBusIdentity.fullyQualifiedNamespace}`] : [];
  return [info.apiBaseUrl, info.rowsUrl, info.azureAdminUrl, info.serviceBusAdminUrl, endpoint, ...tls].map(
    portOf,
  );
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export async function startSandboxProcess(options: StartSandboxProcessOptions = {}): Promise<SandboxProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'sandbox/main.ts', ...(options.args ?? [])], {
    cwd: repoRoot,
    env: process.env,
    // The IPC channel is a lifeline: if this test process dies, the sandbox sees it close and stops.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const lines: string[] = [];
  const exited = waitForExit(child);

  const info = await new Promise<SandboxInfo>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `The sandbox printed no JSON line within ${options.readyTimeoutMs ?? 60_000} ms.\n${stderr}`,
        ),
      );
    }, options.readyTimeoutMs ?? 60_000);
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (ready) {
        lines.push(line);
        return;
      }
      ready = true;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as SandboxInfo);
      } catch {
        child.kill('SIGKILL');
        reject(new Error(`The sandbox's first stdout line is not JSON: ${line}\n${stderr}`));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`The sandbox exited (${code ?? signal}) before it was ready.\n${stderr}`));
    });
  });

  return {
    info,
    pid: child.pid!,
    stderr: () => stderr,
    stdoutLines: () => [...lines],
    ports: () => sandboxPorts(info),
    exited: () => exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `probe` until it returns something truthy, or fails naming what it waited for. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false | null>,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Stops the sandbox with SIGTERM and expects a clean exit with every port it opened closed again. */
export async function expectStoppedCleanly(sandbox: SandboxProcess): Promise<void> {
  expect(await sandbox.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  for (const port of sandbox.ports()) expect(await isPortOpen(port)).toBe(false);
}

/**
 * One sandbox process for a test file: started before its tests, stopped after them with
 * SIGTERM, and checked to have exited cleanly with every port it opened closed again.
 * Returns a getter, since the process exists only once `beforeAll` has run.
 */
export function sandboxForThisFile(options: StartSandboxProcessOptions = {}): () => SandboxProcess {
  let sandbox: SandboxProcess | undefined;
  beforeAll(async () => {
    sandbox = await startSandboxProcess(options);
  });
  afterAll(async () => {
    if (sandbox) await expectStoppedCleanly(sandbox);
  });
  return () => {
    if (!sandbox) throw new Error('The sandbox is started in beforeAll; use it inside tests.');
    return sandbox;
  };
}
