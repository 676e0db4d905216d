// The body of the audit thread (see thread-appender.ts): appends batches of runtime audit
// records to the store (a SQLite file, or PostgreSQL) over a connection of its own. Batches that arrive while a
// transaction is being written are committed together in the next one (group commit).
import { parentPort, workerData } from 'node:worker_threads';
import { AuditRepository, HeadAppend } from '../store/repositories/audit.ts';
import { auditKeyOf } from './chain.ts';
import { SqliteConnection, openSqlite } from '../store/sqlite.ts';
import type { AuditItems } from './thread-appender.ts';

export type AppendRequest = { id: number; items: AuditItems } | { id: number; close: true };
/** Answers the requests `ids`, all committed in one transaction (or all refused, with `error`). */
export type AppendReply = { ids: number[]; error?: string };
export interface AppendWorkerData {
  /** The SQLite file to append to; or, for PostgreSQL, `databaseUrl`. */
  location?: string;
  databaseUrl?: string;
  /** Shared with the appender: [0] the last batch id committed with none failed before it; [1] 1 once one failed. */
  progress: ArrayBufferLike;
  /** The store's audit key, if it has one (in memory, as on the main thread). */
  auditKey?: { key: Uint8Array };
}

const port = parentPort!;
const { location, databaseUrl, progress: shared, auditKey: sharedKey } = workerData as AppendWorkerData;
const progress = new BigInt64Array(shared);
const auditKey = sharedKey ? auditKeyOf(sharedKey.key) : undefined;
let waiting: { id: number; items: AuditItems }[] = [];
let flushing: Promise<void> | undefined;

/** Appends one group of batches, committed together; and closes the connection. */
interface Backend {
  append(items: AuditItems): Promise<void>;
  close(): Promise<void>;
}

function sqlite(location: string): Backend {
  const connection = new SqliteConnection(openSqlite(location));
  const audit = new AuditRepository(connection, () => auditKey);
  return {
    async append(items) {
      connection.db.exec('BEGIN IMMEDIATE');
      try {
        await audit.appendBatch(items);
        connection.db.exec('COMMIT');
      } catch (error) {
        connection.db.exec('ROLLBACK');
        throw error;
      }
    },
    async close() {
      connection.db.close();
    },
  };
}

/** One connection: the batches go one after another, each after the head the last one left. */
async function postgres(url: string): Promise<Backend> {
  // Loaded only here: a thread for a SQLite file has no use for pg.
  const { PostgresDriver } = await import('../store/postgres.ts');
  const driver = new PostgresDriver(url, { max: 1 });
  const append = new HeadAppend(driver, () => auditKey);
  return {
    async append(items) {
      await append.append(items);
    },
    close: () => driver.close(),
  };
}

const backend = databaseUrl ? await postgres(databaseUrl) : sqlite(location!);

/** Commits what has arrived, after the messages already queued for this thread have joined it. */
async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  while (waiting.length > 0) {
    const requests = waiting;
    waiting = [];
    const ids = requests.map((r) => r.id);
    try {
      await backend.append(requests.flatMap((r) => r.items));
      // Published before the reply: the event loop may settle these callers before it reads it.
      if (Atomics.load(progress, 1) === 0n) Atomics.store(progress, 0, BigInt(ids[ids.length - 1]!));
      port.postMessage({ ids } satisfies AppendReply);
    } catch (error) {
      // From now on only replies settle batches: a later commit must not vouch for this one.
      Atomics.store(progress, 1, 1n);
      port.postMessage({ ids, error: error instanceof Error ? error.message : String(error) } satisfies AppendReply);
    }
  }
  flushing = undefined;
}

port.on('message', async (request: AppendRequest) => {
  if ('close' in request) {
    await flushing;
    await backend.close();
    port.postMessage({ ids: [request.id] } satisfies AppendReply);
    port.close();
    return;
  }
  waiting.push(request);
  flushing ??= flush();
});
