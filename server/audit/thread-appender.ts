import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import { siblingModule } from '../sibling-module.ts';
import type { AuditEntry, Store } from '../store/index.ts';
import { HeadAppend } from '../store/repositories/audit.ts';
import type { PostgresDriver } from '../store/postgres.ts';
import { SqliteDriver } from '../store/sqlite.ts';
import type { AppendReply, AppendRequest, AppendWorkerData } from './append-worker.ts';

export type AuditItems = { entry: AuditEntry; at: number }[];

/** Where the AuditWriter's batches go: each resolves once its records are committed. */
export interface AuditAppender {
  /**
   * True when batches may be handed over before earlier ones have committed: the appender
   * itself writes them in the order it received them. False: one batch at a time.
   */
  readonly pipelined: boolean;
  append(items: AuditItems): Promise<void>;
  /** Settles at once the batches already known to be committed, without waiting to be told. */
  settle(): void;
  close(): Promise<void>;
}

/**
 * Appends on the store's own writer (PostgreSQL, SQLite `:memory:`), one batch at a time. On
 * PostgreSQL a batch is one statement after the head the last one left (`HeadAppend`).
 */
export class TransactionAppender implements AuditAppender {
  readonly pipelined = false;
  private readonly store: Store;
  private readonly headAppend: HeadAppend | undefined;

  constructor(store: Store) {
    this.store = store;
    if (store.driver.dialect === 'postgres') this.headAppend = new HeadAppend(store.driver, () => store.auditKey);
  }

  async append(items: AuditItems): Promise<void> {
    if (this.headAppend) await this.headAppend.append(items);
    else await this.store.transaction((repo) => repo.audit.appendBatch(items));
  }

  settle(): void {}

  async close(): Promise<void> {}
}

/**
 * Appends on a worker thread with its own connection to the SQLite file or the PostgreSQL
 * database. Hashing the chain and committing — with node:sqlite, synchronous disk work; with
 * pg, the protocol's encoding and parsing — then no longer hold up the event loop, which is
 * what limits token throughput. The chain stays one chain: on SQLite each writer reads the
 * head inside its own write transaction, and SQLite lets one writer in at a time; on
 * PostgreSQL every append moves the head row under its row lock, and only from the head it
 * holds (`HeadAppend`).
 *
 * The thread answers each batch with a message, but the event loop, busy with requests,
 * may take milliseconds to read it. So the thread also publishes, in shared memory, the last
 * batch committed with none failed before it, and every new record appended looks there
 * first: under load a caller goes on as soon as the next request is handled.
 *
 * If the thread fails, the batch it held is refused (its callers must not answer as if it
 * were recorded) and later batches are written on the event loop instead.
 */
export class ThreadAppender implements AuditAppender {
  /** The thread takes batches in order and commits those that wait for it together. */
  readonly pipelined = true;
  private readonly location: string;
  private readonly store: Store;
  private readonly fallback: AuditAppender;
  private readonly logger: Logger;
  private worker: Worker | undefined;
  private failed = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(): void; reject(error: Error): void }>();
  /** [0]: the last batch id committed with every earlier one committed too; [1]: 1 once any batch failed. */
  private readonly progress = new BigInt64Array(new SharedArrayBuffer(16)); // 64 bits: ids never wrap
  /** Every batch up to this id has been settled. */
  private settledUpTo = 0;

  /** `location`: the SQLite file to append to, the store's own unless said otherwise. */
  constructor(options: { store: Store; logger: Logger; location?: string }) {
    this.location = options.location ?? options.store.location;
    this.store = options.store;
    this.fallback = new TransactionAppender(options.store);
    this.logger = options.logger;
  }

  append(items: AuditItems): Promise<void> {
    if (this.failed) return this.fallback.append(items);
    return this.send({ id: this.nextId++, items });
  }

  settle(): void {
    if (this.waiting.size === 0 || Atomics.load(this.progress, 1) !== 0n) return;
    const committed = Number(Atomics.load(this.progress, 0));
    for (let id = this.settledUpTo + 1; id <= committed; id++) this.answer(id);
    this.settledUpTo = Math.max(this.settledUpTo, committed);
    if (this.waiting.size === 0) this.worker?.unref();
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
    const key = this.store.auditKey;
    const worker = new Worker(siblingModule(import.meta.url, 'append-worker'), {
      workerData: { ...this.target(), progress: this.progress.buffer, ...(key ? { auditKey: { key: new Uint8Array(key.key.export()) } } : {}) } satisfies AppendWorkerData,
      // The thread allocates a few KB per record and keeps almost none of it. With a worker's
      // default young generation it collected garbage every ~300 ms under load; with room to
      // grow it does so less often (bench/tokens.ts A/B: 1.03 throughput, 0.96 CPU per token).
      resourceLimits: { maxYoungGenerationSizeMb: 64 },
    });
    worker.on('message', (reply: AppendReply) => {
      for (const id of reply.ids) this.answer(id, reply.error);
      // Replies come in order: every batch up to the last one named here is settled.
      this.settledUpTo = Math.max(this.settledUpTo, ...reply.ids);
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

  /** Where the thread appends: the SQLite file, or the PostgreSQL database the store is on. */
  private target(): { location: string } | { databaseUrl: string } {
    const driver = this.store.driver;
    return driver.dialect === 'postgres' ? { databaseUrl: (driver as PostgresDriver).connectionUrl() } : { location: this.location };
  }

  /** Settles batch `id`, if it still waits (a reply and the shared progress may both name it). */
  private answer(id: number, error?: string): void {
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    if (error === undefined) waiter.resolve();
    else waiter.reject(new Error(`the audit record could not be written: ${error}`));
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.logger.error('audit thread failed; audit records are written on the main thread from now on', error);
    for (const waiter of this.waiting.values()) waiter.reject(new Error(`the audit record may not have been written: ${error.message}`));
    this.waiting.clear();
  }
}

/** The appender a store wants: a thread for a SQLite file or PostgreSQL, the store's own transactions for SQLite `:memory:`. */
export function auditAppender(store: Store, logger: Logger): AuditAppender {
  const shared = store.driver instanceof SqliteDriver ? store.driver.shared : store.driver.dialect === 'postgres';
  return shared ? new ThreadAppender({ store, logger }) : new TransactionAppender(store);
}
