/**
 * What the embedded SQLite backend does beyond the shared store specification: it never
 * blocks the event loop waiting for another connection's write lock, it leaves the
 * copying of the write-ahead log into the database file to a thread of its own, and it reads
 * the audit log newest first from an index in order.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { Store } from '../../../server/store/index.ts';
import { type AuditQuery, AuditRepository } from '../../../server/store/repositories/audit.ts';
import type { SqlValue } from '../../../server/store/sql.ts';
import { MIGRATIONS, migrate } from '../../../server/store/migrations.ts';
import { SqliteDriver } from '../../../server/store/sqlite.ts';
import { WalCheckpointer, type CheckpointProgress } from '../../../server/store/wal-checkpointer.ts';
import { temporaryDirectories } from '../../support/temp-dirs.ts';

const tempDir = temporaryDirectories('gatehouse-sqlite-');

async function tempFile(): Promise<string> {
  return join(await tempDir(), 'gatehouse.db');
}

describe('SqliteDriver', () => {
  it('waits for a write lock another connection holds without blocking the event loop, then commits', async () => {
    const file = await tempFile();
    const driver = new SqliteDriver(file);
    await driver.run('CREATE TABLE t (v TEXT)');
    const other = new DatabaseSync(file);
    other.exec('BEGIN IMMEDIATE');
    other.exec("INSERT INTO t VALUES ('other')");

    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const written = driver.transaction(async (tx) => tx.run("INSERT INTO t VALUES ('driver')"));
      // The loop goes on turning while the driver waits for the lock. Counted up to a bound rather
      // than over a fixed 100 ms, which a loaded machine's timers do not reach (a blocked loop
      // would not turn at all until the lock was given up).
      for (const deadline = Date.now() + 3000; ticks <= 5 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(ticks).toBeGreaterThan(5);
      // Still waiting for the lock.
      expect(await driver.all('SELECT v FROM t')).toEqual([]);
      other.exec('COMMIT');
      expect(await written).toBe(1);
      expect(await driver.all('SELECT v FROM t ORDER BY rowid')).toEqual([{ v: 'other' }, { v: 'driver' }]);
    } finally {
      clearInterval(ticker);
      if (other.isTransaction) other.exec('ROLLBACK');
      other.close();
      await driver.close();
    }
  });

  it('keeps the write-ahead log bounded under a stream of commits, with the checkpoint thread running', async () => {
    const file = await tempFile();
    const driver = new SqliteDriver(file);
    // Closed whatever happens: an open driver's checkpoint thread would keep jest from exiting.
    try {
      await driver.run('CREATE TABLE t (v TEXT)');
      const row = 'x'.repeat(4000);
      for (let i = 0; i < 3000; i++) await driver.run('INSERT INTO t VALUES (?)', [row]); // ~12 MB
      // The log restarts from its start: its frames stay near SQLite's 1,000-page checkpoint mark,
      // never the ~3,000 pages written. Read when the burst is over, and again after more commits:
      // once, on a loaded CI machine, no restart fell inside the burst itself (SQLite runs one
      // checkpoint at a time, and a starved thread likely held that lock for long), only after it.
      // The frame count is the wal-index header's mxFrame (SQLite's walformat: a u32 at byte 16 of
      // the -shm file, in the machine's byte order), read without checkpointing anything.
      const frames = () => readFileSync(`${file}-shm`).subarray(0, 24)[endianness() === 'LE' ? 'readUInt32LE' : 'readUInt32BE'](16);
      let log = frames();
      for (let tries = 0; tries < 100 && log >= 1500; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        await driver.run('INSERT INTO t VALUES (?)', ['after']);
        log = frames();
      }
      expect(log).toBeLessThan(1500);
      expect(statSync(file).size).toBeGreaterThan(8 * 1024 * 1024);
    } finally {
      await driver.close();
    }
  });
});

describe('WalCheckpointer', () => {
  it('copies committed pages into the database file from its own thread, and stops when asked', async () => {
    const file = await tempFile();
    const db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA wal_autocheckpoint = 0'); // only the thread checkpoints here
    db.exec('CREATE TABLE t (v TEXT)');
    const checkpointer = new WalCheckpointer(file, { settleMs: 1 });
    const progress: CheckpointProgress[] = [];
    const done = new Promise<void>((resolve) => {
      checkpointer.onCheckpoint((p) => {
        progress.push(p);
        if (p.log > 0 && p.checkpointed === p.log) resolve();
      });
    });
    const before = statSync(file).size;
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    for (let i = 0; i < 200; i++) insert.run('y'.repeat(1000));
    checkpointer.committed();
    await done;
    expect(statSync(file).size).toBeGreaterThan(before + 150_000);
    await checkpointer.stop();
    // Stopped: a commit no longer reaches it, and stopping again is harmless.
    checkpointer.committed();
    await checkpointer.stop();
    db.close();
  });
});

describe('the SQLite audit table', () => {
  const indexes = async (driver: SqliteDriver) => (await driver.all<{ name: string }>(`SELECT name FROM pragma_index_list('audit') ORDER BY name`)).map((r) => r.name);

  it('keeps records under their sequence number as rowid, with no second copy of it in an index', async () => {
    const driver = new SqliteDriver(await tempFile());
    await migrate(driver);
    expect(await indexes(driver)).toEqual(['audit_at', 'audit_namespace', 'audit_organization']);
    await driver.close();
  });

  it('reads a namespace, or a few of its organizations, newest first from an index in order: no sort of the namespace', async () => {
    const driver = new SqliteDriver(await tempFile());
    await migrate(driver);
    const plans: string[] = [];
    // Each query the repository sends, explained with its own parameters.
    const explaining = {
      dialect: driver.dialect,
      run: (sql: string, params?: readonly SqlValue[]) => driver.run(sql, params),
      async all<Row extends object>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
        plans.push((await driver.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map((r) => r.detail).join(' | '));
        return driver.all<Row>(sql, params);
      },
    };
    const audit = new AuditRepository(explaining);
    const plan = async (q: AuditQuery) => {
      plans.length = 0;
      await audit.query(q);
      return plans[0];
    };
    expect(await plan({ namespace: 'blixit' })).toBe('SEARCH audit USING INDEX audit_namespace (namespace=?)');
    expect(await plan({ namespace: 'blixit', actor: 'alice', client: 'forge.portal' })).toBe('SEARCH audit USING INDEX audit_namespace (namespace=?)');
    expect(await plan({ namespace: 'blixit', ascending: true, after: 10 })).toBe('SEARCH audit USING INDEX audit_namespace (namespace=? AND seq>?)');
    // An organization: its own records in order. Several (with sub-organizations): theirs, then sorted, however large the namespace.
    expect(await plan({ namespace: 'blixit', organization: 'forge' })).toBe('SEARCH audit USING INDEX audit_organization (namespace=? AND organization=?)');
    expect(await plan({ namespace: 'blixit', organizations: ['forge'], actor: 'alice' })).toBe('SEARCH audit USING INDEX audit_organization (namespace=? AND organization=?)');
    expect(await plan({ namespace: 'blixit', organizations: ['forge', 'forge-emea'] })).toBe('SEARCH audit USING INDEX audit_organization (namespace=? AND organization=?) | USE TEMP B-TREE FOR ORDER BY');
    await driver.close();
  });

  it('is rebuilt from a store of schema 8 with every record, index and link of the chain kept', async () => {
    const file = await tempFile();
    const driver = new SqliteDriver(file);
    // Every other migration (the audit head's keying columns, 10, are read by this release's appends; later ones by its repositories).
    await migrate(
      driver,
      MIGRATIONS.filter((m) => m.version !== 9 && m.version !== 17),
    );
    expect(await indexes(driver)).toContain('sqlite_autoindex_audit_1');
    const store = new Store(driver);
    for (let i = 0; i < 25; i++) {
      await store.transaction((repo) => repo.audit.append({ action: 'token.issued', actor: `client-${i % 3}`, namespace: 'blixit', organization: 'forge', client: `client-${i % 3}`, data: { n: i } }, 1_700_000_000_000 + i));
    }
    const before = await store.audit.query({ limit: 100 });

    expect(await migrate(driver)).toEqual([9, 17]);
    expect(await indexes(driver)).toEqual(['audit_at', 'audit_namespace', 'audit_organization']);
    expect(await store.audit.query({ limit: 100 })).toEqual(before);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 25 });
    expect((await store.audit.query({ actor: 'client-1', limit: 100 })).map((r) => r.seq)).toEqual([23, 20, 17, 14, 11, 8, 5, 2]);
    await store.transaction((repo) => repo.audit.append({ action: 'token.issued', actor: 'client-0', data: {} }, 1_700_000_001_000));
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 26 });
    await store.close();
  });
});
