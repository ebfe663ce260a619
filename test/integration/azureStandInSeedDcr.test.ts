import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CA_TABLE, CERTIFICATE_TABLE, streamName, TABLE_NAMES } from '../../src/domain/tableSchema';
import { parseWorkspaceResourceId } from '../../src/domain/workspaceResourceId';
import { AzureStandInAdmin, type StandInInfo } from '../support/azureStandIn';
import { arm, createTable, dcrBody, dcrUrl, seedCustomer } from './azureStandInHelpers';

// seedDcr (the benchmark's worlds of thousands of tenants): the rule a validated PUT would leave,
// without a token or the ARM round trips.

const admin = new AzureStandInAdmin(inject('azureStandInUrl'));
let info: StandInInfo;

beforeAll(async () => {
  info = await admin.info();
});

describe('Azure stand-in admin: seedDcr', () => {
  it('validates like a PUT: refused while the output tables do not exist', async () => {
    const customer = await seedCustomer(admin, info);
    const workspace = parseWorkspaceResourceId(customer.workspaceId);
    await expect(
      admin.seedDcr({
        subscriptionId: workspace.subscriptionId,
        resourceGroup: workspace.resourceGroup,
        name: 'dcr-seeded',
        body: dcrBody(customer, [CA_TABLE]),
      }),
    ).rejects.toThrow(/InvalidOutputTable/);
  });

  it('leaves a rule ARM then serves as it would a PUT one', async () => {
    const customer = await seedCustomer(admin, info);
    for (const table of TABLE_NAMES) await createTable(info, customer, table);
    const workspace = parseWorkspaceResourceId(customer.workspaceId);
    const seeded = await admin.seedDcr({
      subscriptionId: workspace.subscriptionId,
      resourceGroup: workspace.resourceGroup,
      name: 'dcr-seeded',
      body: dcrBody(customer, [CA_TABLE, CERTIFICATE_TABLE]),
    });
    expect(seeded.streams).toEqual([streamName(CA_TABLE), streamName(CERTIFICATE_TABLE)]);
    const got = await arm(customer.credential, 'GET', dcrUrl(info, customer, 'dcr-seeded'));
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id: seeded.id,
      properties: {
        immutableId: seeded.immutableId,
        endpoints: { logsIngestion: seeded.logsIngestionEndpoint },
      },
    });
  });
});
