/**
 * How an audit record is hashed. The bytes are fixed for good: chains written by any earlier
 * release must keep verifying, so the hash of known records is pinned here.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from '../../../api/canonical.ts';
import { AUDIT_KEY_PURPOSE, GENESIS_HASH, auditKey, keyingTag, recordHash, verifyChain, type AuditFields, type ChainRecord } from '../../../server/audit/chain.ts';
import { Sealer } from '../../../server/secrets/sealer.ts';

const issued: AuditFields = {
  seq: 1,
  at: 1_700_000_000_000,
  action: 'token.issued',
  actor: 'forge-sync',
  namespace: 'blixit',
  organization: 'forge-supplies',
  kind: null,
  name: null,
  client: 'forge-sync',
  subject: null,
  outcome: 'success',
  data: { scope: 'inventory:read', grant: 'client_credentials', dropped: ['inventory:write'] },
};
const applied: AuditFields = {
  seq: 2,
  at: 1_700_000_000_001,
  action: 'object.applied',
  actor: 'git:Zoë <zoe@blixit.example>',
  namespace: 'blixit',
  organization: null,
  kind: 'Organization',
  name: 'cascade',
  client: null,
  subject: 'ü"\\\u2028',
  outcome: 'success',
  data: { source: { commit: 'abc', z: null, a: [1, { y: 2, x: 'é' }] } },
};

/** The definition: SHA-256 over the previous hash, a newline and the canonical JSON of the fields. */
const definition = (prevHash: string, fields: object) =>
  createHash('sha256')
    .update(`${prevHash}\n${canonicalJson(fields)}`)
    .digest('hex');

describe('recordHash', () => {
  it('gives the hashes records have always had', () => {
    const first = recordHash(GENESIS_HASH, issued);
    expect(first).toBe('248882424cc9f0dd34e01975f6b651f3f789880d9a38a4507927baa394fb49f2');
    expect(recordHash(first, applied)).toBe('3f3e2abeea1c390e45bac386db701602b90c3e7d17772247d76674f783751fd2');
  });

  it('is SHA-256 of the previous hash, a newline and the canonical JSON of the fields', () => {
    for (const fields of [issued, applied, { ...issued, data: {} }, { ...applied, at: 0, seq: 9_007_199_254_740_991 }]) {
      expect(recordHash('ab'.repeat(32), fields)).toBe(definition('ab'.repeat(32), fields));
    }
  });

  it('hashes a record with a missing, extra or object-valued field by the same definition', () => {
    const odd = [
      { ...issued, kind: undefined },
      { ...issued, extra: 'field' },
      { ...issued, actor: { b: 1, a: 2 } },
    ] as unknown as AuditFields[];
    for (const fields of odd) expect(recordHash(GENESIS_HASH, fields)).toBe(definition(GENESIS_HASH, fields));
  });
});

describe('recordHash with an audit key', () => {
  const sealer = new Sealer('chain-spec-secret-0123456789abcdefghijklmnop');
  const key = auditKey((purpose) => sealer.derive(purpose));

  it('is HMAC-SHA256 under a key derived from GATEHOUSE_SECRET_KEY with its own label, over the same bytes', () => {
    const bytes = Buffer.from(sealer.derive(AUDIT_KEY_PURPOSE), 'base64url');
    expect(key.key.export()).toEqual(bytes);
    expect(bytes).not.toEqual(Buffer.from(sealer.derive('cookie signing v1'), 'base64url'));
    expect(recordHash(GENESIS_HASH, issued, key)).toBe(
      createHmac('sha256', bytes)
        .update(`${GENESIS_HASH}\n${canonicalJson(issued)}`)
        .digest('hex'),
    );
    expect(recordHash(GENESIS_HASH, issued, key)).not.toBe(recordHash(GENESIS_HASH, issued));
  });

  it('names the key by a hash of it, never the key', () => {
    expect(key.id).toMatch(/^[0-9a-f]{8}$/);
    expect(key.id).toBe(createHash('sha256').update(key.key.export()).digest('hex').slice(0, 8));
  });
});

describe('verifyChain', () => {
  const chain = (): ChainRecord[] => {
    const first = { ...issued, prevHash: GENESIS_HASH, hash: recordHash(GENESIS_HASH, issued) };
    return [first, { ...applied, prevHash: first.hash, hash: recordHash(first.hash, applied) }];
  };

  it('accepts an intact chain and names its head', async () => {
    const records = chain();
    expect(await verifyChain(records)).toEqual({ ok: true, records: 2, head: records[1]!.hash, keyedFrom: null });
  });

  it('names the record whose data changed after it was written', async () => {
    const records = chain();
    records[1]!.data = { source: { commit: 'abd' } };
    expect(await verifyChain(records)).toEqual({ ok: false, records: 2, seq: 2, problem: 'record 2 was changed after it was written' });
  });
});

describe('verifyChain from a switch point on', () => {
  const sealer = new Sealer('chain-spec-secret-0123456789abcdefghijklmnop');
  const key = auditKey((purpose) => sealer.derive(purpose));
  /** Record 1 unkeyed (written before), record 2 keyed. */
  const chain = (): { records: ChainRecord[]; keying: { from: number; keyId: string; tag: string } } => {
    const first = { ...issued, prevHash: GENESIS_HASH, hash: recordHash(GENESIS_HASH, issued) };
    const second = { ...applied, prevHash: first.hash, hash: recordHash(first.hash, applied, key) };
    return { records: [first, second], keying: { from: 2, keyId: key.id, tag: keyingTag(key, 2, first.hash) } };
  };

  it('accepts the unkeyed records before it and the keyed ones after', async () => {
    const { records, keying } = chain();
    expect(await verifyChain(records, { keying, key })).toEqual({ ok: true, records: 2, head: records[1]!.hash, keyedFrom: 2 });
  });

  it('refuses an unkeyed record after it, naming the downgrade', async () => {
    const { records, keying } = chain();
    records[1]!.hash = recordHash(records[1]!.prevHash, applied);
    expect(await verifyChain(records, { keying, key })).toMatchObject({ ok: false, seq: 2, problem: 'record 2 carries an unkeyed hash, but the chain is keyed from record 2' });
  });
});
