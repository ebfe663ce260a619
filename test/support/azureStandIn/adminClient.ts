import { assertLoopback } from '../loopback';
import type { AzureStandInControl } from './control';
import type {
  AddWorkspaceInput,
  ClearFaultsInput,
  ConfigureInput,
  ProviderRegistrationInput,
  DcrInfo,
  FaultInfo,
  FaultInput,
  FederatedCredentialInput,
  GrantRoleInput,
  ManagedIdentityInfo,
  MintedToken,
  MintTokenInput,
  RecordedRequest,
  RecordedRow,
  RegisteredApp,
  RegisterAppInput,
  RegisterManagedIdentityInput,
  RequestsQuery,
  RevokeRoleInput,
  RoleAssignmentInfo,
  PurgeRowsInput,
  RowsQuery,
  DroppedData,
  DroppedQuery,
  SeededTenant,
  SeedDcrInput,
  SeedTableInput,
  SeedTenantInput,
  SigningKeysInfo,
  StandInInfo,
  TableInfo,
  WorkspaceInfo,
} from './types';

/**
 * Drives an Azure stand-in over its HTTP admin API (`POST /_admin/<method>`),
 * from a test worker or a sandbox process. The process must trust the test CA
 * (NODE_EXTRA_CA_CERTS, prepared by prepareTestTrust()).
 */
export class AzureStandInAdmin implements AzureStandInControl {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = assertLoopback(baseUrl.replace(/\/+$/, ''));
  }

  private async call<T>(method: string, input?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}/_admin/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input ?? {}),
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: keep the raw text
      }
      throw new Error(`Azure stand-in admin ${method} failed (${response.status}): ${message}`);
    }
    return JSON.parse(text) as T;
  }

  info(): Promise<StandInInfo> {
    return this.call('info');
  }
  seedTenant(input: SeedTenantInput = {}): Promise<SeededTenant> {
    return this.call('seedTenant', input);
  }
  async setProviderRegistration(input: ProviderRegistrationInput): Promise<void> {
    await this.call('setProviderRegistration', input);
  }
  addWorkspace(input: AddWorkspaceInput): Promise<WorkspaceInfo> {
    return this.call('addWorkspace', input);
  }
  registerApp(input: RegisterAppInput = {}): Promise<RegisteredApp> {
    return this.call('registerApp', input);
  }
  addAppSecret(input: { clientId: string; secret?: string }): Promise<{ secret: string }> {
    return this.call('addAppSecret', input);
  }
  addAppCertificate(input: { clientId: string; certificatePem: string }): Promise<{ x5tS256: string }> {
    return this.call('addAppCertificate', input);
  }
  async addFederatedCredential(input: { clientId: string } & FederatedCredentialInput): Promise<void> {
    await this.call('addFederatedCredential', input);
  }
  consentApp(input: { tenantId: string; clientId: string }): Promise<{ objectId: string }> {
    return this.call('consentApp', input);
  }
  revokeConsent(input: { tenantId: string; clientId: string }): Promise<{ removed: boolean }> {
    return this.call('revokeConsent', input);
  }
  registerManagedIdentity(input: RegisterManagedIdentityInput): Promise<ManagedIdentityInfo> {
    return this.call('registerManagedIdentity', input);
  }
  grantRole(input: GrantRoleInput): Promise<RoleAssignmentInfo> {
    return this.call('grantRole', input);
  }
  revokeRole(input: RevokeRoleInput): Promise<{ removed: number }> {
    return this.call('revokeRole', input);
  }
  listRoleAssignments(input: { tenantId: string }): Promise<RoleAssignmentInfo[]> {
    return this.call('listRoleAssignments', input);
  }
  async configure(input: ConfigureInput): Promise<void> {
    await this.call('configure', input);
  }
  seedTable(input: SeedTableInput): Promise<TableInfo> {
    return this.call('seedTable', input);
  }
  getTable(input: { workspaceId: string; name: string }): Promise<TableInfo | null> {
    return this.call('getTable', input);
  }
  listDcrs(input: { tenantId?: string } = {}): Promise<DcrInfo[]> {
    return this.call('listDcrs', input);
  }
  deleteDcr(input: { id: string }): Promise<{ deleted: boolean }> {
    return this.call('deleteDcr', input);
  }
  seedDcr(input: SeedDcrInput): Promise<DcrInfo> {
    return this.call('seedDcr', input);
  }
  injectFault(input: FaultInput): Promise<FaultInfo> {
    return this.call('injectFault', input);
  }
  listFaults(): Promise<FaultInfo[]> {
    return this.call('listFaults');
  }
  clearFaults(input: ClearFaultsInput = {}): Promise<{ removed: number }> {
    return this.call('clearFaults', input);
  }
  addSigningKey(input: { activate?: boolean } = {}): Promise<{ kid: string }> {
    return this.call('addSigningKey', input);
  }
  retireSigningKey(input: { kid: string }): Promise<{ retired: boolean }> {
    return this.call('retireSigningKey', input);
  }
  signingKeys(): Promise<SigningKeysInfo> {
    return this.call('signingKeys');
  }
  mintToken(input: MintTokenInput): Promise<MintedToken> {
    return this.call('mintToken', input);
  }
  rows(input: RowsQuery): Promise<RecordedRow[]> {
    return this.call('rows', input);
  }
  purgeRows(input: PurgeRowsInput): Promise<{ removed: number }> {
    return this.call('purgeRows', input);
  }

  dropped(input: DroppedQuery = {}): Promise<DroppedData[]> {
    return this.call('dropped', input);
  }
  requests(input: RequestsQuery = {}): Promise<RecordedRequest[]> {
    return this.call('requests', input);
  }
  async reset(): Promise<void> {
    await this.call('reset');
  }
}
