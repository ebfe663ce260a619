import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlServer, type RunningControlServer } from '../../sandbox/controlServer';
import { startHttpServer, type RunningHttpServer } from '../../sandbox/httpServer';
import { startAzureStandIn, type AzureStandIn } from '../support/azureStandIn';
import { loopbackHostProblem } from '../support/loopback';
import { ServiceBusStandIn } from '../support/serviceBus';
import { readTestTrust } from '../support/testCa';

/**
 * The loopback servers the sandbox starts (its control API, the Functions host's HTTP front door,
 * the Azure stand-in, the Service Bus stand-in's admin API) listen on 127.0.0.1 only, which keeps
 * other machines out but not a web page in the user's browser: by DNS rebinding a page's own name
 * resolves to 127.0.0.1 and the browser sends the page's requests here, same-origin for the page,
 * with the page's name in the Host header. Each server refuses such a request with 421 and a
 * sentence saying where to send it, before doing anything.
 */

interface Answer {
  status: number;
  body: string;
}

/** One request with the Host header set as given (what a browser sends after DNS rebinding). */
function send(url: string, host: string, method = 'GET'): Promise<Answer> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const headers = { host };
  return new Promise((resolve, reject) => {
    const options = {
      hostname: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      method,
      headers,
      // A browser would also refuse the certificate for the rebound name; this asks the server itself.
      ...(secure ? { ca: readTestTrust().caCertPem, checkServerIdentity: () => undefined } : {}),
    };
    const request = (secure ? httpsRequest : httpRequest)(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

let azure: AzureStandIn;
let control: RunningControlServer;
let http: RunningHttpServer;
let serviceBus: ServiceBusStandIn;

beforeAll(async () => {
  azure = await startAzureStandIn();
  control = await startControlServer({
    azure: azure.control,
    newTenant: () => Promise.reject(new Error('no tenant is added in this test')),
  });
  http = await startHttpServer();
  serviceBus = await new ServiceBusStandIn({ queues: { hosts: {} } }).start();
});

afterAll(async () => {
  await Promise.all([control?.stop(), http?.stop(), azure?.stop(), serviceBus?.stop()]);
});

const servers = () => [
  { name: 'sandbox control API', url: `${control.url}/rows` },
  { name: 'Functions host front door', url: `${http.url}/api/siem/signing-keys` },
  { name: 'Azure stand-in (https)', url: `${azure.baseUrl}/_admin/info` },
  { name: 'Service Bus stand-in admin API', url: `${serviceBus.adminUrl}/queues/hosts` },
];

describe('loopback servers refuse requests addressed to another host (DNS rebinding)', () => {
  it('answers 421 with a clear sentence for a rebound name or another port, on every server', async () => {
    for (const server of servers()) {
      const port = new URL(server.url).port;
      for (const host of ['attacker.example', `attacker.example:${port}`, `127.0.0.1:${Number(port) + 1}`]) {
        const answer = await send(server.url, host);
        expect({ server: server.name, host, status: answer.status }).toEqual({
          server: server.name,
          host,
          status: 421,
        });
        expect(answer.body).toContain('is not this server');
        expect(answer.body).toContain(`127.0.0.1:${port}`);
      }
    }
  });

  it('still answers requests addressed to 127.0.0.1, localhost or [::1] with its port', async () => {
    for (const server of servers()) {
      const port = new URL(server.url).port;
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
        const answer = await send(server.url, host);
        expect({ server: server.name, host, status: answer.status }).not.toMatchObject({ status: 421 });
      }
    }
  });

  it('refuses a state-changing request too, before doing anything', async () => {
    const port = new URL(control.url).port;
    const answer = await send(
      `${control.url}/rows?eventRecordId=00000000-0000-4000-8000-000000000001`,
      `rebound.example:${port}`,
      'DELETE',
    );
    expect(answer.status).toBe(421);
  });
});

describe('loopbackHostProblem', () => {
  it('accepts loopback names with the port and refuses anything else', () => {
    expect(loopbackHostProblem('127.0.0.1:8080', 8080)).toBeUndefined();
    expect(loopbackHostProblem('localhost:8080', 8080)).toBeUndefined();
    expect(loopbackHostProblem('[::1]:8080', 8080)).toBeUndefined();
    expect(loopbackHostProblem('127.0.0.1', 80)).toBeUndefined();
    expect(loopbackHostProblem('127.0.0.1', 443, 'https')).toBeUndefined();
    for (const host of [
      'evil.example:8080',
      'localhost.evil.example:8080',
      'localhost.:8080',
      '127.0.0.1:8081',
      '127.0.0.1',
      'user@127.0.0.1:8080',
      '127.0.0.1:8080/path',
      '0.0.0.0:8080',
      undefined,
    ]) {
      expect(loopbackHostProblem(host, 8080), String(host)).toMatch(/127\.0\.0\.1:8080/);
    }
  });
});
