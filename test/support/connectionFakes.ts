import { IngestionFailure, type IngestionFailureKind } from '../../src/domain/errors';
import type {
  DataCollectionRuleInfo,
  IngestionSink,
  IngestionTarget,
  TableProvisioning,
  WorkspaceInfo,
  WorkspaceProvisioner,
} from '../../src/domain/ports';
import { streamName, TABLE_NAMES, type TableName } from '../../src/domain/tableSchema';
import type { WorkspaceRef } from '../../src/domain/workspaceResourceId';

/**
 * Fakes of the ports Create Connection drives, for unit tests of the use
 * cases. Each step can be told to fail with a domain error or to hang until
 * the caller's deadline (or forever, ignoring it, like a stuck dependency).
 */

type Behaviour = { kind: 'ok' } | { kind: 'fail'; error: Error } | { kind: 'hang'; ignoreSignal?: boolean };

export class FakeWorkspaceProvisioner implements WorkspaceProvisioner {
  location = 'eastus';
  readonly calls: string[] = [];
  behaviour: Record<'workspace' | 'tables' | 'dataCollectionRule' | 'diagnosticSetting', Behaviour> = {
    workspace: { kind: 'ok' },
    tables: { kind: 'ok' },
    dataCollectionRule: { kind: 'ok' },
    diagnosticSetting: { kind: 'ok' },
  };
  /** DCR ids that have the LogErrors diagnostic setting. */
  readonly diagnosticSettings = new Set<string>();
  /** What ensureTable reports per table (created on first call, unchanged afterwards, like ARM). */
  private readonly existingTables = new Set<string>();
  private readonly rules = new Map<string, DataCollectionRuleInfo>();

  async readWorkspace(
    tenantId: string,
    workspace: WorkspaceRef,
    signal: AbortSignal,
  ): Promise<WorkspaceInfo> {
    this.calls.push(`workspace ${tenantId} ${workspace.workspaceName}`);
    await this.behave('workspace', signal);
    return { location: this.location };
  }

  async ensureTable(
    tenantId: string,
    workspace: WorkspaceRef,
    table: TableName,
    signal: AbortSignal,
  ): Promise<TableProvisioning> {
    this.calls.push(`table ${tenantId} ${table}`);
    await this.behave('tables', signal);
    const key = `${workspace.resourceId.toLowerCase()}|${table}`;
    const action = this.existingTables.has(key) ? 'unchanged' : 'created';
    this.existingTables.add(key);
    return { table, action, keptColumns: [] };
  }

  async ensureDataCollectionRule(
    tenantId: string,
    workspace: WorkspaceRef,
    location: string,
    signal: AbortSignal,
  ): Promise<DataCollectionRuleInfo> {
    this.calls.push(`dcr ${tenantId} ${location}`);
    await this.behave('dataCollectionRule', signal);
    const key = workspace.resourceId.toLowerCase();
    let rule = this.rules.get(key);
    if (!rule) {
      const suffix = (this.rules.size + 1).toString(16).padStart(32, '0');
      rule = {
        id: `${workspace.resourceGroupId}/providers/Microsoft.Insights/dataCollectionRules/pki-siem-export-${workspace.workspaceName}`,
        immutableId: `dcr-${suffix}`,
        logsIngestionEndpoint: `https://rule-${this.rules.size + 1}.${location}-1.ingest.monitor.azure.com`,
        streams: Object.fromEntries(TABLE_NAMES.map((table) => [table, streamName(table)])) as Record<
          TableName,
          string
        >,
      };
      this.rules.set(key, rule);
    }
    return rule;
  }

  async ensureDiagnosticSetting(
    tenantId: string,
    _workspace: WorkspaceRef,
    dataCollectionRuleId: string,
    signal: AbortSignal,
  ): Promise<void> {
    this.calls.push(`diagnosticSetting ${tenantId}`);
    await this.behave('diagnosticSetting', signal);
    this.diagnosticSettings.add(dataCollectionRuleId);
  }

  private behave(step: keyof FakeWorkspaceProvisioner['behaviour'], signal: AbortSignal): Promise<void> {
    const behaviour = this.behaviour[step];
    if (behaviour.kind === 'ok') return Promise.resolve();
    if (behaviour.kind === 'fail') return Promise.reject(behaviour.error);
    return new Promise((_resolve, reject) => {
      if (!behaviour.ignoreSignal) {
        signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), {
          once: true,
        });
      }
    });
  }
}

export interface RecordedUpload {
  tenantId: string;
  target: IngestionTarget;
  stream: string;
  rows: Array<Record<string, unknown>>;
}

export class FakeIngestionSink implements IngestionSink {
  readonly uploads: RecordedUpload[] = [];
  /** Failure kind to answer with, per stream or for all; undefined accepts the rows. */
  failWith: IngestionFailureKind | undefined;
  failStreams: Set<string> | undefined;

  upload(
    tenantId: string,
    target: IngestionTarget,
    stream: string,
    rows: ReadonlyArray<Record<string, unknown>>,
  ): Promise<void> {
    this.uploads.push({ tenantId, target: { ...target }, stream, rows: rows.map((row) => ({ ...row })) });
    if (this.failWith && (!this.failStreams || this.failStreams.has(stream))) {
      const status = { throttled: 429, unavailable: 503, forbidden: 403, notFound: 404, rejected: 400 }[
        this.failWith as Exclude<IngestionFailureKind, 'unauthenticated'>
      ];
      return Promise.reject(
        new IngestionFailure(this.failWith, `The Logs Ingestion API answered ${status ?? 'nothing'}`, {
          ...(status ? { status } : {}),
        }),
      );
    }
    return Promise.resolve();
  }
}
