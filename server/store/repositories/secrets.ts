import type { SqlExecutor } from '../sql.ts';

/** Sealed secrets (encrypted by the caller), by scope and name. */
export class SealedSecretRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async put(scope: string, name: string, sealed: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO sealed_secrets (scope, name, sealed, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (scope, name) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at`,
      [scope, name, sealed, at],
    );
  }

  async get(scope: string, name: string): Promise<{ sealed: string; createdAt: number } | undefined> {
    const row = (await this.db.all<{ sealed: string; created_at: number | string }>(`SELECT sealed, created_at FROM sealed_secrets WHERE scope = ? AND name = ?`, [scope, name]))[0];
    return row ? { sealed: row.sealed, createdAt: Number(row.created_at) } : undefined;
  }

  /** Whether there was one to delete. */
  async delete(scope: string, name: string): Promise<boolean> {
    return (await this.db.run(`DELETE FROM sealed_secrets WHERE scope = ? AND name = ?`, [scope, name])) > 0;
  }

  /** Names (with their seal time) in one scope whose name starts with `prefix`. */
  async list(scope: string, prefix: string): Promise<{ name: string; createdAt: number }[]> {
    const rows = await this.db.all<{ name: string; created_at: number | string }>(`SELECT name, created_at FROM sealed_secrets WHERE scope = ? AND substr(name, 1, ?) = ? ORDER BY name`, [scope, prefix.length, prefix]);
    return rows.map((r) => ({ name: r.name, createdAt: Number(r.created_at) }));
  }
}
