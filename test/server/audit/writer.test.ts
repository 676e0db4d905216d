/**
 * The runtime audit writer: every caller's record is committed before its promise
 * resolves, records that arrive together share a transaction, and on a SQLite file the
 * appends run on a thread of their own without breaking the one hash chain that admin
 * changes (written in their own transactions on the main connection) also extend.
 */
import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { ThreadAppender, TransactionAppender, auditAppender, type AuditAppender, type AuditItems } from '../../../server/audit/thread-appender.ts';
import { AuditWriter } from '../../../server/audit/writer.ts';
import { systemClock } from '../../../server/clock.ts';
import { silentLogger, type Logger } from '../../../server/log.ts';
import { Store, openStore, type AuditEntry } from '../../../server/store/index.ts';
import { migrate } from '../../../server/store/migrations.ts';
import { SqliteDriver } from '../../../server/store/sqlite.ts';
import { storeBackends } from '../../support/store-backends.ts';
import { temporaryDirectories } from '../../support/temp-dirs.ts';

const tempDir = temporaryDirectories('gatehouse-audit-');

async function fileStore(): Promise<Store> {
  return openStore({ dataDir: await tempDir() });
}

const token = (i: number): AuditEntry => ({ action: 'token.issued', actor: `client-${i}`, namespace: 'blixit', organization: 'forge-supplies', client: `client-${i}`, data: { grant: 'client_credentials', scope: 'inventory:read', n: i } });

/** Counts the batches that reach the appender it wraps. */
function counting(inner: AuditAppender): AuditAppender & { batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    pipelined: inner.pipelined,
    settle: () => inner.settle(),
    append: (items: AuditItems) => {
      batches.push(items.length);
      return inner.append(items);
    },
    close: () => inner.close(),
  };
}

