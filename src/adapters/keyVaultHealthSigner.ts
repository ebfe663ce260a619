import { createHash } from 'node:crypto';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
} from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/identity';
import type { JWK } from 'jose';
import {
  SigningKeyUnavailableError,
  type HealthSigner,
  type PublicSigningKey,
  type SigningAlgorithm,
  type SigningKeyDirectory,
} from '../domain/exportHealth/signing';
import { publicKeyFrom } from './localHealthSigner';

/**
 * Signs health rows with a Key Vault key through the managed identity: the
 * private key never leaves the vault. REST (Key Vault keys API 7.4):
 * - GET {vault}/keys/{name}: the current version, `{ key: { kid, kty, crv, x, y | n, e } }`;
 * - GET {vault}/keys/{name}/versions: `{ value: [{ kid, attributes: { enabled, created } }], nextLink }`;
 * - POST {kid}/sign `{ alg, value: base64url(digest) }` -> `{ kid, value: base64url(signature) }`
 *   (learn.microsoft.com/rest/api/keyvault/keys/sign/sign). The value to sign is the
 *   SHA-256 digest of the JWS signing input; an EC signature comes back as r||s, the JWS form.
 * The identity needs the "Key Vault Crypto User" role (keys/get, keys/sign) on the vault.
 */
const API_VERSION = '7.4';
const CURRENT_KEY_TTL_MS = 5 * 60_000;
/**
 * The public keys are served to anonymous callers: every vault round trip
 * they could trigger counts against the vault's throttling limits, which
 * sign shares. One fetch per 5 minutes at most (concurrent callers share it),
 * and a failure is remembered for 30 seconds so a vault outage is not
 * hammered either.
 */
const PUBLIC_KEYS_TTL_MS = 5 * 60_000;
const PUBLIC_KEYS_FAILURE_TTL_MS = 30_000;
/** A refresh asked for (the heartbeat met an unknown key id) reuses a list younger than this. */
const PUBLIC_KEYS_REFRESH_MIN_MS = 30_000;
/**
 * Published versions: the current one and those before it, newest first, so
 * rows signed before a rotation still verify. Reads are cached (above), so
 * publishing many costs the vault little; rows signed by an older version
 * verify only against a keys file kept from then (docs/completeness.md).
 */
const MAX_PUBLISHED_VERSIONS = 20;

export interface KeyVaultHealthSignerOptions {
  /** https://<vault>.vault.azure.net/keys/<name>, without a version. */
  keyUrl: string;
  credential: TokenCredential;
  httpClient?: HttpClient;
  now?: () => number;
  /** Token audience; default from the vault's DNS suffix (tests on loopback pass it). */
  audience?: string;
}

export class KeyVaultHealthSigner implements HealthSigner, SigningKeyDirectory {
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient;
  private readonly keyUrl: string;
  private cached: { at: number; key: PublicSigningKey } | undefined;
  private publicKeysCache: { at: number; ttl: number; keys: Promise<PublicSigningKey[]> } | undefined;

