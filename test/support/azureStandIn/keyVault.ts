import {
  constants,
  createHash,
  generateKeyPairSync,
  privateEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { authenticateBearer } from './auth';
import type { Route, StandInContext } from './context';
import { HttpError, json, readBody, type Reply, type RequestContext } from './http';

/**
 * Key Vault keys, the operations the health signer uses, under
 * `<base>/keyvault/<vault>/keys/…` (a vault is a path here, a host in Azure).
 * Shapes from the Key Vault keys REST API 7.4 (learn.microsoft.com/rest/api/keyvault/keys):
 * - create `POST …/keys/{name}/create` `{ kty, key_size? }` -> `{ key: { kid, kty, n, e, key_ops }, attributes }`;
 * - get `GET …/keys/{name}[/{version}]` -> same; versions `GET …/keys/{name}/versions` -> `{ value: [{ kid, attributes }], nextLink }`;
 * - sign `POST …/keys/{name}/{version}/sign` `{ alg, value: base64url(digest) }` -> `{ kid, value: base64url(signature) }`
 *   ("Creates a signature from a digest", sign/sign page; sample response `{ kid, value }`).
 * Errors: `{ error: { code, message, innererror? } }`; 401 without a token, 403 `Forbidden` /
 * innererror `ForbiddenByRbac` for a principal without a data-plane role, 404 `KeyNotFound`.
 * Tokens: audience https://vault.azure.net. Stricter than Azure: only RSA keys (the stand-in signs a
 * raw digest with PKCS#1 v1.5, which node:crypto can do for RSA but not ECDSA), and the digest must be
 * exactly the algorithm's length. A vault is created by its first key; its creator and the principals
 * granted through `POST …/keyvault/<vault>/grant { objectId }` (stand-in only, standing for a
 * "Key Vault Crypto User" role assignment) may use its keys.
 */
const API_VERSION = '7.4';
export const VAULT_AUDIENCE = 'https://vault.azure.net';
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

interface KeyVersion {
  version: string;
  kid: string;
  privateKey: KeyObject;
  jwk: { kty: string; n: string; e: string };
  created: number;
  enabled: boolean;
}

interface Vault {
  allowed: Set<string>;
  keys: Map<string, KeyVersion[]>;
}

const vaultsByContext = new WeakMap<StandInContext, Map<string, Vault>>();

function vaults(context: StandInContext): Map<string, Vault> {
  let map = vaultsByContext.get(context);
  if (!map) {
    map = new Map();
    vaultsByContext.set(context, map);
  }
  return map;
}

function kvError(status: number, code: string, message: string, inner?: string): HttpError {
  return new HttpError(
    status,
    { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
    status === 401
      ? {
          'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/common", resource="${VAULT_AUDIENCE}"`,
        }
      : {},
    code,
  );
}

export function keyVaultRoute(context: StandInContext, method: string, url: URL): Route | undefined {
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'keyvault' || parts.length < 3) return undefined;
  const vaultName = parts[1]!;
  const handle =
    (operation: (caller: string, request: RequestContext) => Promise<Reply>) =>
    async (request: RequestContext) => {
      if (request.url.searchParams.get('api-version') !== API_VERSION) {
        throw kvError(400, 'BadParameter', `The api-version must be ${API_VERSION}.`);
      }
      const auth = await authenticateBearer(context, request.req, [VAULT_AUDIENCE]);
      if (!auth.ok) throw kvError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.');
      return operation(auth.caller.objectId, request);
    };
  const base = `${context.baseUrl()}/keyvault/${vaultName}/keys`;
  const vaultFor = (caller: string, create: boolean): Vault => {
    let vault = vaults(context).get(vaultName);
    if (!vault && create) {
      vault = { allowed: new Set([caller]), keys: new Map() };
      vaults(context).set(vaultName, vault);
    }
    if (!vault) throw kvError(404, 'KeyNotFound', `Vault ${vaultName} has no keys.`);
    if (!vault.allowed.has(caller)) {
      throw kvError(
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource. Caller: oid=${caller}; Vault: ${vaultName}`,
        'ForbiddenByRbac',
      );
    }
    return vault;
  };
  const versionOf = (vault: Vault, name: string, version?: string): KeyVersion => {
    const versions = vault.keys.get(name) ?? [];
    const found = version ? versions.find((candidate) => candidate.version === version) : versions.at(-1);
    if (!found)
      throw kvError(
        404,
        'KeyNotFound',
        `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
      );
    return found;
  };
  const bundle = (key: KeyVersion) => ({
    key: { kid: key.kid, ...key.jwk, key_ops: ['sign', 'verify'] },
    attributes: { enabled: key.enabled, created: Math.floor(key.created / 1000) },
  });

  if (parts[1] && parts[2] === 'grant' && parts.length === 3 && method === 'POST') {
    return {
      face: 'keyVault',
      operation: 'keyVaultGrant',
      handle: handle(async (caller, request) => {
        const body = JSON.parse((await readBody(request.req, 10_000)).toString('utf8')) as {
          objectId?: string;
        };
        const vault = vaultFor(caller, false);
        if (typeof body.objectId === 'string') vault.allowed.add(body.objectId);
        return json(200, { granted: body.objectId });
      }),
    };
  }
  if (parts[2] !== 'keys' || !parts[3]) return undefined;
  const name = parts[3];
  if (parts.length === 5 && parts[4] === 'create' && method === 'POST') {
    return {
      face: 'keyVault',
      operation: 'keyVaultCreateKey',
      handle: handle(async (caller, request) => {
        const body = JSON.parse((await readBody(request.req, 10_000)).toString('utf8')) as {
          kty?: string;
          key_size?: number;
        };
        if (body.kty !== 'RSA' && body.kty !== 'RSA-HSM') {
          throw kvError(
            400,
            'BadParameter',
            `The stand-in creates RSA keys only (got kty ${String(body.kty)}).`,
          );
        }
        const vault = vaultFor(caller, true);
        const { privateKey, publicKey } = generateKeyPairSync('rsa', {
          modulusLength: body.key_size ?? 2048,
        });
        const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
        const version = randomBytes(16).toString('hex');
        const key: KeyVersion = {
          version,
          kid: `${base}/${name}/${version}`,
          privateKey,
          jwk: { kty: 'RSA', n: jwk.n, e: jwk.e },
          created: Date.now(),
          enabled: true,
        };
        vault.keys.set(name, [...(vault.keys.get(name) ?? []), key]);
        return json(200, bundle(key));
      }),
    };
  }
  if (parts.length === 5 && parts[4] === 'versions' && method === 'GET') {
    return {
      face: 'keyVault',
      operation: 'keyVaultKeyVersions',
      handle: handle((caller) => {
        const vault = vaultFor(caller, false);
        versionOf(vault, name);
        const value = (vault.keys.get(name) ?? []).map((key) => ({
          kid: key.kid,
          attributes: bundle(key).attributes,
        }));
        return Promise.resolve(json(200, { value, nextLink: null }));
      }),
    };
  }
  if ((parts.length === 4 || parts.length === 5) && method === 'GET') {
    return {
      face: 'keyVault',
      operation: 'keyVaultGetKey',
      handle: handle((caller) =>
        Promise.resolve(json(200, bundle(versionOf(vaultFor(caller, false), name, parts[4])))),
      ),
    };
  }
  if (parts.length === 6 && parts[5] === 'sign' && method === 'POST') {
    return {
      face: 'keyVault',
      operation: 'keyVaultSign',
      handle: handle(async (caller, request) => {
        const key = versionOf(vaultFor(caller, false), name, parts[4]);
        const body = JSON.parse((await readBody(request.req, 10_000)).toString('utf8')) as {
          alg?: string;
          value?: string;
        };
        if (body.alg !== 'RS256')
          throw kvError(
            400,
            'BadParameter',
            `Algorithm ${String(body.alg)} is not supported for key type RSA here (RS256).`,
          );
        const digest = Buffer.from(body.value ?? '', 'base64url');
        if (digest.length !== 32)
          throw kvError(400, 'BadParameter', 'The digest length must be 32 bytes for RS256.');
        const signature = privateEncrypt(
          { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING },
          Buffer.concat([SHA256_DIGEST_INFO, digest]),
        );
        return json(200, { kid: key.kid, value: signature.toString('base64url') });
      }),
    };
  }
  return undefined;
}

/** For tests: the digest the signer must have sent (so a test can check the stand-in saw SHA-256 of the input). */
export function sha256(input: Uint8Array): Buffer {
  return createHash('sha256').update(input).digest();
}
