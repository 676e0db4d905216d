import type { SqlExecutor } from '../sql.ts';

/** Admin API tokens (hashes only). */
export class AdminTokenRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async put(name: string, tokenHash: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO admin_tokens (name, token_hash, created_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at`,
      [name, tokenHash, at],
    );
  }

  async list(): Promise<{ name: string; tokenHash: string }[]> {
    const rows = await this.db.all<{ name: string; token_hash: string }>(`SELECT name, token_hash FROM admin_tokens ORDER BY name`);
    return rows.map((r) => ({ name: r.name, tokenHash: r.token_hash }));
  }
}