  constructor(private readonly options: KeyVaultHealthSignerOptions) {
    this.keyUrl = options.keyUrl.replace(/\/+$/, '');
    const vault = new URL(this.keyUrl);
    // The token audience is the vault's DNS suffix: vault.azure.net, vault.usgovcloudapi.net, vault.azure.cn.
    const audience = options.audience ?? `https://${vault.hostname.split('.').slice(1).join('.')}`;
    this.pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 2, retryDelayInMs: 500 } });
    this.pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({
        credential: options.credential,
        scopes: `${audience}/.default`,
      }),
    );
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
  }

  async currentKey(): Promise<{ keyId: string; algorithm: SigningAlgorithm }> {
    const now = (this.options.now ?? Date.now)();
    if (!this.cached || now - this.cached.at > CURRENT_KEY_TTL_MS) {
      this.cached = { at: now, key: await this.readKey(this.keyUrl) };
    }
    return { keyId: this.cached.key.kid, algorithm: this.cached.key.alg };
  }

  async sign(keyId: string, algorithm: SigningAlgorithm, input: Uint8Array): Promise<Uint8Array> {
    if (!keyId.startsWith(`${this.keyUrl}/`)) {
      throw new SigningKeyUnavailableError(`Key ${keyId} is not a version of ${this.keyUrl}.`);
    }
    const digest = createHash('sha256').update(input).digest('base64url');
    const body = await this.call('POST', `${keyId}/sign`, { alg: algorithm, value: digest });
    const value = (body as { value?: unknown }).value;
    if (typeof value !== 'string' || value.length === 0) {
      throw new SigningKeyUnavailableError(
        `Key Vault answered the sign operation on ${keyId} without a signature.`,
      );
    }
    return Buffer.from(value, 'base64url');
  }

  async publicKeys(options: { refresh?: boolean } = {}): Promise<PublicSigningKey[]> {
    const keys = await this.publishedKeys(options.refresh === true);
    // The two caches expire apart: the version this instance signs with now (read after a rotation
    // the cached list predates) is published, and verifies its own rows, from its first row on. Only
    // the current one: a version disabled since (a compromised key) drops out with the caches.
    const current = this.cached?.key;
    return current && !keys.some(({ kid }) => kid === current.kid) ? [current, ...keys] : keys;
  }

  private publishedKeys(refresh: boolean): Promise<PublicSigningKey[]> {
    const now = (this.options.now ?? Date.now)();
    const cache = this.publicKeysCache;
    const ttl = refresh ? Math.min(cache?.ttl ?? 0, PUBLIC_KEYS_REFRESH_MIN_MS) : cache?.ttl;
    if (cache && ttl !== undefined && now - cache.at < ttl) return cache.keys;
    const entry = { at: now, ttl: PUBLIC_KEYS_TTL_MS, keys: this.fetchPublicKeys() };
    entry.keys.catch(() => {
      entry.ttl = PUBLIC_KEYS_FAILURE_TTL_MS;
    });
    this.publicKeysCache = entry;
    return entry.keys;
  }

  private async fetchPublicKeys(): Promise<PublicSigningKey[]> {
    const current = await this.readKey(this.keyUrl);
    const versions: Array<{ kid: string; created: number }> = [];
    let next: string | undefined = `${this.keyUrl}/versions`;
    while (next) {
      const page = (await this.call('GET', next)) as {
        value?: Array<{ kid?: string; attributes?: { enabled?: boolean; created?: number } }>;
        nextLink?: string | null;
      };
      for (const item of page.value ?? []) {
        if (item.kid && item.attributes?.enabled !== false && item.kid !== current.kid) {
          versions.push({ kid: item.kid, created: item.attributes?.created ?? 0 });
        }
      }
      next = page.nextLink ?? undefined;
    }
    versions.sort((a, b) => b.created - a.created);
    const previous = await Promise.all(
      versions.slice(0, MAX_PUBLISHED_VERSIONS - 1).map((version) => this.readKey(version.kid)),
    );
    return [current, ...previous];
  }

  private async readKey(url: string): Promise<PublicSigningKey> {
    const body = (await this.call('GET', url)) as { key?: JWK & { kid?: string } };
    const key = body.key;
    if (!key?.kid) throw new SigningKeyUnavailableError(`Key Vault returned no key at ${url}.`);
    const algorithm = keyAlgorithm(key);
    return publicKeyFrom({ ...key, kty: key.kty?.replace(/-HSM$/, '') }, key.kid, algorithm);
  }

  private async call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<unknown> {
    const target = new URL(url);
    target.searchParams.set('api-version', API_VERSION);
    const request = createPipelineRequest({
      url: target.toString(),
      method,
      headers: createHttpHeaders(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let response;
    try {
      response = await this.pipeline.sendRequest(this.httpClient, request);
    } catch (error) {
      throw new SigningKeyUnavailableError(
        `Key Vault at ${target.origin} could not be reached (${error instanceof Error ? error.message : 'network error'}).`,
        { cause: error },
      );
    }
    let parsed: unknown;
    try {
      parsed = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.status === 200) return parsed ?? {};
    const code =
      (parsed as { error?: { code?: string } } | undefined)?.error?.code ?? String(response.status);
    if (response.status === 401 || response.status === 403) {
      throw new SigningKeyUnavailableError(
        `Key Vault refused the managed identity (${code}): grant it "Key Vault Crypto User" (keys/get, keys/sign) on ${target.origin}.`,
      );
    }
    if (response.status === 404) {
      throw new SigningKeyUnavailableError(
        `Key Vault has no key at ${this.keyUrl} (${code}): check HEALTH_SIGNING_KEY_URL.`,
      );
    }
    throw new SigningKeyUnavailableError(
      `Key Vault answered ${response.status} (${code}) for ${method} ${target.pathname}.`,
    );
  }
}

function keyAlgorithm(key: JWK): SigningAlgorithm {
  // Key Vault names HSM-backed keys EC-HSM / RSA-HSM.
  if (key.kty?.startsWith('EC') && key.crv === 'P-256') return 'ES256';
  // Key Vault itself creates RSA keys of 2048, 3072 or 4096 bits; an imported key could be smaller.
  // Same floor as a local key (localHealthSigner.ts).
  if (key.kty?.startsWith('RSA')) {
    const bits = typeof key.n === 'string' ? Buffer.from(key.n, 'base64url').length * 8 : 0;
    if (bits < 2048) {
      throw new SigningKeyUnavailableError(
        `The signing key is RSA of ${String(bits)} bits; use an RSA key of at least 2048 bits (RS256) or an EC P-256 key (ES256).`,
      );
    }
    return 'RS256';
  }
  throw new SigningKeyUnavailableError(
    `The signing key is ${String(key.kty)} ${String(key.crv ?? '')}; use an EC P-256 key (ES256) or an RSA key (RS256).`,
  );
}
