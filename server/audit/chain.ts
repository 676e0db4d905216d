import { createHash, createHmac, createSecretKey, hash, timingSafeEqual, type KeyObject } from 'node:crypto';
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

/**
 * The key records are hashed with from the chain's switch point on: HMAC-SHA256 instead of
 * SHA-256, so that someone who can write to the store but does not hold GATEHOUSE_SECRET_KEY
 * cannot recompute the chain after changing a record. Derived, never stored.
 */
export interface AuditKey {
  /** A KeyObject, not bytes: createHmac imports a Buffer key on every call (~40 µs here, against ~4 µs). */
  readonly key: KeyObject;
  /** Names the key (a hash of it, not the key) so a store keyed with another secret says so. */
  readonly id: string;
}

/** The HKDF label keeps this key apart from every other key derived from the same secret. */
export const AUDIT_KEY_PURPOSE = 'audit chain hmac v1';

export function auditKey(derive: (purpose: string) => string): AuditKey {
  return auditKeyOf(Buffer.from(derive(AUDIT_KEY_PURPOSE), 'base64url'));
}

/** The key from its bytes (as handed to the audit thread). */
export function auditKeyOf(bytes: Uint8Array): AuditKey {
  return { key: createSecretKey(bytes), id: createHash('sha256').update(bytes).digest('hex').slice(0, 8) };
}

/** Unkeyed (records before the switch point): SHA-256. Keyed: HMAC-SHA256 under `key`, over the same bytes. */
export function recordHash(prevHash: string, fields: AuditFields, key?: AuditKey): string {
  const input = `${prevHash}\n${fieldsJson(fields)}`;
  return key ? createHmac('sha256', key.key).update(input).digest('hex') : hash('sha256', input, 'hex');
}

/**
 * Where keying starts: record `from` is the first keyed one. The tag (HMAC under the key)
 * binds `from` to the hash of the record before it, so without the key neither can the
 * switch point be moved later (which would let keyed records be rewritten as unkeyed ones)
 * nor the unkeyed records before it be rewritten.
 */
export interface ChainKeying {
  from: number;
  keyId: string;
  tag: string;
}

export function keyingTag(key: AuditKey, from: number, prevHash: string): string {
  return createHmac('sha256', key.key).update(`gatehouse audit chain keyed from ${from} after ${prevHash}`).digest('hex');
}

const sameHex = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

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

export type ChainVerdict = { ok: true; records: number; head: string; keyedFrom: number | null } | { ok: false; records: number; seq: number; problem: string };

export interface VerifyOptions {
  /** The switch point the store records; none: the chain was never keyed. */
  keying?: ChainKeying | null;
  /** Needed to verify a keyed chain. */
  key?: AuditKey;
}

/**
 * Re-walks a chain in sequence order. Names the first record whose content no longer
 * matches its hash, whose link to its predecessor is broken, or that follows a gap
 * (a deleted record). From the switch point on, only the keyed hash is accepted: a record
 * there with a plain SHA-256 hash is a downgrade, not an old record.
 */
export async function verifyChain(records: AsyncIterable<ChainRecord> | Iterable<ChainRecord>, options: VerifyOptions = {}): Promise<ChainVerdict> {
  const keying = options.keying ?? null;
  const key = options.key;
  if (keying) {
    if (!key) return { ok: false, records: 0, seq: keying.from, problem: `the chain is keyed from record ${keying.from}: verifying it needs GATEHOUSE_SECRET_KEY` };
    if (keying.keyId !== key.id) {
      return { ok: false, records: 0, seq: keying.from, problem: `the chain was keyed with another GATEHOUSE_SECRET_KEY (key id ${keying.keyId}, this one is ${key.id})` };
    }
  }
  const checkTag = (prevHash: string): boolean => !keying || !key || sameHex(keyingTag(key, keying.from, prevHash), keying.tag);
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
    const keyed = keying !== null && r.seq >= keying.from;
    if (keyed && r.seq === keying.from && !checkTag(prevHash)) {
      return { ok: false, records: count, seq: r.seq, problem: `the switch to a keyed chain at record ${r.seq} does not match its tag: the switch point or the records before it were changed` };
    }
    if (!sameHex(recordHash(prevHash, fields, keyed ? key : undefined), hash)) {
      const downgraded = keyed && recordHash(prevHash, fields) === hash;
      return { ok: false, records: count, seq: r.seq, problem: downgraded ? `record ${r.seq} carries an unkeyed hash, but the chain is keyed from record ${keying.from}` : `record ${r.seq} was changed after it was written` };
    }
    prev = hash;
    expectedSeq++;
  }
  // A switch point beyond the end would make every record an unkeyed one.
  if (keying && count < keying.from - 1) {
    return { ok: false, records: count, seq: keying.from, problem: `the chain is said to be keyed from record ${keying.from}, but it ends at record ${count}` };
  }
  // Keyed, with no keyed record yet: the tag still vouches for the head it was made after.
  if (keying && count === keying.from - 1 && !checkTag(prev)) {
    return { ok: false, records: count, seq: keying.from, problem: `the switch to a keyed chain at record ${keying.from} does not match its tag: the switch point or the records before it were changed` };
  }
  return { ok: true, records: count, head: prev, keyedFrom: keying?.from ?? null };
}
