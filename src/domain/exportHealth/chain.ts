import type { ChainedHealthRow, HealthRowContent, SignedHealthRow } from './healthRow';
import { GENESIS_HASH } from './healthRow';
import { base64url, protectedHeader, rowHash, signedPayload, signingInput } from './canonicalRow';
import type { HealthSigner } from './signing';

/** Where a tenant's chain stands: the last row's sequence number and hash. */
export interface ChainHead {
  sequence: number;
  hash: string;
}

export const EMPTY_CHAIN: ChainHead = { sequence: 0, hash: GENESIS_HASH };

/**
 * Places contents after `head`, signs each and links each to the previous
 * one. Returns the sealed rows and the new head; nothing is stored here.
 */
export async function sealRows(
  contents: readonly HealthRowContent[],
  head: ChainHead,
  signer: HealthSigner,
  now: Date,
): Promise<{ rows: SignedHealthRow[]; head: ChainHead }> {
  const { keyId, algorithm } = await signer.currentKey();
  const header = protectedHeader(algorithm, keyId);
  const rows: SignedHealthRow[] = [];
  let current = head;
  for (const content of contents) {
    const chained: ChainedHealthRow = {
      ...content,
      Sequence_d: current.sequence + 1,
      PreviousHash_s: current.hash,
      KeyId_s: keyId,
    };
    const signature = await signer.sign(keyId, algorithm, signingInput(header, signedPayload(chained)));
    const row: SignedHealthRow = {
      ...chained,
      Signature_s: `${header}..${base64url(signature)}`,
      TimeGenerated: now.toISOString(),
    };
    rows.push(row);
    current = { sequence: row.Sequence_d, hash: rowHash(row) };
  }
  return { rows, head: current };
}
