import { createHash } from 'node:crypto';
import { canonicalJson } from '../../api/canonical.ts';

export { canonicalJson };

/** The hash that precedes the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** Everything a record says; the hash covers all of it and the previous record's hash. */
export interface AuditFields {
  seq: number;
  at: number;
  action: string;
  actor: string;
  namespace: string | null;
  organization: string | null;
  kind: string | null;
  name: string | null;
  client: string | null;
  subject: string | null;
  outcome: string;
  data: Record<string, unknown>;
}

export function recordHash(prevHash: string, fields: AuditFields): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalJson(fields)).digest('hex');
}

export interface ChainRecord extends AuditFields {
  prevHash: string;
  hash: string;
}

export type ChainVerdict =
  | { ok: true; records: number; head: string }
  | { ok: false; records: number; seq: number; problem: string };

/**
 * Re-walks a chain in sequence order. Names the first record whose content no longer
 * matches its hash, whose link to its predecessor is broken, or that follows a gap
 * (a deleted record).
 */
export async function verifyChain(records: AsyncIterable<ChainRecord> | Iterable<ChainRecord>): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let count = 0;
  for await (const r of records) {
    count++;
    if (r.seq !== expectedSeq) {
      return { ok: false, records: count, seq: r.seq, problem: `record ${expectedSeq}${r.seq > expectedSeq + 1 ? `–${r.seq - 1}` : ''} is missing before record ${r.seq}` };
    }
    if (r.prevHash !== prev) return { ok: false, records: count, seq: r.seq, problem: `record ${r.seq} does not link to record ${r.seq - 1}` };
    const { prevHash, hash, ...fields } = r;
    if (recordHash(prevHash, fields) !== hash) return { ok: false, records: count, seq: r.seq, problem: `record ${r.seq} was changed after it was written` };
    prev = hash;
    expectedSeq++;
  }
  return { ok: true, records: count, head: prev };
}
