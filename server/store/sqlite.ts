import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SqlDriver, SqlExecutor, SqlValue } from './sql.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

/** One `node:sqlite` connection with its prepared statements cached. */
export class SqliteConnection implements SqlExecutor {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, StatementSync>();
  readonly db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  private prepare(sql: string): StatementSync {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  async all<Row extends object>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.prepare(sql).all(...params) as Row[];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return Number(this.prepare(sql).run(...params).changes);
  }
}

/**
 * Opens a connection to a store file. `busyTimeoutMs` is how long SQLite itself may block the
 * calling thread waiting for another connection's write lock: 0 on the event loop, which
 * waits asynchronously instead (see SqliteDriver.transaction).
 */
export function openSqlite(path: string, busyTimeoutMs = 5000): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  db.exec('PRAGMA foreign_keys = ON');
  // Per connection: in WAL mode a commit is durable against a crash of the process, and only
  // checkpoints wait for the disk.
  db.exec('PRAGMA synchronous = NORMAL');
  return db;
}

/** SQLITE_BUSY: another connection (the audit thread) holds the write lock. */
function isBusy(error: unknown): boolean {
  // Extended codes (SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT, …) keep SQLITE_BUSY in their low byte.
  return ((error as { errcode?: number } | null)?.errcode ?? 0) % 256 === 5;
}

const BUSY_LIMIT_MS = 5000;

/**
 * The embedded backend (`node:sqlite`, no native build). SQLite allows one writer:
 * transactions are queued and run one at a time on the writer connection, while
 * reads outside a transaction use a second connection and never see uncommitted work
 * of a transaction that is waiting on I/O between two statements.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  private readonly writer: SqliteConnection;
  private readonly reader: SqliteConnection;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private checkpointer: WalCheckpointer | undefined;

  readonly location: string;

  constructor(location: string) {
    this.location = location;
    if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
    this.writer = new SqliteConnection(openSqlite(location, location === ':memory:' ? 5000 : 0));
    this.writer.db.exec('PRAGMA journal_mode = WAL');
    this.reader = location === ':memory:' ? this.writer : new SqliteConnection(openSqlite(location));
  }

  /** A file store's data can also be written by other connections (the audit thread); `:memory:` is this driver's alone. */
  get shared(): boolean {
    return this.location !== ':memory:';
  }

  all<Row extends object>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    this.assertOpen();
    return this.reader.all<Row>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.transaction((tx) => tx.run(sql, params));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    this.assertOpen();
    const result = this.queue.then(async () => {
      await this.begin();
      try {
        const value = await fn(this.writer);
        this.writer.db.exec('COMMIT');
        this.committed();
        return value;
      } catch (error) {
        this.writer.db.exec('ROLLBACK');
        throw error;
      }
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.checkpointer?.stop();
    if (this.reader !== this.writer) this.reader.db.close();
    this.writer.db.close();
  }

  /**
   * Takes the write lock. While another connection holds it, waits without blocking the event
   * loop (SQLite's own busy handler would sleep on this thread), up to the usual five seconds.
   */
  private async begin(): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        this.writer.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() - started > BUSY_LIMIT_MS) throw error;
        await new Promise<void>((resolve) => (attempt < 8 ? setImmediate(resolve) : setTimeout(resolve, 1)));
      }
    }
  }

  private committed(): void {
    if (!this.shared) return;
    // Started on the first commit: a store that is only read never starts the thread.
    this.checkpointer ??= new WalCheckpointer(this.location);
    this.checkpointer.committed();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the store at ${this.location} is closed`);
  }
}