describe('AuditWriter on a SQLite file (thread appender)', () => {
  it('uses a thread for a SQLite file and the store’s own transactions for :memory:', async () => {
    const file = await fileStore();
    const driver = new SqliteDriver(':memory:');
    await migrate(driver);
    const memory = new Store(driver);
    expect(auditAppender(file, silentLogger)).toBeInstanceOf(ThreadAppender);
    expect(auditAppender(memory, silentLogger)).toBeInstanceOf(TransactionAppender);
    await memory.close();
    await file.close();
  });

  it('commits each record before its caller goes on, and groups records that arrive together', async () => {
    const store = await fileStore();
    const appender = counting(new ThreadAppender({ store, logger: silentLogger }));
    const writer = new AuditWriter({ store, clock: systemClock, appender });
    await writer.append(token(0));
    // Read back on the store's own (reader) connection: the thread's commit is visible.
    expect((await store.audit.query({ actor: 'client-0' })).map((r) => r.data)).toEqual([{ grant: 'client_credentials', scope: 'inventory:read', n: 0 }]);

    await Promise.all(Array.from({ length: 200 }, (_, i) => writer.append(token(i + 1))));
    expect(appender.batches.reduce((a, b) => a + b, 0)).toBe(201);
    expect(appender.batches.length).toBeLessThan(20);
    const records = await store.audit.query({ action: 'token.issued', limit: 500, ascending: true });
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 201 });
    await writer.close();
    await store.close();
  });

  it('keeps one chain while admin changes append on the main connection at the same time', async () => {
    const store = await fileStore();
    const writer = new AuditWriter({ store, clock: systemClock, appender: new ThreadAppender({ store, logger: silentLogger }) });
    const admin = Array.from({ length: 60 }, (_, i) =>
      store.transaction(async (repo) => {
        await repo.audit.append({ action: 'Organization.updated', actor: 'git:platform-team', namespace: 'blixit', kind: 'Organization', name: `org-${i}`, data: {} }, Date.now());
      }),
    );
    const runtime = Array.from({ length: 300 }, (_, i) => writer.append(token(i)));
    await Promise.all([...admin, ...runtime]);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 360 });
    expect(await store.audit.query({ action: 'Organization.updated', limit: 100 })).toHaveLength(60);
    await writer.close();
    await store.close();
  });

  it('refuses the records a failed thread held, and writes later ones on the main thread', async () => {
    const store = await fileStore();
    const errors: string[] = [];
    const logger: Logger = { ...silentLogger, error: (message) => errors.push(message) };
    // A thread that cannot open its file fails the way a crashed one does.
    const writer = new AuditWriter({ store, clock: systemClock, appender: new ThreadAppender({ store, logger, location: join(store.location, 'not-a-directory', 'gatehouse.db') }) });
    await expect(writer.append(token(1))).rejects.toThrow(/the audit record may not have been written/);
    await writer.append(token(2));
    expect((await store.audit.query({ action: 'token.issued' })).map((r) => r.actor)).toEqual(['client-2']);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 1 });
    expect(errors).toEqual(['audit thread failed; audit records are written on the main thread from now on']);
    await writer.close();
    await store.close();
  });

  it('refuses a record that cannot be written as JSON, and goes on with the next', async () => {
    const store = await fileStore();
    const writer = new AuditWriter({ store, clock: systemClock, appender: new ThreadAppender({ store, logger: silentLogger }) });
    await expect(writer.append({ ...token(1), data: { count: 1n } })).rejects.toThrow(/the audit record could not be written: .*BigInt/);
    await writer.append(token(2));
    expect((await store.audit.query({ action: 'token.issued' })).map((r) => r.actor)).toEqual(['client-2']);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 1 });
    await writer.close();
    await store.close();
  });

  /** Keeps the event loop from turning (so no reply of the thread is read) until `done` says so. */
  async function holdLoopUntil(done: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) if (Date.now() > deadline) throw new Error('the audit thread did not commit in time');
  }
  const committed = (store: Store, actor: string) => async () => (await store.audit.query({ actor })).length > 0;
  /** Runs pending promise callbacks, and nothing that needs a turn of the event loop. */
  const microtasks = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };

  it('lets a caller go on once its record is committed, at the next append, without waiting to read the reply', async () => {
    const store = await fileStore();
    const writer = new AuditWriter({ store, clock: systemClock, appender: new ThreadAppender({ store, logger: silentLogger }) });
    try {
      await writer.append(token(0)); // the thread is up
      let settled = false;
      void writer.append(token(1)).then(() => (settled = true));
      await new Promise<void>((resolve) => setImmediate(resolve)); // the batch is handed over
      // The loop does not turn from here on, so the thread's reply cannot be read: only the
      // appends made meanwhile (about one a millisecond) can settle the caller.
      const later: Promise<void>[] = [];
      let lastAppend = 0;
      await holdLoopUntil(async () => {
        if (Date.now() > lastAppend) {
          lastAppend = Date.now();
          later.push(writer.append(token(2)));
        }
        await microtasks();
        return settled;
      });
      expect(settled).toBe(true);
      await Promise.all(later);
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it('never lets a later commit vouch for a batch that failed', async () => {
    const store = await fileStore();
    const appender = new ThreadAppender({ store, logger: silentLogger });
    try {
      await appender.append([{ entry: token(0), at: Date.now() }]);
      const outcome = { bad: 'pending', good: 'pending' };
      const bad = appender.append([{ entry: { ...token(1), data: { count: 1n } }, at: Date.now() }]);
      bad.then(
        () => (outcome.bad = 'resolved'),
        () => (outcome.bad = 'rejected'),
      );
      // Let the thread refuse it in a transaction of its own before the next batch arrives
      // (batches waiting together share one transaction, and would fail together).
      await holdLoopUntil(async () => false, 1000).catch(() => undefined);
      const good = appender.append([{ entry: token(2), at: Date.now() }]);
      good.then(() => (outcome.good = 'resolved'));
      await holdLoopUntil(committed(store, 'client-2'));
      appender.settle();
      await microtasks();
      expect(outcome).toEqual({ bad: 'pending', good: 'pending' }); // only the replies may settle them now
      await expect(bad).rejects.toThrow(/BigInt/);
      await good;
    } finally {
      await appender.close();
      await store.close();
    }
  });

  it('stops its thread on close, after the records already appended', async () => {
    const store = await fileStore();
    const writer = new AuditWriter({ store, clock: systemClock, appender: new ThreadAppender({ store, logger: silentLogger }) });
    const pending = Array.from({ length: 50 }, (_, i) => writer.append(token(i)));
    await writer.close();
    await Promise.all(pending);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 50 });
    await store.close();
  });
});

