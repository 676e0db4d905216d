import pg from 'pg';
import type { SqlDriver, SqlExecutor, SqlValue } from './sql.ts';

/** SQLSTATEs after which a transaction may simply be run again: serialization_failure, deadlock_detected. */
const RETRYABLE = new Set(['40001', '40P01']);
/** Attempts a transaction gets in all (the first and two retries). */
const MAX_ATTEMPTS = 3;
const INT8_OID = 20;

/** Placeholder translations are cached per SQL string; the cache is dropped if it ever grows past this. */
const PLACEHOLDER_CACHE_LIMIT = 2000;

/** `?` → `$1..$n`. Our SQL never has a `?` inside a literal or identifier. */
function translatePlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** `postgres://user@host:port/db`, for people: never the password, never query parameters (they may carry one). */
export function describeDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The string may well contain a password: say what is wrong without repeating it.
    throw new Error('the PostgreSQL database URL is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`the PostgreSQL database URL must start with postgres:// or postgresql://, not ${parsed.protocol}//`);
  }
  const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
  const socketDir = parsed.searchParams.get('host');
  const host = parsed.hostname || (socketDir ? '' : 'localhost');
  const port = parsed.port || (host ? '5432' : '');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return `postgres://${user}${host}${port ? `:${port}` : ''}/${database}${socketDir && !parsed.hostname ? ` (socket in ${socketDir})` : ''}`;
}

function passwordOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    const password = parsed.password ? decodeURIComponent(parsed.password) : parsed.searchParams.get('password');
    return password || undefined;
  } catch {
    return undefined;
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The executor handed to a transaction's callback: one checked-out client, unusable once the transaction ends. */
class TransactionExecutor implements SqlExecutor {
  readonly dialect = 'postgres' as const;
  private readonly client: pg.PoolClient;
  private readonly driver: PostgresDriver;
  done = false;

  constructor(driver: PostgresDriver, client: pg.PoolClient) {
    this.driver = driver;
    this.client = client;
  }

  async all<Row extends object>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    this.assertOpen();
    const result = await this.client.query(this.driver.translate(sql), params as SqlValue[]);
    return result.rows as Row[];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    this.assertOpen();
    const result = await this.client.query(this.driver.translate(sql), params as SqlValue[]);
    return result.rowCount ?? 0;
  }

  private assertOpen(): void {
    if (this.done) throw new Error(`a statement was run on a transaction of ${this.driver.location} after it had ended`);
  }
}

/**
 * The shared backend (`pg`), for several replicas over one database. A pool of
 * connections; SQL is written with `?` placeholders and translated once per statement;
 * BIGINT columns come back as JS numbers (this pool's own type parsers, pg's global ones
 * are left alone). Transactions that fail on a serialization failure or a deadlock are
 * run again (up to {@link MAX_ATTEMPTS} times in all), so a transaction's callback must
 * do nothing but database work, or work that is safe to repeat.
 */
export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  /** `postgres://user@host:port/db`: never the password. */
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly url: string;
  private readonly password: string | undefined;
  private readonly translations = new Map<string, string>();
  private closed = false;

  constructor(url: string, options: { max?: number; connectionTimeoutMillis?: number } = {}) {
    this.location = describeDatabaseUrl(url);
    this.url = url;
    this.password = passwordOf(url);
    const types = new pg.TypeOverrides();
    types.setTypeParser(INT8_OID, 'text', (value: string) => {
      const n = Number(value);
      // Epoch milliseconds and sequence numbers are far below 2^53; anything larger stays exact as a string.
      return Number.isSafeInteger(n) ? n : value;
    });
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
      application_name: 'gatehouse',
      types,
    });
    // An idle connection that dies (server restart, network) is dropped from the pool;
    // without a listener the 'error' event would crash the process.
    this.pool.on('error', () => undefined);
  }

  /**
   * The URL this driver was opened with, password and all: for a connection of its own in a
   * thread of this process (the audit thread). Never to be logged or shown; `location` is for people.
   */
  connectionUrl(): string {
    return this.url;
  }

  /** `?` → `$n`, cached per SQL string. */
  translate(sql: string): string {
    let text = this.translations.get(sql);
    if (text === undefined) {
      text = translatePlaceholders(sql);
      if (this.translations.size >= PLACEHOLDER_CACHE_LIMIT) this.translations.clear();
      this.translations.set(sql, text);
    }
    return text;
  }

  async all<Row extends object>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    const client = await this.connect();
    try {
      const result = await client.query(this.translate(sql), params as SqlValue[]);
      return result.rows as Row[];
    } finally {
      client.release();
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    const client = await this.connect();
    try {
      const result = await client.query(this.translate(sql), params as SqlValue[]);
      return result.rowCount ?? 0;
    } finally {
      client.release();
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect();
      const tx = new TransactionExecutor(this, client);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const value = await fn(tx);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection itself is gone or unusable: take it out of the pool.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        const code = sqlState(error);
        if (!broken && code && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS && !this.closed) {
          await sleep(Math.random() * 10 * attempt);
          continue;
        }
        throw error;
      } finally {
        tx.done = true;
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async connect(): Promise<pg.PoolClient> {
    if (this.closed) throw new Error(`the store at ${this.location} is closed`);
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.connectError(error);
    }
  }

  /** Says which server and database could not be reached, and why, without the password. */
  private connectError(error: unknown): Error {
    const code = sqlState(error);
    let reason = error instanceof Error ? error.message : String(error);
    if (error instanceof AggregateError && error.errors.length > 0) {
      // Node reports each address it tried (IPv4 and IPv6 for "localhost") with an empty top-level message.
      reason = error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
    }
    if (!reason) reason = code ?? 'unknown error';
    if (this.password) reason = reason.split(this.password).join('***');
    const wrapped = new Error(`could not connect to PostgreSQL at ${this.location}: ${reason}`);
    if (code) Object.assign(wrapped, { code });
    return wrapped;
  }
}
