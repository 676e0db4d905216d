/**
 * One specification for the store, run against both backends: the embedded SQLite
 * file and PostgreSQL (a throwaway server started from the machine's binaries, or
 * skipped with a line on the console when there are none).
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import pg from 'pg';
import { GROUP_VERSION, kindByName, parseObject, type AnyObject } from '../../../api/index.ts';
import { generateKeyPairSync } from 'node:crypto';
import { auditKey, keyingTag, recordHash, type AuditKey, type ChainRecord } from '../../../server/audit/chain.ts';
import { checkAgainst, openCheckpoint, signCheckpoint } from '../../../server/audit/checkpoint.ts';
import { LocalSigningKey } from '../../../server/oidc/signer.ts';
import { Sealer } from '../../../server/secrets/sealer.ts';
import { openStore, type AuditEntry, type Store, type StoreOptions } from '../../../server/store/index.ts';
import { MIGRATIONS, migrate } from '../../../server/store/migrations.ts';
import { PostgresDriver } from '../../../server/store/postgres.ts';
import { recompute } from '../../support/audit.ts';
import { startPostgres } from '../../support/postgres.ts';
import { temporaryDirectories } from '../../support/temp-dirs.ts';

// ── backends ──────────────────────────────────────────────────────────

interface Backend {
  name: 'sqlite' | 'postgres';
  /** Where a new, empty store lives. */
  fresh(): Promise<StoreOptions>;
  /** Several processes may open the same database at once (replicas). */
  sharedByReplicas: boolean;
}

const tempDir = temporaryDirectories('gatehouse-store-');

const sqlite: Backend = {
  name: 'sqlite',
  sharedByReplicas: false,
  fresh: async () => ({ dataDir: await tempDir() }),
};

// One server (and one database) for the whole file; a fresh schema for each test,
// which the store sees as an empty database and which takes milliseconds to make.
const server = await startPostgres();

const postgres: Backend = {
  name: 'postgres',
  sharedByReplicas: true,
  async fresh() {
    if (!server) throw new Error('no PostgreSQL server');
    return { databaseUrl: await server.createSchema() };
  },
};

afterAll(async () => {
  await server?.stop();
});

const opened: Store[] = [];

async function open(options: StoreOptions): Promise<Store> {
  const store = await openStore(options);
  opened.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

// ── fixtures: real declarations, checked by their schemas ─────────────

const NAMESPACE = 'blixit';

function organization(name: string, displayName: string): AnyObject {
  return parseObject({
    apiVersion: GROUP_VERSION,
    kind: 'Organization',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      displayName,
      emailDomains: [`${name}.example`],
      contract: { id: `C-${name}`, partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: '2027-12-31T00:00:00Z' },
    },
  });
}

function client(name: string, organizationName: string): AnyObject {
  return parseObject({
    apiVersion: GROUP_VERSION,
    kind: 'Client',
    metadata: { name, namespace: NAMESPACE },
    spec: { organizationRef: { name: organizationName }, type: 'web', redirectUris: [`https://${name}.example/callback`] },
  });
}

function stored(object: AnyObject, uid: string, at: number, generation = 1) {
  return { uid, generation, object, createdAt: at, updatedAt: at };
}

function referencesOf(object: AnyObject) {
  return kindByName(object.kind)!.references(object.spec);
}

function entry(i: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return { action: 'object.applied', actor: 'controller', kind: 'Organization', name: `org-${i}`, data: { i }, ...extra };
}

const keyOf = (secret: string): AuditKey => {
  const sealer = new Sealer(secret);
  return auditKey((purpose) => sealer.derive(purpose));
};
const KEY = keyOf('audit-spec-secret-0123456789abcdefghijklmnop');
const OTHER_KEY = keyOf('another-secret-0123456789abcdefghijklmnopqrs');

/** Appends each entry in its own transaction, as the server does. */
async function appendAll(store: Store, entries: AuditEntry[]): Promise<void> {
  for (const [i, e] of entries.entries()) await store.transaction((repo) => repo.audit.append(e, 1_700_000_000_000 + i));
}

// ── the specification ─────────────────────────────────────────────────

const available = server ? [sqlite, postgres] : [sqlite];
const unavailable = server ? [] : [postgres];

