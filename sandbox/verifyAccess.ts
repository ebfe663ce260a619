import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AzureStandInControl, StandInInfo } from '../test/support/azureStandIn';
import { generateClientCertificate } from '../test/support/testCa';
import type { SandboxTenant } from './controlServer';

/**
 * What a customer's security engineer needs to run `pki-siem-export verify` against the demo
 * tenant's workspace in the sandbox: a sign-in of their own in the demo tenant (an app with a
 * certificate, granted only Log Analytics Reader on the workspace, as the docs ask), and the command
 * line itself. The command names files and ids, never a secret: the credential is the certificate
 * file in the sandbox's work directory, read by the Azure SDK's EnvironmentCredential.
 */

export interface VerifyAccessInput {
  azure: AzureStandInControl;
  azureInfo: StandInInfo;
  tenant: Pick<SandboxTenant, 'tenantId' | 'workspaceResourceId'>;
  /** Where the reader's certificate is written (removed with the sandbox). */
  workDir: string;
  /** The app's `GET /api/siem/signing-keys`. */
  jwksUrl: string;
  /** `--from`: the start of what the command proves (the sandbox's start). */
  from: Date;
}

/** POSIX shell single quotes: safe for any path or id. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export async function demoVerifyCommand(input: VerifyAccessInput): Promise<string> {
  const certificate = await generateClientCertificate('pki-siem-export sandbox verify reader');
  const certificatePath = path.join(input.workDir, 'verify-reader.pem');
  writeFileSync(certificatePath, certificate.combinedPem, { mode: 0o600 });
  const reader = await input.azure.registerApp({
    displayName: 'security engineer running verify (sandbox)',
    homeTenantId: input.tenant.tenantId,
    certificatePems: [certificate.certificatePem],
  });
  await input.azure.grantRole({
    tenantId: input.tenant.tenantId,
    clientId: reader.clientId,
    role: 'Log Analytics Reader',
    scope: input.tenant.workspaceResourceId,
  });
  // Rounded down to the minute (the sandbox's window length), so the first window lies inside the range.
  const from = new Date(Math.floor(input.from.getTime() / 60_000) * 60_000)
    .toISOString()
    .replace('.000Z', 'Z');
  const environment: Array<[string, string]> = [
    // The stand-ins' test CA; the file exists while the sandbox runs.
    ...(process.env.NODE_EXTRA_CA_CERTS
      ? [['NODE_EXTRA_CA_CERTS', process.env.NODE_EXTRA_CA_CERTS] as [string, string]]
      : []),
    // Only this sign-in: never a developer's own az login, which would reach the real Azure.
    ['AZURE_TOKEN_CREDENTIALS', 'EnvironmentCredential'],
    ['AZURE_AUTHORITY_HOST', input.azureInfo.authorityHost],
    ['AZURE_DISABLE_INSTANCE_DISCOVERY', 'true'],
    ['AZURE_TENANT_ID', input.tenant.tenantId],
    ['AZURE_CLIENT_ID', reader.clientId],
    ['AZURE_CLIENT_CERTIFICATE_PATH', certificatePath],
    // The stand-in's Logs Query API, instead of https://api.loganalytics.io.
    ['LOGS_QUERY_ENDPOINT', input.azureInfo.baseUrl],
  ];
  return [
    ...environment.map(([name, value]) => `${name}=${quote(value)}`),
    'npx tsx src/cli/main.ts verify',
    `--workspace ${quote(input.tenant.workspaceResourceId)}`,
    `--from ${from}`,
    // Until the moment it runs: the latest windows show as "not yet proven", never as a failure.
    '--to "$(date -u +%Y-%m-%dT%H:%M:%SZ)"',
    `--jwks-url ${quote(input.jwksUrl)}`,
  ].join(' ');
}
