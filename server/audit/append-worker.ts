// The body of the audit thread (see thread-appender.ts): appends batches of runtime audit
// records to the store file over a connection of its own, one transaction per batch.
import { parentPort, workerData } from 'node:worker_threads';
import { Repository, type AuditEntry } from '../store/repository.ts';
import { SqliteConnection, openSqlite } from '../store/sqlite.ts';

export type AppendRequest = { id: number; items: { entry: AuditEntry; at: number }[] } | { id: number; close: true };
export type AppendReply = { id: number; error?: string };

const port = parentPort!;
const connection = new SqliteConnection(openSqlite((workerData as { location: string }).location));
const repo = new Repository(connection);

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

port.on('message', (request: AppendRequest) => {
  if ('close' in request) {
    connection.db.close();
    port.postMessage({ id: request.id } satisfies AppendReply);
    port.close();
    return;
  }
  append(request.items).then(
    () => port.postMessage({ id: request.id } satisfies AppendReply),
    (error: unknown) => port.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) } satisfies AppendReply),
  );
});
