import type { SqlExecutor } from '../sql.ts';

/** JWT access tokens, which oidc-provider does not keep: recorded so they can be revoked. */
export class AccessTokenRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async record(issuer: string, jti: string, grantId: string | null, expiresAt: number): Promise<void> {
    await this.db.run(`INSERT INTO access_tokens (issuer, jti, grant_id, expires_at, revoked_at) VALUES (?, ?, ?, ?, NULL) ON CONFLICT (issuer, jti) DO NOTHING`, [issuer, jti, grantId, expiresAt]);
  }

  async revoke(issuer: string, jti: string, expiresAt: number, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO access_tokens (issuer, jti, grant_id, expires_at, revoked_at) VALUES (?, ?, NULL, ?, ?)
       ON CONFLICT (issuer, jti) DO UPDATE SET revoked_at = excluded.revoked_at`,
      [issuer, jti, expiresAt, now],
    );
  }

  async find(issuer: string, jti: string): Promise<{ grantId: string | null; revokedAt: number | null } | undefined> {
    const row = (await this.db.all<{ grant_id: string | null; revoked_at: number | string | null }>(`SELECT grant_id, revoked_at FROM access_tokens WHERE issuer = ? AND jti = ?`, [issuer, jti]))[0];
    return row ? { grantId: row.grant_id, revokedAt: row.revoked_at === null ? null : Number(row.revoked_at) } : undefined;
  }

  /**
   * Deletes at most `limit` JWT access-token records (issued or revoked) whose token expired at
   * or before `now`: the token's own `exp` refuses it from then on, so the record decides nothing.
   */
  async deleteExpired(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM access_tokens WHERE (issuer, jti) IN (SELECT issuer, jti FROM access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }
}
