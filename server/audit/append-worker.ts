// The body of the audit thread (see thread-appender.ts): appends batches of runtime audit
// records to the store file over a connection of its own. Batches that arrive while a
// transaction is being written are committed together in the next one (group commit).
import { parentPort, workerData } from 'node:worker_threads';
import { Repository, type AuditEntry } from '../store/repository.ts';
import { SqliteConnection, openSqlite } from '../store/sqlite.ts';

export type AppendRequest = { id: number; items: { entry: AuditEntry; at: number }[] } | { id: number; close: true };
/** Answers the requests `ids`, all committed in one transaction (or all refused, with `error`). */
export type AppendReply = { ids: number[]; error?: string };

const port = parentPort!;
const connection = new SqliteConnection(openSqlite((workerData as { location: string }).location));
const repo = new Repository(connection);
let waiting: { id: number; items: { entry: AuditEntry; at: number }[] }[] = [];
let flushing: Promise<void> | undefined;

async function append(items: { entry: AuditEntry; at: number }[]): Promise<void> {
  connection.db.exec('BEGIN IMMEDIATE');
  try {
    await repo.appendAuditBatch(items);
    connection.db.exec('COMMIT');
  } catch (error) {
    connection.db.exec('ROLLBACK');
    throw error;
  }
}

/** Commits what has arrived, after the messages already queued for this thread have joined it. */
async function flush(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  while (waiting.length > 0) {
    const requests = waiting;
    waiting = [];
    const ids = requests.map((r) => r.id);
    try {
      await append(requests.flatMap((r) => r.items));
      port.postMessage({ ids } satisfies AppendReply);
    } catch (error) {
      port.postMessage({ ids, error: error instanceof Error ? error.message : String(error) } satisfies AppendReply);
    }
  }
  flushing = undefined;
}

port.on('message', async (request: AppendRequest) => {
  if ('close' in request) {
    await flushing;
    connection.db.close();
    port.postMessage({ ids: [request.id] } satisfies AppendReply);
    port.close();
    return;
  }
  waiting.push(request);
  flushing ??= flush();
});
