import { join } from 'node:path';
import { verifyChain, type AuditKey, type ChainVerdict } from '../audit/chain.ts';
import { migrate } from './migrations.ts';
import { repositories, type Repositories } from './repositories/index.ts';
import type { SqlDriver } from './sql.ts';
import { SqliteDriver } from './sqlite.ts';

export type {
  Repositories,
  StoredObject,
  Dependant,
  ConfigChange,
  ChangeKind,
  AuditEntry,
  AuditQuery,
  SigningKeyRow,
  UserRecord,
  UserProfile,
  AccessRequestRecord,
  AccessRequestState,
  ScimActivity,
  ScimGroupRecord,
  ScimTokenRecord,
  ScimUserRecord,
  FederationDraftRow,
  NotificationRecord,
  NotificationState,
  NewNotification,
  ClientSuspension,
  SeenKind,
  PasskeyRecord,
} from './repositories/index.ts';
export type { SqlDriver, SqlExecutor, Dialect } from './sql.ts';

export interface StoreOptions {
  /** PostgreSQL connection string; when absent the embedded SQLite file under `dataDir` is used. */
  databaseUrl?: string;
  dataDir?: string;
}

// Merged with the class below: a store is also its repositories (`store.users`, …), which serve
// reads and single writes outside a transaction; the constructor assigns them.
export interface Store extends Repositories {}

/**
 * Configuration objects and runtime state, over SQLite or PostgreSQL, one repository per
 * aggregate; `transaction` hands out the same repositories bound to one transaction.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface is deliberate (see above); the constructor assigns every repository.
export class Store {
  readonly driver: SqlDriver;

  /** What audit records are keyed with (see `useAuditKey`). */
  auditKey: AuditKey | undefined;

  constructor(driver: SqlDriver) {
    this.driver = driver;
    Object.assign(
      this,
      repositories(driver, () => this.auditKey),
    );
  }

  /**
   * From the next audit record on, the chain is keyed (HMAC) with `key`; verification needs
   * it from the switch point on. Held in memory only: the key never goes into the store.
   */
  useAuditKey(key: AuditKey): void {
    this.auditKey = key;
  }

  get location(): string {
    return this.driver.location;
  }

  /** Everything `fn` writes commits together or not at all. */
  transaction<T>(fn: (tx: Repositories) => Promise<T>): Promise<T> {
    return this.driver.transaction((tx) => fn(repositories(tx, () => this.auditKey)));
  }

  /** Re-walks the audit chain and checks that it ends where the recorded head says. */
  async verifyAudit(): Promise<ChainVerdict> {
    const keying = (await this.audit.head())?.keying ?? null;
    const verdict = await verifyChain(this.audit.walk(), { keying, ...(this.auditKey ? { key: this.auditKey } : {}) });
    if (!verdict.ok) return verdict;
    const head = await this.audit.head();
    const headSeq = head?.seq ?? 0;
    if (headSeq !== verdict.records) {
      return { ok: false, records: verdict.records, seq: verdict.records + 1, problem: `${headSeq === verdict.records + 1 ? `record ${headSeq} is` : `records ${verdict.records + 1}–${headSeq} are`} missing from the end of the chain` };
    }
    if (head && head.hash !== verdict.head) {
      return { ok: false, records: verdict.records, seq: head.seq, problem: `record ${head.seq} does not match the recorded chain head` };
    }
    return verdict;
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

/** Opens the configured backend and brings its schema up to date. */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  let driver: SqlDriver;
  if (options.databaseUrl) {
    const { PostgresDriver } = await import('./postgres.ts');
    driver = new PostgresDriver(options.databaseUrl);
  } else {
    driver = new SqliteDriver(join(options.dataDir ?? './data', 'gatehouse.db'));
  }
  try {
    await migrate(driver);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new Store(driver);
}
