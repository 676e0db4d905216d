import { Worker } from 'node:worker_threads';
import { siblingModule } from '../sibling-module.ts';

export interface CheckpointProgress {
  /** Frames in the write-ahead log. */
  log: number;
  /** Of those, frames already copied into the database file. */
  checkpointed: number;
}

/**
 * Does most of SQLite's WAL checkpointing off the event loop. The connection that commits
 * checkpoints synchronously once the log reaches 1,000 pages; measured here that is half of
 * what a commit costs on average. A worker thread with a connection of its own copies
 * committed pages into the database file shortly after each burst of commits, so when the
 * writer's own checkpoint comes, almost nothing is left to copy, and it still restarts the
 * log (which a checkpoint from another connection cannot do while commits keep coming).
 * Should the thread fail, the writer simply does all the work again, as SQLite would by default.
 */
export class WalCheckpointer {
  private readonly flag: Int32Array;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private running = true;
  private readonly listeners = new Set<(progress: CheckpointProgress) => void>();

  constructor(location: string, options: { settleMs?: number } = {}) {
    const signal = new SharedArrayBuffer(4);
    this.flag = new Int32Array(signal);
    this.worker = new Worker(siblingModule(import.meta.url, 'wal-checkpoint-worker'), {
      workerData: { location, signal, settleMs: options.settleMs ?? 20 },
    });
    this.worker.unref();
    this.worker.on('message', (progress: CheckpointProgress) => {
      for (const listener of this.listeners) listener(progress);
    });
    // A failed thread only costs speed: the writer's own checkpoints carry on.
    this.worker.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        this.running = false;
        resolve();
      }),
    );
  }

  /** Tells the thread that a transaction committed: an atomic add, no message. */
  committed(): void {
    if (!this.running) return;
    if (Atomics.add(this.flag, 0, 1) === 0) Atomics.notify(this.flag, 0);
  }

  /** Called with each checkpoint's outcome (tests, diagnostics). */
  onCheckpoint(listener: (progress: CheckpointProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the thread and waits until it has closed its connection. */
  async stop(): Promise<void> {
    this.worker.ref();
    if (this.running) {
      Atomics.store(this.flag, 0, -1);
      Atomics.notify(this.flag, 0);
    }
    await this.exited;
  }
}
