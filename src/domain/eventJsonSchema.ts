import { z } from 'zod';
import {
  AuditEventSchema,
  caEventIds,
  LIMITS,
  MAX_JSON_BYTES_KEYWORD,
  MAX_JSON_DEPTH_KEYWORD,
  SCHEMA_VERSION,
} from './eventContract';

/** Where the published schema lives in the repository, relative to its root. */
export const AUDIT_EVENT_SCHEMA_FILE = `schemas/audit-event.v${SCHEMA_VERSION}.schema.json`;
export const AUDIT_EVENT_SCHEMA_ID = `urn:pki-siem-export:audit-event:v${SCHEMA_VERSION}`;

/**
 * The audit event contract as a JSON Schema (draft 2020-12), generated from
 * the zod schema so the two cannot drift. Rules JSON Schema has no keyword
 * for are carried by two keywords of our own, described in `$comment`.
 */
export function auditEventJsonSchema(): Record<string, unknown> {
  const { $schema, ...generated } = z.toJSONSchema(AuditEventSchema, {
    target: 'draft-2020-12',
    unrepresentable: 'throw',
  }) as Record<string, unknown>;
  return {
    $schema,
    $id: AUDIT_EVENT_SCHEMA_ID,
    title: `pki-siem-export audit event, contract version ${SCHEMA_VERSION}`,
    description:
      'One audit event of a PKI service, sent as the JSON body of one Service Bus message (contentType application/json, messageId = tenantId:id, application properties tenantId, eventId, schemaVersion). The tenantId property is required and must equal the body tenantId; each key appears once per object.',
    $comment: `Two keywords of our own carry limits JSON Schema cannot express; validators that do not know them ignore them, pki-siem-export enforces them. ${MAX_JSON_BYTES_KEYWORD}: the value serialized as compact JSON (JSON.stringify) is at most this many UTF-8 bytes. ${MAX_JSON_DEPTH_KEYWORD}: objects and arrays nest at most this many levels, the value itself being level 1. Lengths (maxLength) count Unicode code points.`,
    ...generated,
    allOf: [
      {
        $comment: 'CA events must name their CA.',
        if: { properties: { eventId: { enum: [...caEventIds()] } }, required: ['eventId'] },
        then: { required: ['ca'] },
      },
    ],
    [MAX_JSON_BYTES_KEYWORD]: LIMITS.eventBytes,
  };
}
