import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * A certificate authority generated for one test run, and the server
 * certificate (127.0.0.1, ::1, localhost) every HTTPS stand-in serves.
 *
 * Node reads NODE_EXTRA_CA_CERTS once, at process start, so the trust has to
 * be prepared before the processes that talk to the stand-ins are spawned:
 * the vitest config does it in the main process before the 'forks' pool
 * starts its workers, and a sandbox launcher does it before spawning its
 * child. The variable is usually already set on these machines (the system
 * bundle); its content is kept and the test CA appended to it.
 */
export interface TestTrust {
  /** Directory holding every file below; removed when the preparing process exits. */
  dir: string;
  caCertPath: string;
  caCertPem: string;
  serverCertPath: string;
  serverKeyPath: string;
  /** Previous NODE_EXTRA_CA_CERTS content (if any) followed by the test CA. */
  bundlePath: string;
  /** Environment a child process needs to trust the stand-ins and to serve with the same certificate. */
  env: { NODE_EXTRA_CA_CERTS: string; PKI_TEST_TRUST_DIR: string };
}

export interface ServerTls {
  cert: string;
  key: string;
}

/** Marks the directory prepared by this run; children inherit it and find the server key there. */
export const TRUST_DIR_VARIABLE = 'PKI_TEST_TRUST_DIR';
/** The bundle NODE_EXTRA_CA_CERTS named before we replaced it, so a re-preparation does not nest bundles. */
const ORIGINAL_BUNDLE_VARIABLE = 'PKI_TEST_ORIGINAL_NODE_EXTRA_CA_CERTS';

const FILES = {
  caCert: 'test-ca.pem',
  serverCert: 'server-cert.pem',
  serverKey: 'server-key.pem',
  bundle: 'ca-bundle.pem',
} as const;

const DAY_MS = 86_400_000;

/**
 * Generates the CA and server certificate into a fresh temporary directory,
 * writes the trust bundle and points NODE_EXTRA_CA_CERTS (and
 * PKI_TEST_TRUST_DIR) of this process at it, so every process spawned from
 * here on trusts the stand-ins. Calling it again in the same process returns
 * the same trust.
 */
export async function prepareTestTrust(): Promise<TestTrust> {
  const existing = process.env[TRUST_DIR_VARIABLE];
  if (existing && existsSync(join(existing, FILES.bundle))) {
    const trust = readTestTrust(existing);
    if (process.env.NODE_EXTRA_CA_CERTS === trust.bundlePath) return trust;
  }

  const dir = mkdtempSync(join(tmpdir(), 'pki-test-ca-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

  const notBeforeDate = new Date(Date.now() - DAY_MS);
  const notAfterDate = new Date(Date.now() + 30 * DAY_MS);
  const ca = await generate([{ name: 'commonName', value: 'pki-siem-export test CA (this run only)' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });

  const originalBundle = process.env[ORIGINAL_BUNDLE_VARIABLE] ?? process.env.NODE_EXTRA_CA_CERTS ?? '';
  const previous = originalBundle && existsSync(originalBundle) ? readFileSync(originalBundle, 'utf8') : '';
  const caCertPem = normalizePem(ca.cert);
  writeFileSync(join(dir, FILES.caCert), caCertPem);
  writeFileSync(join(dir, FILES.serverCert), normalizePem(server.cert));
  writeFileSync(join(dir, FILES.serverKey), normalizePem(server.private), { mode: 0o600 });
  writeFileSync(join(dir, FILES.bundle), `${previous.trimEnd()}${previous ? '\n' : ''}${caCertPem}`);

  const trust = readTestTrust(dir);
  process.env[ORIGINAL_BUNDLE_VARIABLE] = originalBundle;
  Object.assign(process.env, trust.env);
  return trust;
}

/** The trust another process prepared (default: the directory named by PKI_TEST_TRUST_DIR). */
export function readTestTrust(dir = process.env[TRUST_DIR_VARIABLE]): TestTrust {
  if (!dir || !existsSync(join(dir, FILES.bundle))) {
    throw new Error(
      `No test CA prepared (${TRUST_DIR_VARIABLE}=${dir ?? '<unset>'}). ` +
        'Run the tests through vitest.config.mts, which calls prepareTestTrust() before the workers fork, ' +
        'or call prepareTestTrust() yourself before spawning processes that talk to the stand-ins.',
    );
  }
  const bundlePath = join(dir, FILES.bundle);
  return {
    dir,
    caCertPath: join(dir, FILES.caCert),
    caCertPem: readFileSync(join(dir, FILES.caCert), 'utf8'),
    serverCertPath: join(dir, FILES.serverCert),
    serverKeyPath: join(dir, FILES.serverKey),
    bundlePath,
    env: { NODE_EXTRA_CA_CERTS: bundlePath, PKI_TEST_TRUST_DIR: dir },
  };
}

/** The certificate and key an HTTPS stand-in serves. */
export function readServerTls(trust: TestTrust = readTestTrust()): ServerTls {
  return { cert: readFileSync(trust.serverCertPath, 'utf8'), key: readFileSync(trust.serverKeyPath, 'utf8') };
}

export interface ClientCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** Key and certificate in one PEM, as ClientCertificateCredential's `certificate` option wants it. */
  combinedPem: string;
  /** base64url SHA-256 of the DER certificate: the `x5t#S256` header MSAL puts in a client assertion. */
  x5tS256: string;
  /** base64url SHA-1 of the DER certificate: the legacy `x5t` header. */
  x5t: string;
}

/** A self-signed certificate for an app registration (Entra accepts self-signed app credentials). */
export async function generateClientCertificate(
  commonName = 'pki-siem-export test app',
): Promise<ClientCertificate> {
  const generated = await generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate: new Date(Date.now() + 30 * DAY_MS),
  });
  const certificatePem = normalizePem(generated.cert);
  const privateKeyPem = normalizePem(generated.private);
  return {
    certificatePem,
    privateKeyPem,
    combinedPem: `${privateKeyPem}${certificatePem}`,
    ...certificateThumbprints(certificatePem),
  };
}

export function certificateThumbprints(certificatePem: string): { x5tS256: string; x5t: string } {
  const der = new X509Certificate(certificatePem).raw;
  return {
    x5tS256: createHash('sha256').update(der).digest('base64url'),
    x5t: createHash('sha1').update(der).digest('base64url'),
  };
}

function normalizePem(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trim()}\n`;
}
