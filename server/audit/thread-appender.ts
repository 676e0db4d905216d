import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { AuditEntry, Store } from '../store/index.ts';
import { SqliteDriver } from '../store/sqlite.ts';
import type { AppendReply, AppendRequest } from './append-worker.ts';

export type AuditItems = { entry: AuditEntry; at: number }[];

/** Where the AuditWriter's batches go: each resolves once its records are committed. */
export interface AuditAppender {
  /**
   * True when batches may be handed over before earlier ones have committed: the appender
   * itself writes them in the order it received them. False: one batch at a time.
   */
  readonly pipelined: boolean;
  append(items: AuditItems): Promise<void>;
  close(): Promise<void>;
}

/** Appends on the store's own writer, in a transaction of its own (PostgreSQL, SQLite `:memory:`). */
export class TransactionAppender implements AuditAppender {
  readonly pipelined = false;
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  async append(items: AuditItems): Promise<void> {
    await this.store.transaction((repo) => repo.appendAuditBatch(items));
  }

  async close(): Promise<void> {}
}

/**
 * Appends on a worker thread with its own connection to the SQLite file. Hashing the chain
 * and committing — with node:sqlite, synchronous disk work — then no longer hold up the
 * event loop, which is what limits token throughput. The chain stays one chain: each writer
 * reads the head inside its own write transaction, and SQLite lets one writer in at a time.
 *
 * If the thread fails, the batch it held is refused (its callers must not answer as if it
 * were recorded) and later batches are written on the event loop instead.
 */
export class ThreadAppender implements AuditAppender {
  /** The thread takes batches in order and commits those that wait for it together. */
  readonly pipelined = true;
  private readonly location: string;
  private readonly fallback: AuditAppender;
  private readonly logger: Logger;
  private worker: Worker | undefined;
  private failed = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();

  /** `location`: the SQLite file to append to, the store's own unless said otherwise. */
  constructor(options: { store: Store; logger: Logger; location?: string }) {
    this.location = options.location ?? options.store.location;
    this.fallback = new TransactionAppender(options.store);
    this.logger = options.logger;
  }

  append(items: AuditItems): Promise<void> {
    if (this.failed) return this.fallback.append(items);
    return this.send({ id: this.nextId++, items });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.failed) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await this.send({ id: this.nextId++, close: true });
    await exited;
    this.worker = undefined;
  }

  private send(request: AppendRequest): Promise<void> {
    const worker = this.started();
    return new Promise<void>((resolve, reject) => {
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./append-worker.ts', import.meta.url), { workerData: { location: this.location } });
    worker.on('message', (reply: AppendReply) => {
      for (const id of reply.ids) {
        const waiter = this.waiting.get(id);
        this.waiting.delete(id);
        if (reply.error === undefined) waiter?.resolve();
        else waiter?.reject(new Error(`the audit record could not be written: ${reply.error}`));
      }
      // Idle, the thread does not keep the process alive; a pending append does.
      if (this.waiting.size === 0) worker.unref();
    });
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => {
      if (this.worker === worker && code !== 0) this.fail(new Error(`the audit thread exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.logger.error('audit thread failed; audit records are written on the main thread from now on', error);
    for (const waiter of this.waiting.values()) waiter.reject(new Error(`the audit record may not have been written: ${error.message}`));
    this.waiting.clear();
  }
}

/** The appender a store wants: a thread for a SQLite file, the store's own transactions otherwise. */
export function auditAppender(store: Store, logger: Logger): AuditAppender {
  return store.driver instanceof SqliteDriver && store.driver.shared ? new ThreadAppender({ store, logger }) : new TransactionAppender(store);
}
