/**
 * Conformance of the audit repository: the audit log, a hash chain (optionally keyed with an
 * HMAC) queried newest first and walked in order. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { GENESIS_HASH, auditKey, keyingTag, recordHash, type AuditKey, type ChainRecord } from '../../../../server/audit/chain.ts';
import { checkAgainst, openCheckpoint, signCheckpoint } from '../../../../server/audit/checkpoint.ts';
import { LocalSigningKey } from '../../../../server/oidc/signer.ts';
import { Sealer } from '../../../../server/secrets/sealer.ts';
import type { Store, StoreOptions } from '../../../../server/store/index.ts';
import { recompute } from '../../../support/audit.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE, appendAll, entry } from '../../../support/store-fixtures.ts';
import type { AuditAction } from '../../../../server/audit/actions.ts';

const backends = await storeBackends();
const { open } = backends;

const keyOf = (secret: string): AuditKey => {
  const sealer = new Sealer(secret);
  return auditKey((purpose) => sealer.derive(purpose));
};
const KEY = keyOf('audit-spec-secret-0123456789abcdefghijklmnop');
const OTHER_KEY = keyOf('another-secret-0123456789abcdefghijklmnopqrs');

backends.each('the audit repository', (backend) => {
  describe('audit chain', () => {
    async function chainOfFive(): Promise<Store> {
      const store = await open(await backend.fresh());
      await appendAll(
        store,
        [1, 2, 3, 4, 5].map((i) => entry(i)),
      );
      return store;
    }

    it('links every appended record to the one before, and verifies', async () => {
      const store = await open(await backend.fresh());
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 0 });
      await appendAll(
        store,
        [1, 2, 3].map((i) => entry(i, { organization: 'cascade', namespace: NAMESPACE, client: 'cascade-portal', subject: `user-${i}` })),
      );
      const records = (await store.audit.query()).reverse();
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(records[1]!.prevHash).toBe(records[0]!.hash);
      expect(records[2]!.prevHash).toBe(records[1]!.hash);
      expect(records[0]).toMatchObject({ action: 'Organization.updated', actor: 'controller', organization: 'cascade', client: 'cascade-portal', subject: 'user-1', outcome: 'success', data: { i: 1 } });
      expect(await store.verifyAudit()).toEqual({ ok: true, records: 3, head: records[2]!.hash, keyedFrom: null });
      expect(await store.audit.head()).toEqual({ seq: 3, hash: records[2]!.hash, keying: null });
    });

    it('detects a record edited after it was written', async () => {
      const store = await chainOfFive();
      await store.driver.run('UPDATE audit SET data = ? WHERE seq = ?', [JSON.stringify({ i: 3, approvedBy: 'someone-else' }), 3]);
      expect(await store.verifyAudit()).toEqual({ ok: false, records: 3, seq: 3, problem: 'record 3 was changed after it was written' });
    });

    it('detects a record rewritten with a fresh hash, by the broken link to the next one', async () => {
      const store = await chainOfFive();
      const [third] = await store.audit.query({ before: 4, limit: 1 });
      const { prevHash, hash: _old, ...fields } = third!;
      const forged = { ...fields, actor: 'someone-else' };
      await store.driver.run('UPDATE audit SET actor = ?, hash = ? WHERE seq = ?', [forged.actor, recordHash(prevHash, forged), 3]);
      expect(await store.verifyAudit()).toEqual({ ok: false, records: 4, seq: 4, problem: 'record 4 does not link to record 3' });
    });

    it('detects a record deleted from the middle', async () => {
      const store = await chainOfFive();
      await store.driver.run('DELETE FROM audit WHERE seq = ?', [3]);
      expect(await store.verifyAudit()).toEqual({ ok: false, records: 3, seq: 4, problem: 'record 3 is missing before record 4' });
    });

    it('detects records cut from the end, against the recorded head', async () => {
      const store = await chainOfFive();
      await store.driver.run('DELETE FROM audit WHERE seq = ?', [5]);
      expect(await store.verifyAudit()).toEqual({ ok: false, records: 4, seq: 5, problem: 'record 5 is missing from the end of the chain' });
      await store.driver.run('DELETE FROM audit WHERE seq >= ?', [3]);
      expect(await store.verifyAudit()).toEqual({ ok: false, records: 2, seq: 3, problem: 'records 3–5 are missing from the end of the chain' });
    });

    it('is queried by organization and namespace, newest first, a page at a time', async () => {
      const store = await open(await backend.fresh());
      const who = [
        ['cascade', NAMESPACE],
        ['forge', NAMESPACE],
        ['cascade', NAMESPACE],
        ['cascade', 'other'],
        ['cascade', NAMESPACE],
        ['forge', NAMESPACE],
        ['cascade', NAMESPACE],
        ['cascade', NAMESPACE],
      ] as const;
      await appendAll(
        store,
        who.map(([organization, namespace], i) => entry(i + 1, { organization, namespace, action: i % 2 ? 'token.issued' : 'login.succeeded' })),
      );

      const seqs = (records: { seq: number }[]) => records.map((r) => r.seq);
      expect(seqs(await store.audit.query({ namespace: NAMESPACE, organization: 'cascade' }))).toEqual([8, 7, 5, 3, 1]);
      expect(seqs(await store.audit.query({ organization: 'cascade' }))).toEqual([8, 7, 5, 4, 3, 1]);
      expect(seqs(await store.audit.query({ namespace: 'other' }))).toEqual([4]);
      expect(seqs(await store.audit.query({ namespace: NAMESPACE, action: 'token.issued' }))).toEqual([8, 6, 2]);

      const pages: number[][] = [];
      let before: number | undefined;
      for (;;) {
        const page = await store.audit.query({ namespace: NAMESPACE, organization: 'cascade', limit: 2, ...(before ? { before } : {}) });
        if (page.length === 0) break;
        pages.push(seqs(page));
        before = page[page.length - 1]!.seq;
      }
      expect(pages).toEqual([[8, 7], [5, 3], [1]]);
    });

    it('stays one contiguous, valid chain when 50 transactions append at once', async () => {
      const store = await open(await backend.fresh());
      const records = await Promise.all(Array.from({ length: 50 }, (_, i) => store.transaction((repo) => repo.audit.append(entry(i, { actor: `client-${i}` }), 1_700_000_000_000 + i))));
      expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.actor)).size).toBe(50);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 50 });
    });

    (backend.sharedByReplicas ? it : it.skip)('stays one chain when two replicas append at once, from the very first record', async () => {
      const options = await backend.fresh();
      const [a, b] = await Promise.all([open(options), open(options)]);
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a! : b!).transaction((repo) => repo.audit.append(entry(i, { actor: `replica-${i % 2}` }), 1_700_000_000_000 + i))));
      expect(await a!.verifyAudit()).toMatchObject({ ok: true, records: 40 });
    });

    it('appends a batch in order, moving the head once, and reads every record back by its sequence number', async () => {
      const store = await open(await backend.fresh());
      await appendAll(store, [entry(1)]);
      const written = await store.transaction((repo) => repo.audit.appendBatch([1, 2, 3].map((i) => ({ entry: entry(i + 1, { outcome: 'failure' }), at: 2000 + i }))));
      expect(written.map((r) => [r.seq, r.at, r.outcome])).toEqual([
        [2, 2001, 'failure'],
        [3, 2002, 'failure'],
        [4, 2003, 'failure'],
      ]);
      expect(written[0]!.prevHash).toBe((await store.audit.record(1))!.hash);
      expect(await store.audit.head()).toEqual({ seq: 4, hash: written[2]!.hash, keying: null });
      expect(await store.audit.record(3)).toEqual(written[1]);
      expect(await store.audit.record(5)).toBeUndefined();
      expect(await store.transaction((repo) => repo.audit.appendBatch([]))).toEqual([]);
      expect(await store.audit.head()).toMatchObject({ seq: 4 });
    });

    (backend.sharedByReplicas ? it : it.skip)('appends after a remembered head in one statement, and writes nothing once that head has moved', async () => {
      const store = await open(await backend.fresh());
      const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ entry: entry(from + i), at: 3000 + from + i }));
      const first = await store.audit.appendIfHead({ seq: 0, hash: GENESIS_HASH, keying: null }, batch(1, 5));
      expect(first!.records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(await store.audit.head()).toEqual(first!.head);
      expect(first!.head).toEqual({ seq: 5, hash: first!.records[4]!.hash, keying: null });
      const second = await store.audit.appendIfHead(first!.head, batch(6, 70));
      expect(second!.records[0]!.prevHash).toBe(first!.head.hash);
      expect(await store.audit.head()).toEqual(second!.head);
      expect(await store.audit.record(40)).toEqual(second!.records[34]);
      // Another writer's head is stale now: the same head, or an older one, writes nothing.
      for (const stale of [first!.head, { ...second!.head, hash: first!.head.hash }, { ...second!.head, seq: 74 }]) {
        expect(await store.audit.appendIfHead(stale, batch(100, 3))).toBeUndefined();
      }
      expect(await store.audit.head()).toEqual(second!.head);
      expect(await store.audit.record(76)).toBeUndefined();
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 75 });
      // Switching to keyed hashes is left to the locked append, which records the switch point.
      store.useAuditKey(KEY);
      expect(await store.audit.appendIfHead(second!.head, batch(76, 1))).toBeUndefined();
      const locked = await store.transaction((repo) => repo.audit.appendLocked(batch(76, 2)));
      expect(locked.head).toEqual({ seq: 77, hash: locked.records[1]!.hash, keying: { from: 76, keyId: KEY.id, tag: keyingTag(KEY, 76, second!.head.hash) } });
      expect(await store.audit.head()).toEqual(locked.head);
      const keyed = await store.audit.appendIfHead(locked.head, batch(78, 2));
      expect(await store.audit.head()).toEqual(keyed!.head);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 79, keyedFrom: 76 });
    });

    it('walks the whole chain in order, a page at a time, and an empty chain yields nothing', async () => {
      const store = await open(await backend.fresh());
      const walked = async (pageSize?: number) => {
        const seqs: number[] = [];
        for await (const r of store.audit.walk(pageSize)) seqs.push(r.seq);
        return seqs;
      };
      expect(await walked()).toEqual([]);
      expect(await store.audit.head()).toMatchObject({ seq: 0, keying: null });
      await appendAll(
        store,
        [1, 2, 3, 4, 5].map((i) => entry(i)),
      );
      expect(await walked(2)).toEqual([1, 2, 3, 4, 5]);
      expect(await walked(5)).toEqual([1, 2, 3, 4, 5]);
      expect(await walked()).toEqual([1, 2, 3, 4, 5]);
    });

    it('is queried by any of several organizations, action prefix, actor, client, subject, time and cursor, oldest first when asked', async () => {
      const store = await open(await backend.fresh());
      const rows = [
        { organization: 'cascade', action: 'token.issued' as AuditAction, actor: 'a', client: 'web', subject: 'ana' },
        { organization: 'forge', action: 'token.revoked' as AuditAction, actor: 'b', client: 'api', subject: 'bo' },
        // Names no longer written, as older records may carry: the prefix must not match them by accident.
        { organization: 'pinnacle', action: 'login' as AuditAction, actor: 'a', client: 'web', subject: 'ana' },
        { organization: 'cascade', action: 'token_issued' as AuditAction, actor: 'b', client: 'api', subject: 'cy' },
      ];
      await appendAll(
        store,
        rows.map((r, i) => entry(i + 1, { namespace: NAMESPACE, ...r })),
      );
      const seqs = async (q: Parameters<Store['audit']['query']>[0]) => (await store.audit.query(q)).map((r) => r.seq);
      expect(await seqs({ organizations: ['cascade', 'forge'] })).toEqual([4, 2, 1]);
      expect(await seqs({ organizations: [] })).toEqual([]);
      // A prefix is a prefix, not a LIKE pattern: "_" matches only itself.
      expect(await seqs({ actionPrefix: 'token.' })).toEqual([2, 1]);
      expect(await seqs({ actionPrefix: 'token_' })).toEqual([4]);
      expect(await seqs({ actor: 'a' })).toEqual([3, 1]);
      expect(await seqs({ client: 'api' })).toEqual([4, 2]);
      expect(await seqs({ subject: 'ana' })).toEqual([3, 1]);
      // appendAll writes record i at 1_700_000_000_000 + (i - 1).
      expect(await seqs({ since: 1_700_000_000_001, until: 1_700_000_000_003 })).toEqual([3, 2]);
      expect(await seqs({ after: 1, ascending: true })).toEqual([2, 3, 4]);
      expect(await seqs({ after: 1, ascending: true, limit: 2 })).toEqual([2, 3]);
      expect(await seqs({ limit: 0 })).toEqual([4]);
      expect(await seqs({})).toEqual([4, 3, 2, 1]);
    });
  });

  describe('audit chain keyed with an HMAC', () => {
    /** Two records written before keying (an older release), then three keyed ones. */
    async function keyedChain(): Promise<{ store: Store; options: StoreOptions }> {
      const options = await backend.fresh();
      const store = await open(options);
      await appendAll(store, [entry(1), entry(2)]);
      store.useAuditKey(KEY);
      await appendAll(store, [entry(3), entry(4), entry(5)]);
      return { store, options };
    }
    const records = async (store: Store): Promise<ChainRecord[]> => (await store.audit.query()).reverse();

    it('keeps the records written before unkeyed, keys every record from the first append made with the key, and verifies', async () => {
      const { store } = await keyedChain();
      const all = await records(store);
      for (const r of all) {
        const { prevHash, hash, ...fields } = r;
        expect(hash).toBe(recordHash(prevHash, fields, r.seq >= 3 ? KEY : undefined));
        if (r.seq >= 3) expect(hash).not.toBe(recordHash(prevHash, fields));
      }
      expect(await store.verifyAudit()).toEqual({ ok: true, records: 5, head: all[4]!.hash, keyedFrom: 3 });
      expect((await store.audit.head())!.keying).toMatchObject({ from: 3, keyId: KEY.id });
    });

    it('is keyed from record 1 in a store that starts with the key', async () => {
      const store = await open(await backend.fresh());
      store.useAuditKey(KEY);
      await appendAll(store, [entry(1), entry(2)]);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 2, keyedFrom: 1 });
    });

    it('cannot be verified, nor appended to, without the key or with another one', async () => {
      const { options } = await keyedChain();
      const keyless = await open(options);
      expect(await keyless.verifyAudit()).toEqual({ ok: false, records: 0, seq: 3, problem: 'the chain is keyed from record 3: verifying it needs GATEHOUSE_SECRET_KEY' });
      await expect(keyless.transaction((repo) => repo.audit.append(entry(6), 1))).rejects.toThrow('the audit chain is keyed from record 3: this process has no GATEHOUSE_SECRET_KEY to append to it');
      keyless.useAuditKey(OTHER_KEY);
      expect(await keyless.verifyAudit()).toMatchObject({ ok: false, problem: `the chain was keyed with another GATEHOUSE_SECRET_KEY (key id ${KEY.id}, this one is ${OTHER_KEY.id})` });
      await expect(keyless.transaction((repo) => repo.audit.append(entry(6), 1))).rejects.toThrow(`keyed with another GATEHOUSE_SECRET_KEY (key id ${KEY.id}, this server has ${OTHER_KEY.id})`);
    });

    (backend.sharedByReplicas ? it : it.skip)('is switched once when two keyed replicas append their first records at once', async () => {
      const options = await backend.fresh();
      const [a, b] = await Promise.all([open(options), open(options)]);
      a!.useAuditKey(KEY);
      b!.useAuditKey(KEY);
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a! : b!).transaction((repo) => repo.audit.append(entry(i), 1_700_000_000_000 + i))));
      expect(await a!.verifyAudit()).toMatchObject({ ok: true, records: 20, keyedFrom: 1 });
    });

    it('catches a record edited and the chain recomputed by someone without the key', async () => {
      const { store } = await keyedChain();
      await store.driver.run('UPDATE audit SET actor = ? WHERE seq = ?', ['someone-else', 4]);
      await recompute(store, 4, () => undefined);
      expect(await store.verifyAudit()).toEqual({ ok: false, records: 4, seq: 4, problem: 'record 4 carries an unkeyed hash, but the chain is keyed from record 3' });
    });

    it('catches the switch point moved later, to pass keyed records off as unkeyed ones (a downgrade)', async () => {
      const { store } = await keyedChain();
      await store.driver.run('UPDATE audit SET actor = ? WHERE seq = ?', ['someone-else', 4]);
      await recompute(store, 3, () => undefined);
      for (const [from, problem] of [
        [5, 'the switch to a keyed chain at record 5 does not match its tag: the switch point or the records before it were changed'],
        [6, 'the switch to a keyed chain at record 6 does not match its tag: the switch point or the records before it were changed'],
        [9, 'the chain is said to be keyed from record 9, but it ends at record 5'],
      ] as const) {
        await store.driver.run('UPDATE audit_head SET keyed_from = ? WHERE id = 1', [from]);
        expect(await store.verifyAudit()).toMatchObject({ ok: false, problem });
      }
      // Half a switch point is still one: its tag is checked, never skipped.
      await store.driver.run('UPDATE audit_head SET keyed_from = NULL, keyed_by = NULL WHERE id = 1', []);
      expect(await store.verifyAudit()).toMatchObject({ ok: false });
    });

    it('catches the unkeyed records before the switch point rewritten and recomputed', async () => {
      const { store } = await keyedChain();
      await store.driver.run('UPDATE audit SET actor = ? WHERE seq = ?', ['someone-else', 1]);
      // Without the key, record 3 on can only be left as they were (or re-hashed unkeyed).
      await recompute(store, 1, () => undefined);
      expect(await store.verifyAudit()).toMatchObject({ ok: false, seq: 3, problem: 'the switch to a keyed chain at record 3 does not match its tag: the switch point or the records before it were changed' });
    });

    it('is recomputed undetected by someone holding the key as well: only a checkpoint kept elsewhere catches it', async () => {
      const { store } = await keyedChain();
      const signer = new LocalSigningKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as Record<string, unknown>, 'k1', 'ES256');
      const jwks = { keys: [{ ...(signer.keyObject().export({ format: 'jwk' }) as Record<string, unknown>), kid: 'k1', alg: 'ES256', use: 'sig' }] };
      const head = (await store.audit.head())!;
      const jws = await signCheckpoint(signer, { seq: head.seq, hash: head.hash, time: '2026-12-06T03:00:00Z', namespace: NAMESPACE });
      const opened = await openCheckpoint(jws, jwks);
      if (!opened.ok) throw new Error(opened.problem);
      const holds = async () => {
        const verdict = await store.verifyAudit();
        if (!verdict.ok) return verdict.problem;
        return checkAgainst(opened.payload, verdict, (await store.audit.record(opened.payload.seq))?.hash) ?? 'holds';
      };
      expect(await holds()).toBe('holds');

      await store.driver.run('UPDATE audit SET actor = ? WHERE seq = ?', ['someone-else', 2]);
      // The switch point's tag binds the hash before it: the attacker with the key re-tags it too.
      await recompute(store, 2, (r) => (r.seq >= 3 ? KEY : undefined));
      const prev = (await store.audit.record(2))!.hash;
      await store.driver.run('UPDATE audit_head SET keyed_tag = ? WHERE id = 1', [keyingTag(KEY, 3, prev)]);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 5 });
      expect(await holds()).toMatch(/^record 5 has hash [0-9a-f]{64}, but the checkpoint of 2026-12-06T03:00:00Z says [0-9a-f]{64}: the chain up to it was rewritten$/);
    });

    it('catches the tail cut after a checkpoint, though the head row was moved back to match', async () => {
      const { store } = await keyedChain();
      const head = (await store.audit.head())!;
      const checkpoint = { seq: head.seq, hash: head.hash, time: '2026-12-06T03:00:00Z', namespace: NAMESPACE };
      await store.driver.run('DELETE FROM audit WHERE seq >= ?', [4]);
      await store.driver.run('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [3, (await store.audit.record(3))!.hash]);
      const verdict = await store.verifyAudit();
      expect(verdict).toMatchObject({ ok: true, records: 3 });
      if (!verdict.ok) return;
      expect(checkAgainst(checkpoint, verdict, undefined)).toBe('the chain ends at record 3, but the checkpoint of 2026-12-06T03:00:00Z vouches for record 5: records were cut from the end');
    });
  });
});
