import { app } from '@azure/functions';
import { connectionUseCases } from '../composition';
import { contextLogger } from '../contextLogger';
import { SYSTEM_TIMER } from '../domain/connectionHistory';

/**
 * Finishes Create Connection tests waiting for role/DCR propagation: every
 * minute, re-sends the test event of each pending connection until it passes
 * or its propagation window ends. A timer, not a promise left running after
 * the HTTP response: the host may freeze or recycle an idle instance.
 */
app.timer('retestPendingConnections', {
  schedule: '0 * * * * *',
  handler: async (_timer, context) => {
    const useCases = await connectionUseCases(contextLogger(context), SYSTEM_TIMER);
    await useCases.retestPendingConnections();
  },
});
