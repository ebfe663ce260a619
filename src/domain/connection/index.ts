/**
 * A tenant's connection to its Log Analytics workspace, as the portal drives it:
 * - useCases.ts: the ConnectionUseCases façade the functions and the CLI call;
 * - createConnection.ts: one Create Connection run (workspace, tables, rule, test event, diagnostic setting);
 * - turns.ts: one run at a time per tenant (lease), a second identical call joins the first;
 * - steps.ts: per-step results and how failures read; testEvents.ts: the connection-test rows and what a refusal means;
 * - retest.ts: the timer that finishes pending tests; settings.ts: Save changes, status, turning export off;
 * - changes.ts: history and export health rows of every change; view.ts: the GET shape; types.ts: the shapes.
 */
export { ConnectionUseCases } from './useCases';
export type {
  ConnectionUseCaseDeps,
  CreateConnectionInput,
  CreateConnectionResult,
  DataCollectionRuleView,
  RetestSummary,
  SaveSettingsInput,
  SettingsView,
} from './types';
