import { randomBytes, randomUUID } from 'node:crypto';
import { catalogEntry } from '../domain/catalog';
import { type Outcome } from '../domain/eventContract';
import { type AuditEventDraft } from './buildEvent';

/** Catalog events that record a refusal rather than something done. */
const DENIED_EVENT_IDS: ReadonlySet<number> = new Set([92, 23, 4888]);
/** CA events about a CA's own certificate (import, creation, renewal), which fill the certificate columns too. */
const CA_CERTIFICATE_EVENT_IDS: ReadonlySet<number> = new Set([28, 22, 12]);

/**
 * A plausible event of the given catalog ID, for operators checking a
 * connection end to end (`pki-siem-export enqueue --sample`). Addresses and
 * names come from documentation ranges (192.0.2.0/24, example.com). An
 * unknown event ID still yields a draft, which validation then refuses.
 */
export function sampleEvent(eventId: number, tenantId: string, sequence = 1, total = 1): AuditEventDraft {
  const entry = catalogEntry(eventId);
  const outcome: Outcome = DENIED_EVENT_IDS.has(eventId) ? 'Denied' : 'Success';
  const host = `sample-${sequence}.example.com`;
  return {
    eventId,
    tenantId,
    outcome,
    message: `Sample event ${sequence} of ${total}: ${entry?.summary ?? `event ${eventId}`}. Sent by pki-siem-export enqueue --sample; not a real PKI operation.`,
    actor: {
      upn: 'sample.operator@example.com',
      objectId: randomUUID(),
      ipAddress: `192.0.2.${(sequence % 254) + 1}`,
    },
    ca: { id: 'sample-issuing-ca', name: 'Sample Issuing CA' },
    ...(entry?.category === 'Certificate' || CA_CERTIFICATE_EVENT_IDS.has(eventId)
      ? {
          certificate: {
            serialNumber: randomBytes(16).toString('hex'),
            thumbprint: randomBytes(20).toString('hex'),
            subject: `CN=${host}`,
            subjectAltNames: [`DNS:${host}`],
            template: 'WebServer',
            requester: 'sample.operator@example.com',
          },
        }
      : {}),
    details: { sample: true, sequence, total },
  };
}