function spec(backend: Backend): void {
  describe('schema', () => {
    it('is migrated when the store opens, and opening it again applies nothing', async () => {
      const options = await backend.fresh();
      const store = await open(options);
      const versions = await store.driver.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await migrate(store.driver)).toEqual([]);
      await store.close();

      const again = await open(options);
      expect(await migrate(again.driver)).toEqual([]);
      expect(await again.driver.all('SELECT version FROM schema_migrations')).toHaveLength(MIGRATIONS.length);
    });

    (backend.sharedByReplicas ? it : it.skip)('can be migrated by several replicas opening a new database at once', async () => {
      const options = await backend.fresh();
      const replicas = await Promise.all([open(options), open(options), open(options)]);
      const versions = await replicas[0]!.driver.all<{ version: number }>('SELECT version FROM schema_migrations');
      expect(versions).toHaveLength(MIGRATIONS.length);
    });
  });

  describe('declared objects', () => {
    it('round-trip through put, get, list and delete', async () => {
      const store = await open(await backend.fresh());
      const cascade = organization('cascade', 'Cascade Consulting');
      const forge = organization('forge', 'Forge Supplies');
      const portal = client('cascade-portal', 'cascade');
      await store.objects.put(stored(cascade, 'uid-cascade', 1000));
      await store.objects.put(stored(forge, 'uid-forge', 1001));
      await store.objects.put(stored(portal, 'uid-portal', 1002));

      expect(await store.objects.get('Organization', NAMESPACE, 'cascade')).toEqual({
        uid: 'uid-cascade', generation: 1, object: cascade, status: null, createdAt: 1000, updatedAt: 1000,
      });
      expect(await store.objects.get('Organization', NAMESPACE, 'pinnacle')).toBeUndefined();

      const names = (list: { object: AnyObject }[]) => list.map((s) => `${s.object.kind}/${s.object.metadata.name}`);
      expect(names(await store.objects.list())).toEqual(['Client/cascade-portal', 'Organization/cascade', 'Organization/forge']);
      expect(names(await store.objects.list({ kind: 'Organization' }))).toEqual(['Organization/cascade', 'Organization/forge']);
      expect(await store.objects.list({ namespace: 'elsewhere' })).toEqual([]);

      expect(await store.objects.delete('Organization', NAMESPACE, 'forge')).toBe(true);
      expect(await store.objects.delete('Organization', NAMESPACE, 'forge')).toBe(false);
      expect(await store.objects.get('Organization', NAMESPACE, 'forge')).toBeUndefined();
      expect(names(await store.objects.list({ kind: 'Organization', namespace: NAMESPACE }))).toEqual(['Organization/cascade']);
    });

    it('keep their uid, creation time and status when they are put again', async () => {
      const store = await open(await backend.fresh());
      await store.objects.put(stored(organization('cascade', 'Cascade Consulting'), 'uid-first', 1000));
      await store.objects.setStatus('Organization', NAMESPACE, 'cascade', { observedGeneration: 1 });

      const renamed = organization('cascade', 'Cascade Consulting Group');
      await store.objects.put({ uid: 'uid-second', generation: 2, object: renamed, createdAt: 5000, updatedAt: 6000 });

      expect(await store.objects.get('Organization', NAMESPACE, 'cascade')).toEqual({
        uid: 'uid-first', generation: 2, object: renamed, status: { observedGeneration: 1 }, createdAt: 1000, updatedAt: 6000,
      });
    });

    it('carry a status that can be set and read back', async () => {
      const store = await open(await backend.fresh());
      await store.objects.put(stored(organization('cascade', 'Cascade Consulting'), 'uid-cascade', 1000));
      const status = {
        observedGeneration: 1,
        issuer: 'https://id.blixit.example/blixit/cascade',
        conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      };
      expect(await store.objects.setStatus('Organization', NAMESPACE, 'cascade', status)).toBe(true);
      expect((await store.objects.get('Organization', NAMESPACE, 'cascade'))?.status).toEqual(status);
      expect(await store.objects.setStatus('Organization', NAMESPACE, 'nobody', status)).toBe(false);
    });

    it('record their references, so the objects depending on one can be found', async () => {
      const store = await open(await backend.fresh());
      const portal = client('cascade-portal', 'cascade');
      const api = client('cascade-api', 'cascade');
      for (const [object, uid] of [[organization('cascade', 'Cascade Consulting'), 'u1'], [portal, 'u2'], [api, 'u3']] as const) {
        await store.objects.put(stored(object, uid, 1000));
        await store.objects.setReferences(object.kind, NAMESPACE, object.metadata.name, referencesOf(object));
      }
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'cascade')).toEqual([
        { kind: 'Client', name: 'cascade-api', field: 'spec.organizationRef' },
        { kind: 'Client', name: 'cascade-portal', field: 'spec.organizationRef' },
      ]);
      expect(await store.objects.dependantsOf('Organization', 'elsewhere', 'cascade')).toEqual([]);

      // Re-pointing a client replaces its references; deleting one removes them.
      await store.objects.setReferences('Client', NAMESPACE, 'cascade-api', referencesOf(client('cascade-api', 'forge')));
      await store.objects.delete('Client', NAMESPACE, 'cascade-portal');
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'cascade')).toEqual([]);
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'forge')).toEqual([
        { kind: 'Client', name: 'cascade-api', field: 'spec.organizationRef' },
      ]);
    });
  });

  describe('transactions', () => {
    it('write nothing, neither objects nor audit records, when they throw', async () => {
      const store = await open(await backend.fresh());
      await appendAll(store, [entry(1)]);
      const failure = store.transaction(async (repo) => {
        const cascade = organization('cascade', 'Cascade Consulting');
        await repo.objects.put(stored(cascade, 'uid-cascade', 1000));
        await repo.objects.setReferences('Organization', NAMESPACE, 'cascade', [{ field: 'spec.parentRef', kind: 'Organization', name: 'blixit' }]);
        await repo.audit.append(entry(2), 2000);
        throw new Error('the admission check failed');
      });
      await expect(failure).rejects.toThrow('the admission check failed');

      expect(await store.objects.get('Organization', NAMESPACE, 'cascade')).toBeUndefined();
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'blixit')).toEqual([]);
      expect((await store.audit.query()).map((r) => r.seq)).toEqual([1]);
      expect(await store.audit.head()).toMatchObject({ seq: 1 });
      // The chain carries on from where the committed part ended.
      await appendAll(store, [entry(3)]);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 2 });
    });
  });

  describe('audit chain', () => {
    async function chainOfFive(): Promise<Store> {
      const store = await open(await backend.fresh());
      await appendAll(store, [1, 2, 3, 4, 5].map((i) => entry(i)));
      return store;
    }

    it('links every appended record to the one before, and verifies', async () => {
      const store = await open(await backend.fresh());
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 0 });
      await appendAll(store, [1, 2, 3].map((i) => entry(i, { organization: 'cascade', namespace: NAMESPACE, client: 'cascade-portal', subject: `user-${i}` })));
      const records = (await store.audit.query()).reverse();
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(records[1]!.prevHash).toBe(records[0]!.hash);
      expect(records[2]!.prevHash).toBe(records[1]!.hash);
      expect(records[0]).toMatchObject({ action: 'object.applied', actor: 'controller', organization: 'cascade', client: 'cascade-portal', subject: 'user-1', outcome: 'success', data: { i: 1 } });
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
        ['cascade', NAMESPACE], ['forge', NAMESPACE], ['cascade', NAMESPACE], ['cascade', 'other'],
        ['cascade', NAMESPACE], ['forge', NAMESPACE], ['cascade', NAMESPACE], ['cascade', NAMESPACE],
      ] as const;
      await appendAll(store, who.map(([organization, namespace], i) => entry(i + 1, { organization, namespace, action: i % 2 ? 'token.issued' : 'login' })));

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
      const records = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.transaction((repo) => repo.audit.append(entry(i, { actor: `client-${i}` }), 1_700_000_000_000 + i))),
      );
      expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.actor)).size).toBe(50);
      expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 50 });
    });

    (backend.sharedByReplicas ? it : it.skip)('stays one chain when two replicas append at once, from the very first record', async () => {
      const options = await backend.fresh();
      const [a, b] = await Promise.all([open(options), open(options)]);
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? a! : b!).transaction((repo) => repo.audit.append(entry(i, { actor: `replica-${i % 2}` }), 1_700_000_000_000 + i)),
        ),
      );
      expect(await a!.verifyAudit()).toMatchObject({ ok: true, records: 40 });
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

  describe('ending tokens', () => {
    const path = '/blixit/cascade';
    const model = (clientId: string, grantId?: string) => JSON.stringify({ clientId, accountId: 'ana', ...(grantId ? { grantId } : {}) });

    it("end one client's grants and tokens at one issuer, with a cutoff of its own beside the issuer's", async () => {
      const repo = await open(await backend.fresh());
      await repo.oidc.upsert(path, 'Grant', 'g1', model('web.blixit'), {}, null);
      await repo.oidc.upsert(path, 'RefreshToken', 'r1', model('web.blixit', 'g1'), { grantId: 'g1' }, null);
      await repo.oidc.upsert(path, 'Grant', 'g2', model('other.blixit'), {}, null);
      await repo.oidc.upsert('/blixit', 'Grant', 'g3', model('web.blixit'), {}, null);
      expect(await repo.oidc.revokeClient(path, 'web.blixit', 5000)).toBe(2);
      expect(await repo.oidc.find(path, 'RefreshToken', 'id', 'r1', 0)).toBeUndefined();
      // Another client of the issuer, and the same client_id at another issuer, keep theirs.
      expect(await repo.oidc.find(path, 'Grant', 'id', 'g2', 0)).toBeDefined();
      expect(await repo.oidc.find('/blixit', 'Grant', 'id', 'g3', 0)).toBeDefined();
      expect(await repo.oidc.tokenCutoff(path, 'web.blixit')).toBe(5000);
      expect(await repo.oidc.tokenCutoff(path, 'other.blixit')).toBe(0);
      expect(await repo.oidc.tokenCutoff(path, undefined)).toBe(0);
      expect(await repo.oidc.tokenCutoff('/blixit', 'web.blixit')).toBe(0);
      // The issuer's cutoff (the kill switch) counts for every client; the later of the two wins.
      await repo.oidc.revokeIssuers([path], 7000);
      expect(await repo.oidc.tokenCutoff(path, 'web.blixit')).toBe(7000);
      expect(await repo.oidc.tokenCutoff(path, 'other.blixit')).toBe(7000);
    });
  });

  describe('admin tokens', () => {
    it('are stored as hashes, replaced by name and listed by name', async () => {
      const store = await open(await backend.fresh());
      await store.adminTokens.put('platform-team', 'sha256:aaa', 1000);
      await store.adminTokens.put('controller', 'sha256:bbb', 1000);
      await store.adminTokens.put('platform-team', 'sha256:ccc', 2000);
      expect(await store.adminTokens.list()).toEqual([
        { name: 'controller', tokenHash: 'sha256:bbb' },
        { name: 'platform-team', tokenHash: 'sha256:ccc' },
      ]);
    });
  });

  describe('durability', () => {
    it('keeps everything across closing and re-opening the store', async () => {
      const options = await backend.fresh();
      const first = await open(options);
      const cascade = organization('cascade', 'Cascade Consulting');
      await first.transaction(async (repo) => {
        await repo.objects.put(stored(cascade, 'uid-cascade', 1000));
        await repo.audit.append(entry(1, { organization: 'cascade', namespace: NAMESPACE }), 1000);
      });
      await first.adminTokens.put('controller', 'sha256:bbb', 1000);
      const head = await first.audit.head();
      await first.close();

      const second = await open(options);
      expect(second.location).toBe(first.location);
      expect((await second.objects.get('Organization', NAMESPACE, 'cascade'))?.object).toEqual(cascade);
      expect(await second.adminTokens.list()).toEqual([{ name: 'controller', tokenHash: 'sha256:bbb' }]);
      expect(await second.audit.head()).toEqual(head);
      await appendAll(second, [entry(2)]);
      expect(await second.verifyAudit()).toMatchObject({ ok: true, records: 2 });
    });
  });
}

