import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { EVENT_CATALOG } from '../../src/domain/catalog';
import { TenantApi, demoTenant, fetchRows } from '../support/sandboxClient';
import {
  isPortOpen,
  sandboxPorts,
  startSandboxProcess,
  type SandboxProcess,
} from '../support/sandboxProcess';
import { SEED_ALERTS } from '../support/seedAlerts';
import { runTsx, type ProcessOutcome } from './support/harness';

/**
 * `npm run sandbox` as a developer meets it: the JSON line, --port, the API answering like the real
 * host, Ctrl-C leaving nothing behind; and `--demo` walking the how-to's flow by itself.
 */

const started: SandboxProcess[] = [];

afterAll(async () => {
  for (const sandbox of started) await sandbox.stop('SIGKILL');
});

/** Runs the sandbox with these arguments until it exits by itself. */
function runToExit(args: string[]): Promise<ProcessOutcome> {
  return runTsx('sandbox/main.ts', args);
}

/** A port nothing listens on right now (the OS picked it, then we let it go). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('npm run sandbox', { timeout: 60_000 }, () => {
  it('announces itself in one JSON line, serves the API on --port, and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const sandbox = await startSandboxProcess({ args: ['--port', String(port)] });
    started.push(sandbox);
    const { info } = sandbox;

    expect(info.apiBaseUrl).toBe(`http://127.0.0.1:${port}/api`);
    expect(info.panelUrl).toBe(`http://127.0.0.1:${port}/`);
    const panel = await fetch(info.panelUrl);
    expect(panel.status).toBe(200);
    expect(await panel.text()).toContain('<label for="workspace-id">Workspace Resource ID</label>');
    expect(info).toMatchObject({
      tenantId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      workspaceResourceId: expect.stringMatching(
        /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.OperationalInsights\/workspaces\/[^/]+$/,
      ) as unknown,
      location: 'westeurope',
      queueName: 'audit-events',
      serviceBusConnectionString: expect.stringContaining('UseDevelopmentEmulator=true') as unknown,
      bearerToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) as unknown,
      verifyCommand: expect.stringContaining(
        `npx tsx src/cli/main.ts verify --workspace '${info.workspaceResourceId}'`,
      ) as unknown,
    });
    // The command names a certificate file, never a secret.
    expect(info.verifyCommand).toMatch(/AZURE_CLIENT_CERTIFICATE_PATH='[^']+\.pem'/);
    expect(info.verifyCommand).not.toMatch(/SECRET|PASSWORD/);
    for (const port of sandboxPorts(info)) expect(await isPortOpen(port)).toBe(true);

    // The rows URL lists the demo workspace, nothing received yet.
    const rows = await fetchRows(info);
    expect(rows.workspaces).toEqual([
      expect.objectContaining({
        workspaceResourceId: info.workspaceResourceId,
        tables: { EZCA_CAs_CL: [], EZCA_Certificates_CL: [], EZCA_ExportHealth_CL: [] },
      }),
    ]);

    // The app's routes, as the host routes them: authenticated, and 404 for what no function serves.
    const api = new TenantApi(info.apiBaseUrl, demoTenant(info));
    const settings = await api.settings();
    expect(settings.status).toBeLessThan(500);
    expect((await fetch(`${info.apiBaseUrl}/tenants/${info.tenantId}/siem`)).status).toBe(401);
    expect((await fetch(`${info.apiBaseUrl}/no/such/route`)).status).toBe(404);

    expect(await sandbox.stop('SIGINT')).toEqual({ code: 0, signal: null });
    for (const port of sandbox.ports()) expect(await isPortOpen(port)).toBe(false);
    expect(sandbox.stderr()).toContain('stopped');
  });

  it('refuses unknown options (exit 2, usage) and bad app settings (exit 1, naming the setting)', async () => {
    const unknownOption = await runToExit(['--prot', '80']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toMatch(/--prot/);
    expect(unknownOption.stderr).toContain('Usage: npm run sandbox');

    const badSetting = await runToExit(['--setting', 'RETRY_BASE_DELAY_SECONDS=soon']);
    expect(badSetting.code).toBe(1);
    expect(badSetting.stderr).toMatch(/Invalid app settings:\n\s+- RETRY_BASE_DELAY_SECONDS/);
    expect(badSetting.stdout).toBe('');
  });
});

// The demo waits for a one-minute health window to be sealed before it runs verify.
describe('npm run sandbox -- --demo', { timeout: 240_000 }, () => {
  it("walks the how-to's flow, prints every catalog event in its table and the alerts they raise, verifies, and exits 0", async () => {
    const sandbox = await startSandboxProcess({ args: ['--demo'] });
    started.push(sandbox);
    const exit = await sandbox.exited();
    const output = sandbox.stdoutLines().join('\n');
    expect(exit.code, `${output}\n${sandbox.stderr()}`).toBe(0);
    expect(output).toContain('All 11 catalog events landed in their tables.');
    const caSection = output.slice(output.indexOf('EZCA_CAs_CL ('), output.indexOf('EZCA_Certificates_CL ('));
    const certificateSection = output.slice(
      output.indexOf('EZCA_Certificates_CL ('),
      output.indexOf('Alert conditions'),
    );
    for (const entry of EVENT_CATALOG) {
      const section = entry.table === 'EZCA_CAs_CL' ? caSection : certificateSection;
      expect(section).toMatch(new RegExp(`EventID ${entry.eventId}\\s+${entry.criticality}\\s`));
    }
    for (const alert of SEED_ALERTS) expect(output).toContain(`ALERT  ${alert.title}`);
    // It ends with the ready line's verifyCommand, run as printed, and its verdict.
    expect(output).toContain('11 of 11 listed by signed health rows');
    expect(output).toMatch(/verdict: complete and intact \(\d+ windows, \d+ health rows\)\n\s+-> exit 0$/);
    for (const port of sandbox.ports()) expect(await isPortOpen(port)).toBe(false);
  });
});
