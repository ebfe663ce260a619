import { infrastructure } from './composition';
import type { DeliveryRecordStore } from './domain/exportHealth/deliveryRecorder';
import type { Heartbeat } from './domain/exportHealth/heartbeat';
import {
  SigningKeyUnavailableError,
  type HealthSigner,
  type SigningKeyDirectory,
} from './domain/exportHealth/signing';
import type { Logger } from './domain/ports';

/**
 * Builds the export health parts (issue 17) on first use, next to
 * composition.ts: the signer, the delivery recorder and the heartbeat.
 */
let signingPromise: Promise<HealthSigner & SigningKeyDirectory> | undefined;

/** The configured signer; throws SigningKeyUnavailableError (never cached) when none is configured or readable. */
export function healthSigning(): Promise<HealthSigner & SigningKeyDirectory> {
  signingPromise ??= buildSigning().catch((error: unknown) => {
    signingPromise = undefined;
    throw error;
  });
  return signingPromise;
}

async function buildSigning(): Promise<HealthSigner & SigningKeyDirectory> {
  const infra = await infrastructure();
  const signing = infra.config.exportHealth.signing;
  if (signing.kind === 'keyVault') {
    const { KeyVaultHealthSigner } = await import('./adapters/keyVaultHealthSigner');
    return new KeyVaultHealthSigner({ keyUrl: signing.keyUrl, credential: infra.appCredential() });
  }
  if (signing.kind === 'privateKey') {
    const { LocalHealthSigner } = await import('./adapters/localHealthSigner');
    return LocalHealthSigner.fromPem(signing.pem);
  }
  throw new SigningKeyUnavailableError(
    'HEALTH_SIGNING_KEY_URL is missing: no key signs export health rows, so heartbeats stop (event delivery goes on). Set it to the Key Vault key the managed identity may sign with.',
  );
}

let recorderPromise: Promise<DeliveryRecordStore> | undefined;

export function deliveryRecords(): Promise<DeliveryRecordStore> {
  recorderPromise ??= Promise.all([
    infrastructure(),
    import('./adapters/tableStorage'),
    import('./adapters/deliveryRecordStore'),
  ])
    .then(
      ([infra, tables, { TableDeliveryRecordStore }]) =>
        new TableDeliveryRecordStore(
          tables.openTable(
            infra.config.tableStorage,
            infra.config.exportHealth.deliveryRecordsTable,
            infra.appCredential,
          ),
          infra.config.exportHealth.intervalMinutes,
        ),
    )
    .catch((error: unknown) => {
      recorderPromise = undefined;
      throw error;
    });
  return recorderPromise;
}

export async function heartbeat(logger: Logger): Promise<Heartbeat> {
  const infra = await infrastructure();
  const [
    tables,
    { Heartbeat },
    { TableHealthChainStore },
    { TableExportingTenants },
    { JwksSignatureVerifier },
    recorder,
  ] = await Promise.all([
    import('./adapters/tableStorage'),
    import('./domain/exportHealth/heartbeat'),
    import('./adapters/healthChainStore'),
    import('./adapters/exportingTenants'),
    import('./adapters/jwksSignatureVerifier'),
    deliveryRecords(),
  ]);
  const open = (name: string) => tables.openTable(infra.config.tableStorage, name, infra.appCredential);
  return new Heartbeat(
    {
      tenants: new TableExportingTenants(open(infra.config.tables.tenants)),
      recorder,
      chain: new TableHealthChainStore(open(infra.config.exportHealth.healthTable)),
      signer: healthSigning,
      // Our own published keys (the current one and those still needed for older rows), cached by the signer.
      verifier: async (options) =>
        new JwksSignatureVerifier({ keys: await (await healthSigning()).publicKeys(options) }),
      ingestion: infra.ingestion,
      clock: infra.clock,
      logger,
    },
    {
      intervalMinutes: infra.config.exportHealth.intervalMinutes,
      graceMs: infra.config.exportHealth.sealDelayMs,
      maxWindowsPerTick: 96,
      maxUnsealedWindows: unsealedWindowsBound(infra.config.exportHealth.intervalMinutes),
    },
  );
}

/** Delivery records of a window are kept at most 7 days after it ended (672 windows of 15 minutes). */
export function unsealedWindowsBound(intervalMinutes: number): number {
  return Math.ceil((7 * 24 * 60) / intervalMinutes);
}

export function resetExportHealthForTests(): void {
  signingPromise = undefined;
  recorderPromise = undefined;
}
