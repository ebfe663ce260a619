import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { isServiceBusError, ServiceBusClient } from '@azure/service-bus';
import { describe, expect, inject, it } from 'vitest';
import { ServiceBusStandIn, ServiceBusStandInAdmin } from '../support/serviceBus';

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

describe('ServiceBusStandIn lifecycle', () => {
  it('listens on loopback only, on ports the OS chose', async () => {
    const standIn = await new ServiceBusStandIn({ queues: { lifecycle: {} } }).start();
    try {
      expect(standIn.endpoint).toMatch(/^sb:\/\/127\.0\.0\.1:\d+\/$/);
      expect(standIn.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(standIn.connectionString).toContain('UseDevelopmentEmulator=true;');
      expect(new URL(standIn.endpoint).port).not.toBe('5672');
    } finally {
      await standIn.stop();
    }
  });

  it('stop() closes client connections and leaves nothing listening', async () => {
    const standIn = await new ServiceBusStandIn({ queues: { lifecycle: {} } }).start();
    const amqpPort = Number(new URL(standIn.endpoint).port);
    const adminUrl = standIn.adminUrl;
    const client = new ServiceBusClient(standIn.connectionString, {
      retryOptions: { maxRetries: 0, timeoutInMs: 2_000 },
    });
    const sender = client.createSender('lifecycle');
    await sender.sendMessages({ body: 'before stop' });
    await expect(tcpConnect('127.0.0.1', amqpPort)).resolves.toBeUndefined();

    await standIn.stop();

    await expect(tcpConnect('127.0.0.1', amqpPort)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(fetch(`${adminUrl}/queues`)).rejects.toThrow();
    await expect(sender.sendMessages({ body: 'after stop' })).rejects.toBeDefined();
    await client.close();
  });

  it('lets the process exit after stop() while a lock and a scheduled message are pending', async () => {
    const probe = join(__dirname, 'fixtures', 'serviceBusStandInExitProbe.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', probe], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise<number | string>((resolve) => {
      const guard = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('still running 20 s after starting: something keeps the process alive');
      }, 20_000);
      child.once('exit', (code) => {
        clearTimeout(guard);
        resolve(code ?? -1);
      });
    });
    expect(exitCode, output).toBe(0);
    expect(output).toContain('stopped');
  });
});

describe('authentication', () => {
  it('refuses a client whose SAS key is wrong (UnauthorizedAccess) and stores nothing', async () => {
    const admin = new ServiceBusStandInAdmin(inject('serviceBusAdminUrl'));
    const queue = await admin.createUniqueQueue();
    const wrongKey = inject('serviceBusConnectionString').replace(
      /SharedAccessKey=[^;]+;/,
      'SharedAccessKey=bm90IHRoZSBrZXk=;',
    );
    const client = new ServiceBusClient(wrongKey, { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
    const error: unknown = await client
      .createSender(queue)
      .sendMessages({ body: 'intruder' })
      .catch((caught: unknown) => caught);
    expect(isServiceBusError(error) ? error.code : error).toBe('UnauthorizedAccess');
    expect((await admin.getQueue(queue)).messagesReceived).toBe(0);
    await client.close();
  });
});
