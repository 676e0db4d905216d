import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SqlDriver, SqlExecutor, SqlValue } from './sql.ts';

class Connection implements SqlExecutor {
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

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA foreign_keys = ON');
  return db;
}

/**
 * The embedded backend (`node:sqlite`, no native build). SQLite allows one writer:
 * transactions are queued and run one at a time on the writer connection, while
 * reads outside a transaction use a second connection and never see uncommitted work
 * of a transaction that is waiting on I/O between two statements.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  private readonly writer: Connection;
  private readonly reader: Connection;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  readonly location: string;

  constructor(location: string) {
    this.location = location;
    if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
    this.writer = new Connection(open(location));
    this.writer.db.exec('PRAGMA journal_mode = WAL');
    this.writer.db.exec('PRAGMA synchronous = NORMAL');
    this.reader = location === ':memory:' ? this.writer : new Connection(open(location));
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
      this.writer.db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(this.writer);
        this.writer.db.exec('COMMIT');
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
    if (this.reader !== this.writer) this.reader.db.close();
    this.writer.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the store at ${this.location} is closed`);
  }
}