describe.each(available)('the store on $name', spec);
if (unavailable.length > 0) describe.skip.each(unavailable)('the store on $name', spec);

// ── PostgreSQL driver specifics ───────────────────────────────────────

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('the PostgreSQL driver', () => {
  it('describes where the data lives without the password', async () => {
    const driver = new PostgresDriver('postgres://gatehouse:s3cret-pw@db.internal:6543/identity?sslmode=require&password=s3cret-pw');
    expect(driver.location).toBe('postgres://gatehouse@db.internal:6543/identity');
    await driver.close();
    const bare = new PostgresDriver('postgresql://db.internal/identity');
    expect(bare.location).toBe('postgres://db.internal:5432/identity');
    await bare.close();
  });

  it('refuses a URL it cannot read without repeating it', () => {
    expect(() => new PostgresDriver('host=db user=gatehouse password=s3cret-pw')).toThrow(/not a valid URL/);
    expect(() => new PostgresDriver('host=db user=gatehouse password=s3cret-pw')).not.toThrow(/s3cret/);
  });

  it('says which server and database it could not reach, and never the password', async () => {
    const port = await closedPort();
    const url = `postgres://gatehouse:s3cret-pw@127.0.0.1:${port}/identity`;
    const error = await openStore({ databaseUrl: url }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(new RegExp(`^could not connect to PostgreSQL at postgres://gatehouse@127\\.0\\.0\\.1:${port}/identity: .*ECONNREFUSED`));
    expect(error?.message).not.toContain('s3cret');
  });

  (server ? describe : describe.skip)('against a server', () => {
    it('reads BIGINT as a JS number without touching pg’s global type parsers', async () => {
      const driver = new PostgresDriver(server!.url);
      try {
        expect(await driver.all('SELECT CAST(? AS BIGINT) AS n, ? AS s', [1_700_000_000_123, 'text'])).toEqual([{ n: 1_700_000_000_123, s: 'text' }]);
        expect(pg.types.getTypeParser(20, 'text')('42')).toBe('42');
      } finally {
        await driver.close();
      }
    });

    it('runs a transaction again after a serialization failure', async () => {
      const driver = new PostgresDriver(await server!.createSchema());
      try {
        await driver.run('CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
        await driver.run('INSERT INTO counter (id, n) VALUES (1, 0)');
        let attempts = 0;
        let snapshotTaken!: () => void;
        let release!: () => void;
        const firstRead = new Promise<void>((resolve) => (snapshotTaken = resolve));
        const otherCommitted = new Promise<void>((resolve) => (release = resolve));
        const first = driver.transaction(async (tx) => {
          attempts++;
          await tx.run('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
          await tx.all('SELECT n FROM counter WHERE id = 1'); // takes the snapshot
          if (attempts === 1) {
            snapshotTaken();
            await otherCommitted;
          }
          return tx.run('UPDATE counter SET n = n + 1 WHERE id = 1');
        });
        await firstRead;
        await driver.run('UPDATE counter SET n = n + 10 WHERE id = 1');
        release();
        expect(await first).toBe(1);
        expect(attempts).toBe(2);
        expect(await driver.all('SELECT n FROM counter')).toEqual([{ n: 11 }]);
      } finally {
        await driver.close();
      }
    });

    it('runs the losing transaction of a deadlock again', async () => {
      const driver = new PostgresDriver(await server!.createSchema());
      try {
        await driver.run('CREATE TABLE account (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
        await driver.run('INSERT INTO account (id, n) VALUES (1, 0), (2, 0)');
        let attempts = 0;
        let arrived = 0;
        let bothLocked!: () => void;
        const barrier = new Promise<void>((resolve) => (bothLocked = resolve));
        const transfer = (from: number, to: number) =>
          driver.transaction(async (tx) => {
            attempts++;
            await tx.run(`SET LOCAL deadlock_timeout = '20ms'`);
            await tx.run('UPDATE account SET n = n - 1 WHERE id = ?', [from]);
            if (++arrived === 2) bothLocked();
            await barrier;
            await tx.run('UPDATE account SET n = n + 1 WHERE id = ?', [to]);
          });
        await Promise.all([transfer(1, 2), transfer(2, 1)]);
        expect(attempts).toBe(3);
        expect(await driver.all('SELECT id, n FROM account ORDER BY id')).toEqual([{ id: 1, n: 0 }, { id: 2, n: 0 }]);
      } finally {
        await driver.close();
      }
    });

    it('does not run a transaction again for other errors, and refuses a transaction used after it ended', async () => {
      const driver = new PostgresDriver(server!.url);
      try {
        let attempts = 0;
        await expect(driver.transaction(async (tx) => {
          attempts++;
          await tx.all('SELECT * FROM no_such_table');
        })).rejects.toThrow(/no_such_table/);
        expect(attempts).toBe(1);

        let leaked: { all(sql: string): Promise<unknown> } | undefined;
        await driver.transaction(async (tx) => {
          leaked = tx;
        });
        await expect(leaked!.all('SELECT 1')).rejects.toThrow(/after it had ended/);
      } finally {
        await driver.close();
      }
    });
  });
});
