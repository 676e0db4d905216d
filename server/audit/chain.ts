import { hash } from 'node:crypto';
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
  return hash('sha256', `${prevHash}\n${fieldsJson(fields)}`, 'hex');
}

/** The record's fields in canonical order (`canonicalJson` sorts keys; these are already sorted). */
const FIELD_ORDER = ['action', 'actor', 'at', 'client', 'data', 'kind', 'name', 'namespace', 'organization', 'outcome', 'seq', 'subject'] as const;

/** Exactly the record's fields, each defined, and none but `data` an object. */
function plainRecord(fields: AuditFields): boolean {
  if (Object.keys(fields).length !== FIELD_ORDER.length) return false;
  for (const key of FIELD_ORDER) {
    const value: unknown = fields[key];
    if (value === undefined || (key !== 'data' && typeof value === 'object' && value !== null)) return false;
  }
  return true;
}

/**
 * `canonicalJson(fields)`, byte for byte, without sorting keys at run time: every runtime
 * record is hashed with it, and existing chains must keep verifying. Anything but exactly
 * the record's fields, all defined, takes the generic path.
 */
function fieldsJson(fields: AuditFields): string {
  if (!plainRecord(fields)) return canonicalJson(fields);
  const q = JSON.stringify;
  return `{"action":${q(fields.action)},"actor":${q(fields.actor)},"at":${q(fields.at)},"client":${q(fields.client)},"data":${canonicalJson(fields.data)},"kind":${q(fields.kind)},"name":${q(fields.name)},"namespace":${q(fields.namespace)},"organization":${q(fields.organization)},"outcome":${q(fields.outcome)},"seq":${q(fields.seq)},"subject":${q(fields.subject)}}`;
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