describe('AuditWriter hand-over', () => {
  /** An appender whose batches commit only when the test says so. */
  function held(pipelined: boolean) {
    const handed: { size: number; commit(): void }[] = [];
    const appender: AuditAppender = {
      pipelined,
      append: (items) => new Promise<void>((resolve) => handed.push({ size: items.length, commit: resolve })),
      settle: () => undefined,
      close: async () => undefined,
    };
    return { appender, handed };
  }
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('hands a pipelined appender the next batch before the previous one has committed', async () => {
    const { appender, handed } = held(true);
    const writer = new AuditWriter({ store: undefined as unknown as Store, clock: systemClock, appender });
    const first = writer.append(token(1));
    await nextTurn();
    const second = [writer.append(token(2)), writer.append(token(3))];
    await nextTurn();
    expect(handed.map((b) => b.size)).toEqual([1, 2]);
    let settled = false;
    void first.then(() => (settled = true));
    await nextTurn();
    expect(settled).toBe(false); // still nobody answers before their record is committed
    handed.forEach((b) => b.commit());
    await Promise.all([first, ...second]);
    await writer.close();
  });

  it('waits for each batch to commit before handing over the next one otherwise', async () => {
    const { appender, handed } = held(false);
    const writer = new AuditWriter({ store: undefined as unknown as Store, clock: systemClock, appender });
    const first = writer.append(token(1));
    await nextTurn();
    const second = writer.append(token(2));
    await nextTurn();
    expect(handed.map((b) => b.size)).toEqual([1]);
    handed[0]!.commit();
    await first;
    await nextTurn();
    expect(handed.map((b) => b.size)).toEqual([1, 1]);
    handed[1]!.commit();
    await second;
    await writer.close();
  });

  it('lets the thread commit batches handed over together in the order they were given', async () => {
    const store = await fileStore();
    const appender = new ThreadAppender({ store, logger: silentLogger });
    await Promise.all(Array.from({ length: 30 }, (_, i) => appender.append([{ entry: token(i), at: Date.now() }])));
    const records = await store.audit.query({ action: 'token.issued', limit: 100, ascending: true });
    expect(records.map((r) => r.actor)).toEqual(Array.from({ length: 30 }, (_, i) => `client-${i}`));
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 30 });
    await appender.close();
    await store.close();
  });
});

describe('AuditWriter on the store’s own transactions', () => {
  it('groups concurrent records and keeps the chain', async () => {
    const store = await fileStore();
    const appender = counting(new TransactionAppender(store));
    const writer = new AuditWriter({ store, clock: systemClock, appender });
    await Promise.all(Array.from({ length: 100 }, (_, i) => writer.append(token(i))));
    expect(appender.batches.length).toBeLessThan(10);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 100 });
    await writer.close();
    await store.close();
  });
});

const backends = await storeBackends();

