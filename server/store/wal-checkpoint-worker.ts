// The body of the WAL checkpoint thread (see wal-checkpointer.ts). It imports only node
// built-ins: it runs in a worker thread, outside any test transform.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

interface CheckpointWorkerData {
  location: string;
  /** [0]: commits since the last checkpoint (the main thread adds), or -1 to stop. */
  signal: SharedArrayBuffer;
  settleMs: number;
}

const { location, signal, settleMs } = workerData as CheckpointWorkerData;
const flag = new Int32Array(signal);
const db = new DatabaseSync(location);
db.exec('PRAGMA busy_timeout = 5000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

for (;;) {
  // Sleeps without polling until a commit arrives; an idle server never wakes this thread.
  Atomics.wait(flag, 0, 0);
  if (Atomics.load(flag, 0) < 0) break;
  // Let a burst of commits pile up, then copy them into the database file in one pass.
  Atomics.wait(flag, 0, Atomics.load(flag, 0), settleMs);
  // Taken and reset in one step, so that a stop signalled in between is not lost.
  if (Atomics.exchange(flag, 0, 0) < 0) break;
  // PASSIVE never takes the write lock, so writers on the main thread are never made to wait.
  const result = checkpoint.get() as { busy: number; log: number; checkpointed: number };
  parentPort?.postMessage({ log: result.log, checkpointed: result.checkpointed });
}
db.close();
