import { beforeEach, describe, expect, it } from 'vitest';
import type { Forwarder } from '../../src/domain/forwarder';
import type { FakeIngestionSink } from '../support/fakeIngestion';
import type { CapturingLogger, InMemoryParkedEventStore, RecordingAuditQueue } from '../support/fakes';
import {
  auditEvent,
  forwarderFakes,
  forwarderOver,
  received,
  savedConnection,
} from '../support/forwarderFixtures';

/**
 * Producer integrity (issue 13): a message belongs to a tenant only when its tenantId application
 * property and its body agree. A message that disagrees with itself, or whose body names a key
 * twice, is parked as invalidMessage under nobody (unattributed) and reaches no workspace.
 */

const TENANT_A = '11111111-1111-4111-8111-111111111111';
const TENANT_B = '22222222-2222-4222-8222-222222222222';

let parked: InMemoryParkedEventStore;
let sink: FakeIngestionSink;
let queue: RecordingAuditQueue;
let logger: CapturingLogger;
let forwarder: Forwarder;

beforeEach(async () => {
  const fakes = forwarderFakes();
  ({ parked, sink, queue, logger } = fakes);
  await fakes.connections.create(savedConnection(TENANT_A));
  await fakes.connections.create(savedConnection(TENANT_B));
  forwarder = forwarderOver(fakes);
});

function bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

async function forwardOne(message: ReturnType<typeof received>) {
  return forwarder.forwardBatch([message], { invocationId: 'inv-1', logger });
}

/** The one parked entry of a message. */
function parkedOf(messageId: string) {
  const found = parked.all().filter((entry) => entry.messageId === messageId);
  expect(found).toHaveLength(1);
  return found[0] as NonNullable<(typeof found)[number]>;
}

function expectNothingDelivered(): void {
  expect(sink.delivered).toEqual([]);
  expect(queue.sent).toEqual([]);
}

describe('Forwarder: producer integrity', () => {
  it("parks a body naming tenant B with A's tenantId property under nobody, saying so", async () => {
    const event = auditEvent(TENANT_B);
    const outcome = await forwardOne(received(bytes(JSON.stringify(event)), { tenantId: TENANT_A }, 'm-1'));
    expect(outcome).toMatchObject({ delivered: 0, parked: 1, invalid: 1 });
    const entry = parkedOf('m-1');
    expect(entry).toMatchObject({ tenantId: undefined, category: 'invalidMessage', messageId: 'm-1' });
    expect(entry.reason).toContain(`tenantId application property (${TENANT_A}) disagrees`);
    expect(entry.reason).toContain(TENANT_B);
    expectNothingDelivered();
  });

  it('compares the property and the body case-insensitively', async () => {
    const event = auditEvent(TENANT_A);
    const outcome = await forwardOne(
      received(bytes(JSON.stringify(event)), { tenantId: TENANT_A.toUpperCase() }, 'm-2'),
    );
    expect(outcome).toMatchObject({ delivered: 1, parked: 0 });
  });

  it('parks a body that names tenantId twice, whichever value JSON.parse would keep', async () => {
    const event = auditEvent(TENANT_A);
    // Property and last value agree (what JSON.parse keeps), the first value names another tenant.
    const text = JSON.stringify(event).replace('{', `{"tenantId":"${TENANT_B}",`);
    expect((JSON.parse(text) as { tenantId: string }).tenantId).toBe(TENANT_A);
    await forwardOne(received(bytes(text), { tenantId: TENANT_A }, 'm-3'));
    const entry = parkedOf('m-3');
    expect(entry).toMatchObject({ tenantId: undefined, category: 'invalidMessage', body: text });
    expect(entry.reason).toContain('names the key "tenantId" twice');
    expectNothingDelivered();
  });

  it('sees a repeated key however it is spelled, and at any depth', async () => {
    const event = auditEvent(TENANT_A);
    const escaped = JSON.stringify(event).replace('{', `{"tenant\\u0049d":"${TENANT_B}",`);
    await forwardOne(received(bytes(escaped), { tenantId: TENANT_A }, 'm-4'));
    expect(parkedOf('m-4').reason).toContain('names the key "tenantId" twice');

    const nested = JSON.stringify(event).replace('"upn":', '"upn":"x@contoso.com","upn":');
    expect(nested).not.toBe(JSON.stringify(event));
    await forwardOne(received(bytes(nested), { tenantId: TENANT_A }, 'm-5'));
    expect(parkedOf('m-5').reason).toContain('names the key "upn" twice');
    expectNothingDelivered();
  });

  it('does not mistake a key-like string value or the same key in sibling objects for a repeat', async () => {
    const event = auditEvent(TENANT_A, {
      message: 'said "tenantId": twice, "tenantId": \\ "x"',
      details: { a: { k: 1 }, b: { k: 2 } },
    });
    const outcome = await forwardOne(received(bytes(JSON.stringify(event)), { tenantId: TENANT_A }, 'm-6'));
    expect(parked.all()).toEqual([]);
    expect(outcome).toMatchObject({ delivered: 1 });
  });

  it('parks a message without a tenantId property, or with one that is no tenant id, under nobody', async () => {
    const event = auditEvent(TENANT_A);
    await forwardOne(received(bytes(JSON.stringify(event)), { tenantId: undefined }, 'm-7'));
    expect(parkedOf('m-7')).toMatchObject({ tenantId: undefined, category: 'invalidMessage' });
    expect(parkedOf('m-7').reason).toContain('no tenantId application property');

    await forwardOne(received(bytes(JSON.stringify(event)), { tenantId: 42 }, 'm-8'));
    expect(parkedOf('m-8').reason).toContain('("42") is not a tenant id');
    expectNothingDelivered();
  });

  it('files an invalid body that contradicts its property under nobody, not under the tenant it claims', async () => {
    const broken = { ...auditEvent(TENANT_B), eventId: 9999 };
    await forwardOne(received(bytes(JSON.stringify(broken)), { tenantId: TENANT_A }, 'm-9'));
    expect(parkedOf('m-9')).toMatchObject({ tenantId: undefined, category: 'invalidMessage' });
    expect(parkedOf('m-9').reason).toContain('disagrees');
    expect(parkedOf('m-9').reason).toContain('not a valid audit event either: eventId');
  });

  it('parks a deeply nested body under nobody and still delivers the rest of the batch', async () => {
    // 12 KB of nested arrays: JSON.parse takes it, a recursive walk of it overflows the stack.
    const deep = `{"x":${'['.repeat(6000)}${']'.repeat(6000)}}`;
    const good = auditEvent(TENANT_A);
    const outcome = await forwarder.forwardBatch(
      [
        received(bytes(deep), { tenantId: TENANT_A }, 'm-deep'),
        received(bytes(JSON.stringify(good)), { tenantId: TENANT_A }, 'm-good'),
      ],
      { invocationId: 'inv-1', logger },
    );
    expect(outcome).toMatchObject({ delivered: 1, parked: 1, invalid: 1 });
    expect(parkedOf('m-deep')).toMatchObject({ category: 'invalidMessage' });
    expect(parkedOf('m-deep').tenantId).not.toBe(TENANT_B);
    expect(sink.delivered.map((upload) => upload.tenantId)).toEqual([TENANT_A]);
  });
});
