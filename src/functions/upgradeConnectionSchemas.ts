import { app } from '@azure/functions';
import { contextLogger } from '../contextLogger';
import { schemaUpgrades } from '../composition';

/**
 * Every hour, brings saved connections provisioned before a schema change
 * (a new column or stream) up to date in the customer's workspace: tables and
 * data collection rule, with the customer's credential. Until then their rows
 * leave out the new columns, so nothing is sent that the DCR would drop.
 */
app.timer('upgradeConnectionSchemas', {
  schedule: '0 17 * * * *',
  handler: async (_timer, context) => {
    const useCases = await schemaUpgrades(contextLogger(context));
    await useCases.upgradeConnections();
  },
});