backends.each('AuditWriter on the store’s own transactions', (backend) => {
  it('commits a batch of records from concurrent appends as one stretch of the chain', async () => {
    const store = await backends.open(await backend.fresh());
    const appender = counting(new TransactionAppender(store));
    const writer = new AuditWriter({ store, clock: systemClock, appender });
    for (let wave = 0; wave < 3; wave++) await Promise.all(Array.from({ length: 100 }, (_, i) => writer.append(token(wave * 100 + i))));
    expect(appender.batches.reduce((a, b) => a + b, 0)).toBe(300);
    expect(appender.batches.length).toBeLessThan(30);
    expect(Math.max(...appender.batches)).toBeGreaterThan(1);
    const records = await store.audit.query({ ascending: true, limit: 1000 });
    expect(new Set(records.map((r) => r.actor)).size).toBe(300);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 300 });
    await writer.close();
  });

  (backend.sharedByReplicas ? it : it.skip)('keeps one chain when two replicas’ writers and their admin changes append to one database at once', async () => {
    const options = await backend.fresh();
    const replicas = [await backends.open(options), await backends.open(options)];
    const writers = replicas.map((store) => new AuditWriter({ store, clock: systemClock, appender: new TransactionAppender(store) }));
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all([
        ...Array.from({ length: 60 }, (_, i) => writers[i % 2]!.append(token(wave * 100 + i))),
        // An admin change appends in its own transaction, moving the head under both writers.
        ...[0, 1].map((r) => replicas[r]!.transaction((repo) => repo.audit.append({ action: 'Organization.updated', actor: `admin-${wave}-${r}`, data: { wave } }, 1_700_000_000_000))),
      ]);
    }
    const records = await replicas[0]!.audit.query({ ascending: true, limit: 1000 });
    expect(records).toHaveLength(4 * 62);
    expect(new Set(records.map((r) => r.actor)).size).toBe(4 * 62);
    expect(await replicas[1]!.verifyAudit()).toMatchObject({ ok: true, records: 4 * 62 });
    await Promise.all(writers.map((w) => w.close()));
  });

  (backend.sharedByReplicas ? it : it.skip)('appends on a thread with a connection of its own, one chain with another replica’s thread and admin changes', async () => {
    const options = await backend.fresh();
    const replicas = [await backends.open(options), await backends.open(options)];
    const appenders = replicas.map((store) => auditAppender(store, silentLogger));
    for (const appender of appenders) expect(appender).toBeInstanceOf(ThreadAppender);
    const counted = appenders.map(counting);
    const writers = replicas.map((store, r) => new AuditWriter({ store, clock: systemClock, appender: counted[r]! }));
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all([...Array.from({ length: 100 }, (_, i) => writers[i % 2]!.append(token(wave * 100 + i))), ...[0, 1].map((r) => replicas[r]!.transaction((repo) => repo.audit.append({ action: 'Organization.updated', actor: `admin-${wave}-${r}`, data: { wave } }, 1_700_000_000_000)))]);
    }
    expect(counted.flatMap((c) => c.batches).reduce((a, b) => a + b, 0)).toBe(400);
    const records = await replicas[0]!.audit.query({ ascending: true, limit: 1000 });
    expect(new Set(records.map((r) => r.actor)).size).toBe(4 * 102);
    expect(await replicas[1]!.verifyAudit()).toMatchObject({ ok: true, records: 4 * 102 });
    await Promise.all(writers.map((w) => w.close()));
  });

  (backend.sharedByReplicas ? it : it.skip)('refuses loudly when a batch cannot be written, and appends the next one after the head as it is', async () => {
    const store = await backends.open(await backend.fresh());
    const writer = new AuditWriter({ store, clock: systemClock, appender: new TransactionAppender(store) });
    await writer.append(token(1));
    await expect(writer.append({ ...token(2), actor: 'nul\u0000byte' })).rejects.toThrow();
    // The head moved under the writer meanwhile: it must not append after the head it remembers.
    await store.transaction((repo) => repo.audit.append({ action: 'Organization.updated', actor: 'admin', data: {} }, 1_700_000_000_000));
    await writer.append(token(3));
    expect((await store.audit.query({ ascending: true })).map((r) => r.actor)).toEqual(['client-1', 'admin', 'client-3']);
    expect(await store.verifyAudit()).toMatchObject({ ok: true, records: 3 });
    await writer.close();
  });
});
