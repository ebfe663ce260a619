import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HOST_SETTINGS, loadConfig, SETTINGS } from '../../src/config';

/** Settings only a local host reads: the worker runtime and host storage as a connection string (Azurite). */
const LOCAL_HOST_SETTINGS = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage', 'AzureWebJobsFeatureFlags'];

const samples = readdirSync('.')
  .filter((name) => /^local\.settings(\.[\w-]+)?\.sample\.json$/.test(name))
  .sort();

function valuesOf(file: string): Record<string, string> {
  return (JSON.parse(readFileSync(file, 'utf8')) as { Values: Record<string, string> }).Values;
}

describe('local.settings samples', () => {
  it('cover both ways to run func start: local emulators and a real namespace with your own sign-in', () => {
    expect(samples).toEqual(['local.settings.identity.sample.json', 'local.settings.sample.json']);
    const guide = readFileSync('docs/development.md', 'utf8');
    for (const sample of samples) expect(guide).toContain(`\`${sample}\``);
  });

  it.each(samples)(
    '%s is accepted by loadConfig and names no setting the app or host would ignore',
    (sample) => {
      const values = valuesOf(sample);
      expect(() => loadConfig(values)).not.toThrow();
      const known = new Set([
        ...Object.keys(SETTINGS),
        ...Object.keys(HOST_SETTINGS),
        ...LOCAL_HOST_SETTINGS,
      ]);
      expect(Object.keys(values).filter((name) => !known.has(name))).toEqual([]);
      expect(values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    },
  );

  it('the emulator sample uses connection strings, the identity sample none and no managed-identity credential', () => {
    const emulator = loadConfig(valuesOf('local.settings.sample.json'));
    expect(emulator.serviceBus.kind).toBe('connectionString');
    expect(emulator.tableStorage.kind).toBe('connectionString');

    const identityValues = valuesOf('local.settings.identity.sample.json');
    const identity = loadConfig(identityValues);
    expect(identity.serviceBus.kind).toBe('identity');
    expect(identity.tableStorage.kind).toBe('identity');
    // Locally the host must use the developer's sign-in; a managed identity does not exist there.
    expect(Object.keys(identityValues).filter((name) => /__(credential|clientId)$/.test(name))).toEqual([]);
    expect(identity.customerApp.credential.kind).not.toBe('managedIdentity');
    expect(JSON.stringify(identityValues)).not.toMatch(/SharedAccessKey|AccountKey|CLIENT_SECRET/i);
  });
});
