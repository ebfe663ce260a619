import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, SETTINGS } from '../../src/config';
import { readTemplate } from '../support/armTemplate';

const SCRIPTS_DIR = 'infra/scripts';
const scripts = readdirSync(SCRIPTS_DIR)
  .filter((name) => name.endsWith('.sh'))
  .map((name) => join(SCRIPTS_DIR, name));

function which(command: string): string | undefined {
  const found = spawnSync('bash', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const shellcheck = which('shellcheck');
if (shellcheck === undefined) {
  console.warn(
    'shellcheck is not installed, so infra/scripts/*.sh were NOT linted; .ci/run installs it with apt-get (apt-get install -y shellcheck).',
  );
}

describe('infra/scripts', () => {
  it('has the registration scripts', () => {
    expect(scripts.map((path) => path.split('/').pop()).sort()).toEqual([
      'register-api-app.sh',
      'register-customer-app.sh',
    ]);
  });

  it.skipIf(shellcheck === undefined)('pass shellcheck, and so does .ci/run', () => {
    const result = spawnSync(shellcheck as string, ['--format=gcc', ...scripts, '.ci/run'], {
      encoding: 'utf8',
    });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(scripts)('%s stops at the first failing command and explains itself', (script) => {
    const text = readFileSync(script, 'utf8');
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);

    const help = spawnSync('bash', [script, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: /);

    const wrong = spawnSync('bash', [script, '--no-such-option'], { encoding: 'utf8' });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/^Usage: /);
    expect(wrong.stderr).toContain('unknown argument: --no-such-option');
    expect(wrong.stdout).toBe('');
  });
});

interface FakeApp {
  appId: string;
  displayName: string;
  signInAudience: string;
  identifierUris: string[];
  api: { requestedAccessTokenVersion: number | null };
  appRoles: Array<{ id: string; value: string; allowedMemberTypes: string[]; isEnabled: boolean }>;
  federatedIdentityCredentials: Array<{ name: string; issuer: string; subject: string; audiences: string[] }>;
}

interface FakeTenant {
  tenantId: string;
  subscriptionId: string;
  cloud: { name: string; endpoints: { activeDirectory: string } };
  identities: Record<string, { principalId: string; clientId: string }>;
  apps: FakeApp[];
}

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const PRINCIPAL = '5f6e3c1a-0d5c-4c59-9a55-1bbf2d27e0a4';

describe('registration scripts against a stand-in Azure CLI', () => {
  let workDir: string;
  let statePath: string;
  let logPath: string;

  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'fake-az-'));
    statePath = join(workDir, 'state.json');
    logPath = join(workDir, 'calls.jsonl');
    const az = join(workDir, 'az');
    writeFileSync(az, `#!/bin/sh\nexec "${process.execPath}" "${resolve('test/support/fakeAz.cjs')}" "$@"\n`);
    chmodSync(az, 0o755);
    writeTenant({
      tenantId: TENANT,
      subscriptionId: '00000000-0000-0000-0000-000000000001',
      cloud: { name: 'AzureCloud', endpoints: { activeDirectory: 'https://login.microsoftonline.com' } },
      identities: {
        'rg-siem/id-pki': { principalId: PRINCIPAL, clientId: '0b7c1f0e-2f3a-4f43-8a77-6f7b2b1d9c11' },
      },
      apps: [],
    });
    writeFileSync(logPath, '');
  });

  afterEach(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  function writeTenant(tenant: FakeTenant): void {
    writeFileSync(statePath, JSON.stringify(tenant));
  }

  function tenant(): FakeTenant {
    return JSON.parse(readFileSync(statePath, 'utf8')) as FakeTenant;
  }

  function azCalls(): string[][] {
    return readFileSync(logPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as string[]);
  }

  function run(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
    writeFileSync(logPath, '');
    const result = spawnSync('bash', [join(SCRIPTS_DIR, script), ...args], {
      encoding: 'utf8',
      env: { PATH: `${workDir}:${process.env.PATH ?? ''}`, FAKE_AZ_STATE: statePath, FAKE_AZ_LOG: logPath },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  const customerArgs = ['--resource-group', 'rg-siem', '--identity-name', 'id-pki'];
  const creates = (calls: string[][]): string[][] => calls.filter((call) => call.includes('create'));

  it('registers a multi-tenant app whose only credential is the managed identity, and prints its app id', () => {
    const result = run('register-customer-app.sh', customerArgs);
    expect(result.stderr).not.toContain('ERROR');
    expect(result.status).toBe(0);

    const [app, ...others] = tenant().apps;
    expect(others).toEqual([]);
    expect(result.stdout).toBe(`CUSTOMER_APP_CLIENT_ID=${app?.appId}\n`);
    expect(app?.signInAudience).toBe('AzureADMultipleOrgs');
    expect(app?.federatedIdentityCredentials).toMatchObject([
      {
        issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
        subject: PRINCIPAL,
        audiences: [SETTINGS.FEDERATED_TOKEN_AUDIENCE.schema.parse(undefined)],
      },
    ]);
    expect(() =>
      loadConfig({
        ...Object.fromEntries(
          result.stdout
            .trim()
            .split('\n')
            .map((line) => line.split('=') as [string, string]),
        ),
        ServiceBusConnection__fullyQualifiedNamespace: 'sb.servicebus.windows.net',
        TABLE_STORAGE_ENDPOINT: 'https://st.table.core.windows.net',
        MANAGED_IDENTITY_CLIENT_ID: '0b7c1f0e-2f3a-4f43-8a77-6f7b2b1d9c11',
        API_AUDIENCE: 'x',
        API_ISSUERS: 'https://login.microsoftonline.com/{tenantid}/v2.0',
        API_OPERATOR_TENANT_ID: TENANT,
      }),
    ).not.toThrow();
  });

  it('changes nothing and prints the same app id when run again', () => {
    const first = run('register-customer-app.sh', customerArgs);
    const before = tenant();
    const second = run('register-customer-app.sh', customerArgs);
    expect(second.status).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(creates(azCalls())).toEqual([]);
    expect(tenant()).toEqual(before);
  });

  it('points the existing credential at a re-created identity instead of adding a second one', () => {
    run('register-customer-app.sh', customerArgs);
    const recreated = tenant();
    const newPrincipal = '9d1c5e2b-7a41-4c0e-8f0e-3c2b1a0f9e88';
    recreated.identities['rg-siem/id-pki'] = {
      principalId: newPrincipal,
      clientId: 'c1c1c1c1-0000-4000-8000-000000000000',
    };
    writeTenant(recreated);

    expect(run('register-customer-app.sh', customerArgs).status).toBe(0);
    expect(tenant().apps[0]?.federatedIdentityCredentials.map((credential) => credential.subject)).toEqual([
      newPrincipal,
    ]);
  });

  it('uses the sovereign cloud authority and token-exchange audience', () => {
    writeTenant({
      ...tenant(),
      cloud: {
        name: 'AzureUSGovernment',
        endpoints: { activeDirectory: 'https://login.microsoftonline.us/' },
      },
    });
    expect(run('register-customer-app.sh', customerArgs).status).toBe(0);
    expect(tenant().apps[0]?.federatedIdentityCredentials[0]).toMatchObject({
      issuer: `https://login.microsoftonline.us/${TENANT}/v2.0`,
      audiences: ['api://AzureADTokenExchangeUSGov'],
    });
  });

  it('finds an app only by its exact display name and refuses to guess between namesakes', () => {
    run('register-customer-app.sh', [...customerArgs, '--display-name', 'PKI SIEM Export (staging)']);
    const result = run('register-customer-app.sh', customerArgs);
    expect(result.status).toBe(0);
    expect(
      tenant()
        .apps.map((app) => app.displayName)
        .sort(),
    ).toEqual(['PKI SIEM Export', 'PKI SIEM Export (staging)']);

    const twin = { ...(tenant().apps[1] as FakeApp), appId: 'd0d0d0d0-0000-4000-8000-000000000000' };
    writeTenant({ ...tenant(), apps: [...tenant().apps, { ...twin, displayName: 'PKI SIEM Export' }] });
    const ambiguous = run('register-customer-app.sh', customerArgs);
    expect(ambiguous.status).toBe(1);
    expect(ambiguous.stderr).toContain(
      "several app registrations are named 'PKI SIEM Export'; pass --app-id",
    );
  });

  it('fails with the CLI error when the identity does not exist', () => {
    const result = run('register-customer-app.sh', [
      '--resource-group',
      'rg-siem',
      '--identity-name',
      'nope',
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('ResourceNotFound');
    expect(result.stdout).toBe('');
  });

  it('registers the API app with the roles, audience, issuers and operator tenant the app settings expect, idempotently', () => {
    const portal = 'A1B2C3D4-0000-4000-8000-00000000000A';
    const first = run('register-api-app.sh', ['--portal-client-id', portal]);
    expect(first.stderr).not.toContain('ERROR');
    expect(first.status).toBe(0);
    const [api] = tenant().apps;
    const printed = Object.fromEntries(
      first.stdout
        .trim()
        .split('\n')
        .map((line) => line.split('=') as [string, string]),
    );
    expect(printed).toEqual({
      API_AUDIENCE: api?.appId,
      API_ISSUERS: readTemplate().parameters.apiIssuers?.defaultValue,
      // The tenant az is signed in to: where the API app and the portal backend live.
      API_OPERATOR_TENANT_ID: TENANT,
      API_OPERATOR_CLIENT_IDS: portal.toLowerCase(),
    });
    // What it printed is what the app's configuration accepts.
    expect(SETTINGS.API_OPERATOR_TENANT_ID.schema.parse(printed.API_OPERATOR_TENANT_ID)).toBe(TENANT);
    expect(SETTINGS.API_OPERATOR_CLIENT_IDS.schema.parse(printed.API_OPERATOR_CLIENT_IDS)).toEqual([
      portal.toLowerCase(),
    ]);
    expect(api).toMatchObject({
      signInAudience: 'AzureADMultipleOrgs',
      identifierUris: [`api://${api?.appId}`],
      api: { requestedAccessTokenVersion: 2 },
    });
    const roles = new Map(api?.appRoles.map((role) => [role.value, role]));
    expect([...roles.keys()].sort()).toEqual(
      [
        SETTINGS.API_REQUIRED_ROLE.schema.parse(undefined),
        SETTINGS.API_ALL_TENANTS_ROLE.schema.parse(undefined),
      ].sort(),
    );
    expect(roles.get(SETTINGS.API_ALL_TENANTS_ROLE.schema.parse(undefined))?.allowedMemberTypes).toEqual([
      'Application',
    ]);

    // The stand-in refuses to replace an enabled role, as Entra does: a rerun must keep the role ids.
    const second = run('register-api-app.sh', ['--portal-client-id', portal]);
    expect(second.stderr).not.toContain('ERROR');
    expect(second.status).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(tenant().apps).toEqual([api]);
    expect(creates(azCalls())).toEqual([]);
  });

  it('refuses a portal client id that is not a GUID, before touching the tenant', () => {
    const result = run('register-api-app.sh', ['--portal-client-id', 'portal']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('--portal-client-id must be');
    expect(azCalls()).toEqual([]);
  });
});
