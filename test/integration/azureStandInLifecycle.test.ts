import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { AzureStandInAdmin, startAzureStandIn, type AzureStandIn } from '../support/azureStandIn';
import { assertLoopback } from '../support/loopback';
import { prepareTestTrust, readTestTrust } from '../support/testCa';
import { CA_TABLE } from '../../src/domain/tableSchema';
import { arm, pollOperation, seedCustomer, tableBody, tableUrl, type Customer } from './azureStandInHelpers';

const run = promisify(execFile);
const started: AzureStandIn[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((standIn) => standIn.stop()));
});

async function dedicated(): Promise<AzureStandIn> {
  const standIn = await startAzureStandIn();
  started.push(standIn);
  return standIn;
}

describe('test CA', () => {
  it('is trusted by this worker through NODE_EXTRA_CA_CERTS, which keeps the bundle the machine had', () => {
    const trust = readTestTrust();
    expect(process.env.NODE_EXTRA_CA_CERTS).toBe(trust.bundlePath);
    const bundle = readFileSync(trust.bundlePath, 'utf8');
    expect(bundle.endsWith(trust.caCertPem)).toBe(true);
    const original = process.env.PKI_TEST_ORIGINAL_NODE_EXTRA_CA_CERTS;
    if (original) expect(bundle.startsWith(readFileSync(original, 'utf8').trimEnd())).toBe(true);
  });

  it('is reused, not regenerated, when prepared again, and lets a spawned process reach the stand-in', async () => {
    const trust = await prepareTestTrust();
    expect(trust.dir).toBe(readTestTrust().dir);
    const url = `${inject('azureStandInUrl')}/common/discovery/v2.0/keys`;
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        `fetch(${JSON.stringify(url)}).then(async (r) => console.log(r.status, (await r.json()).keys.length > 0))`,
      ],
      { env: { PATH: process.env.PATH ?? '', ...trust.env } },
    );
    expect(stdout.trim()).toBe('200 true');
  });

  it('is what an untrusting process refuses: the stand-in is not reachable without the test CA', async () => {
    const url = `${inject('azureStandInUrl')}/common/discovery/v2.0/keys`;
    const result = await run(
      process.execPath,
      [
        '-e',
        `fetch(${JSON.stringify(url)}).then(() => console.log('reached'), (e) => console.log(e.cause?.code ?? e.message))`,
      ],
      {
        env: { PATH: process.env.PATH ?? '' },
      },
    );
    expect(result.stdout.trim()).toMatch(
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/,
    );
  });
});

describe('stand-in lifecycle and admin API', () => {
  it('listens on loopback only and stops listening when stopped', async () => {
    const standIn = await dedicated();
    expect(() => assertLoopback(standIn.baseUrl)).not.toThrow();
    expect(new URL(standIn.baseUrl).hostname).toBe('127.0.0.1');
    expect((await fetch(`${standIn.baseUrl}/common/discovery/v2.0/keys`)).status).toBe(200);

    await standIn.stop();
    started.splice(started.indexOf(standIn), 1);
    await expect(fetch(`${standIn.baseUrl}/common/discovery/v2.0/keys`)).rejects.toThrow();
  });

  it('serves the same operations in-process and over HTTP, and reset forgets everything', async () => {
    const standIn = await dedicated();
    const admin = new AzureStandInAdmin(standIn.baseUrl);
    const seeded = await standIn.control.seedTenant();
    expect(await admin.listRoleAssignments({ tenantId: seeded.tenantId })).toEqual([]);
    const app = await admin.registerApp({ secret: true });
    await admin.consentApp({ tenantId: seeded.tenantId, clientId: app.clientId });
    await admin.grantRole({
      tenantId: seeded.tenantId,
      clientId: app.clientId,
      role: 'Reader',
      scope: seeded.resourceGroup.id,
    });
    expect(await standIn.control.listRoleAssignments({ tenantId: seeded.tenantId })).toHaveLength(1);

    await admin.reset();
    await expect(admin.consentApp({ tenantId: seeded.tenantId, clientId: app.clientId })).rejects.toThrow(
      /Unknown app/,
    );
  });

  it('answers malformed admin calls with a readable 400 and unknown ones with 404', async () => {
    const standIn = await dedicated();
    const admin = new AzureStandInAdmin(standIn.baseUrl);
    await expect(
      admin.grantRole({ tenantId: 't', role: 'Janitor' as 'Reader', scope: '/subscriptions/x' }),
    ).rejects.toThrow(/Invalid argument for grantRole.*role/s);
    const unknown = await fetch(`${standIn.baseUrl}/_admin/dropDatabase`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    const notModelled = await fetch(
      `${standIn.baseUrl}/subscriptions/x/providers/Microsoft.Compute/virtualMachines?api-version=1`,
    );
    expect(((await notModelled.json()) as { error: { code: string } }).error.code).toBe(
      'NotModelledByStandIn',
    );
  });

  it('applies stand-in-wide defaults to every tenant, and a tenant setting over them', async () => {
    const standIn = await dedicated();
    const admin = new AzureStandInAdmin(standIn.baseUrl);
    const info = await admin.info();
    await admin.configure({ tableOperationPolls: 2 });
    const usual = await seedCustomer(admin, info);
    const quick = await seedCustomer(admin, info);
    await admin.configure({ tenantId: quick.tenant.tenantId, tableOperationPolls: 0 });
    await expect(admin.configure({ tenantId: 'nobody', tableOperationPolls: 1 })).rejects.toThrow(
      /Unknown tenant/,
    );

    const statuses = async (customer: Customer) => {
      const put = await arm(
        customer.credential,
        'PUT',
        tableUrl(info, customer.workspaceId, CA_TABLE),
        tableBody(),
      );
      return pollOperation(customer.credential, put.headers['azure-asyncoperation']!);
    };
    expect(await statuses(usual)).toEqual(['InProgress', 'InProgress', 'Succeeded']);
    expect(await statuses(quick)).toEqual(['Succeeded']);
  });
});
