/**
 * What the store does as a whole, on both backends (the embedded SQLite file and PostgreSQL):
 * its schema, transactions spanning repositories, and durability across re-opening. What each
 * repository does is specified in repositories/, one conformance spec per aggregate.
 */
import { describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import pg from 'pg';
import { openStore } from '../../../server/store/index.ts';
import { MIGRATIONS, migrate } from '../../../server/store/migrations.ts';
import { PostgresDriver } from '../../../server/store/postgres.ts';
import { NAMESPACE, appendAll, entry, organization, stored } from '../../support/store-fixtures.ts';
import { storeBackends, type Backend } from '../../support/store-backends.ts';

const backends = await storeBackends();
const { open, server } = backends;

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

backends.each('the store', spec);

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
        expect(await driver.all('SELECT id, n FROM account ORDER BY id')).toEqual([
          { id: 1, n: 0 },
          { id: 2, n: 0 },
        ]);
      } finally {
        await driver.close();
      }
    });

    it('does not run a transaction again for other errors, and refuses a transaction used after it ended', async () => {
      const driver = new PostgresDriver(server!.url);
      try {
        let attempts = 0;
        await expect(
          driver.transaction(async (tx) => {
            attempts++;
            await tx.all('SELECT * FROM no_such_table');
          }),
        ).rejects.toThrow(/no_such_table/);
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
