import type { SqlExecutor } from '../sql.ts';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  sealedPrivateJwk: string;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** Published from creation, used for signing from this instant. */
  activatesAt: number;
  /** When a newer key took over; verification continues until `expiresAt`. */
  retiredAt: number | null;
  expiresAt: number | null;
}

/** Each namespace's signing keys (private halves sealed by the caller). */
export class SigningKeyRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async list(namespace: string): Promise<SigningKeyRow[]> {
    const rows = await this.db.all<{ kid: string; alg: string; private_jwk: string; public_jwk: string; created_at: number | string; activates_at: number | string; retired_at: number | string | null; expires_at: number | string | null }>(
      `SELECT kid, alg, private_jwk, public_jwk, created_at, activates_at, retired_at, expires_at FROM signing_keys WHERE namespace = ? ORDER BY activates_at DESC, created_at DESC`,
      [namespace],
    );
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      sealedPrivateJwk: r.private_jwk,
      publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
      createdAt: Number(r.created_at),
      activatesAt: Number(r.activates_at),
      retiredAt: r.retired_at === null ? null : Number(r.retired_at),
      expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    }));
  }

  async insert(namespace: string, key: SigningKeyRow): Promise<void> {
    await this.db.run(`INSERT INTO signing_keys (kid, namespace, alg, private_jwk, public_jwk, created_at, activates_at, retired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      key.kid,
      namespace,
      key.alg,
      key.sealedPrivateJwk,
      JSON.stringify(key.publicJwk),
      key.createdAt,
      key.activatesAt,
      key.retiredAt,
      key.expiresAt,
    ]);
  }

  async retire(kid: string, retiredAt: number, expiresAt: number): Promise<void> {
    await this.db.run(`UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE kid = ? AND retired_at IS NULL`, [retiredAt, expiresAt, kid]);
  }

  async deleteExpired(namespace: string, now: number): Promise<number> {
    return this.db.run(`DELETE FROM signing_keys WHERE namespace = ? AND expires_at IS NOT NULL AND expires_at <= ?`, [namespace, now]);
  }
}
