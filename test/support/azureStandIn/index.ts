/**
 * The HTTPS Azure stand-in: Entra ID, ARM (workspaces, tables, data collection
 * rules) and the Logs Ingestion API on one loopback server, with an admin API.
 * See README.md beside this file for what it models and how to drive it.
 */
export { startAzureStandIn, type AzureStandIn, type StartAzureStandInOptions } from './server';
export { AzureStandInAdmin } from './adminClient';
export type { AzureStandInControl } from './control';
export * from './types';
