import { app } from '@azure/functions';
import { contextLogger } from '../contextLogger';
import { heartbeat } from '../exportHealthComposition';

/**
 * Seals closed export health windows (HEARTBEAT_INTERVAL_MINUTES long) into
 * signed, chained rows in each exporting tenant's EZCA_ExportHealth_CL, and
 * retries rows whose upload failed. It runs every five minutes so a window's
 * rows arrive a few minutes after it closes whatever its length; a tick with
 * no closed window writes nothing. A signing-key problem stops heartbeats
 * (logged every tick), never event delivery. The tick in the first minutes
 * of each hour also expires delivery records of windows never sealed.
 */
app.timer('exportHeartbeat', {
  schedule: '30 */5 * * * *',
  handler: async (_timer, context) => {
    const logger = contextLogger(context);
    const run = await (await heartbeat(logger)).run();
    const failed = run.tenants.filter((tenant) => tenant.outcome !== 'ok');
    logger.info('Export heartbeat done', {
      signing: run.signing,
      tenants: run.tenants.length,
      sealedRows: run.tenants.reduce((sum, tenant) => sum + tenant.sealedRows, 0),
      failedTenants: failed.map((tenant) => tenant.tenantId).slice(0, 20),
      // Planted pending rows set aside (each also logged as an error naming its tenant and row).
      quarantinedRows: run.tenants.reduce((sum, tenant) => sum + (tenant.quarantinedRows ?? 0), 0),
      ...(run.expired ? { tenantsWithExpiredRecords: run.expired.length } : {}),
    });
  },
});
