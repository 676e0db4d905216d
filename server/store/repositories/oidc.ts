import type { SqlExecutor } from '../sql.ts';

/** A client's cutoff shares the issuers' table, under a key no issuer path can take (paths have no space). */
const clientCutoffKey = (issuer: string, clientId: string) => `${issuer} client ${clientId}`;

/** oidc-provider's models (codes, sessions, grants, tokens, …) and the issuers' and clients' token cutoffs. */
export class OidcRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async upsert(issuer: string, model: string, id: string, payload: string, refs: { grantId?: string | undefined; uid?: string | undefined; userCode?: string | undefined }, expiresAt: number | null): Promise<void> {
    await this.db.run(
      `INSERT INTO oidc_models (issuer, model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (issuer, model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
         user_code = excluded.user_code, expires_at = excluded.expires_at, consumed_at = NULL`,
      [issuer, model, id, payload, refs.grantId ?? null, refs.uid ?? null, refs.userCode ?? null, expiresAt],
    );
  }

  async find(issuer: string, model: string, where: 'id' | 'uid' | 'user_code', value: string, now: number): Promise<{ payload: string; consumedAt: number | null } | undefined> {
    const row = (await this.db.all<{ payload: string; consumed_at: number | string | null }>(`SELECT payload, consumed_at FROM oidc_models WHERE issuer = ? AND model = ? AND ${where} = ? AND (expires_at IS NULL OR expires_at > ?)`, [issuer, model, value, now]))[0];
    return row ? { payload: row.payload, consumedAt: row.consumed_at === null ? null : Number(row.consumed_at) } : undefined;
  }

  async consume(issuer: string, model: string, id: string, now: number): Promise<void> {
    await this.db.run(`UPDATE oidc_models SET consumed_at = ? WHERE issuer = ? AND model = ? AND id = ?`, [now, issuer, model, id]);
  }

  async destroy(issuer: string, model: string, id: string): Promise<void> {
    await this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND model = ? AND id = ?`, [issuer, model, id]);
  }

  async revokeGrant(issuer: string, grantId: string): Promise<number> {
    return this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND grant_id = ?`, [issuer, grantId]);
  }

  /**
   * Every grant, token and session of the given issuers (the kill switch), and every JWT
   * access token they signed before `issuedBefore` (ms; compared with the token's `iat`):
   * client-credentials tokens are bound to no grant, so deleting grants alone would let
   * them live again if the organization is reinstated.
   */
  async revokeIssuers(issuers: string[], issuedBefore: number): Promise<number> {
    let removed = 0;
    for (const issuer of issuers) {
      removed += await this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND model <> 'Client'`, [issuer]);
      await this.db.run(`INSERT INTO issuer_cutoffs (issuer, issued_before) VALUES (?, ?) ON CONFLICT (issuer) DO UPDATE SET issued_before = excluded.issued_before`, [issuer, issuedBefore]);
    }
    return removed;
  }

  /**
   * The later of the issuer's cutoff (`revokeIssuers`) and its client's (`revokeClient`),
   * in ms; 0 when neither is set. A JWT access token issued before it is inactive.
   */
  async tokenCutoff(issuer: string, clientId: string | undefined): Promise<number> {
    const keys = clientId === undefined ? [issuer] : [issuer, clientCutoffKey(issuer, clientId)];
    const rows = await this.db.all<{ issued_before: number | string }>(`SELECT issued_before FROM issuer_cutoffs WHERE issuer IN (${keys.map(() => '?').join(', ')})`, keys);
    return Math.max(0, ...rows.map((r) => Number(r.issued_before)));
  }

  /**
   * Every grant, code, refresh and opaque access token of one client at one issuer (a deleted
   * Client), and a cutoff for the JWT access tokens it was issued before `issuedBefore`
   * (client-credentials ones are bound to no grant).
   */
  async revokeClient(issuer: string, clientId: string, issuedBefore: number): Promise<number> {
    await this.db.run(`INSERT INTO issuer_cutoffs (issuer, issued_before) VALUES (?, ?) ON CONFLICT (issuer) DO UPDATE SET issued_before = excluded.issued_before`, [clientCutoffKey(issuer, clientId), issuedBefore]);
    return this.deleteOidcModelsWhere(issuer, (payload) => payload.clientId === clientId);
  }

  /** Deletes the models of one issuer whose payload matches; the owner is inside the payload only, so the scan is bounded by one issuer's live models. */
  private async deleteOidcModelsWhere(issuer: string, matches: (payload: { accountId?: unknown; clientId?: unknown }) => boolean): Promise<number> {
    let removed = 0;
    const rows = await this.db.all<{ model: string; id: string; payload: string }>(`SELECT model, id, payload FROM oidc_models WHERE issuer = ? AND model <> 'Client'`, [issuer]);
    for (const row of rows) {
      if (matches(JSON.parse(row.payload) as { accountId?: unknown })) removed += await this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND model = ? AND id = ?`, [issuer, row.model, row.id]);
    }
    return removed;
  }

  /** Every grant, token and session of the given accounts at the given issuers (deactivated users). */
  async revokeAccounts(issuers: string[], accountIds: string[]): Promise<number> {
    const accounts = new Set(accountIds);
    let removed = 0;
    if (accounts.size === 0) return 0;
    for (const issuer of issuers) removed += await this.deleteOidcModelsWhere(issuer, (payload) => typeof payload.accountId === 'string' && accounts.has(payload.accountId));
    return removed;
  }

  /** An OIDC model by id at whichever issuer holds it (opaque access tokens carry no issuer). */
  async findAnywhere(model: string, id: string, now: number): Promise<{ issuer: string; payload: string } | undefined> {
    const row = (await this.db.all<{ issuer: string; payload: string }>(`SELECT issuer, payload FROM oidc_models WHERE model = ? AND id = ? AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`, [model, id, now]))[0];
    return row;
  }

  /**
   * Deletes at most `limit` oidc-provider rows (codes, sessions, interactions, grants, refresh
   * tokens, consumed or not) that expired at or before `now`; returns how many went. Every read
   * asks `expires_at > now`, so none of them could be found any more. A consumed refresh token
   * that has not expired stays: presenting it again is how reuse is detected (grant revoked).
   */
  async deleteExpired(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM oidc_models WHERE (issuer, model, id) IN (SELECT issuer, model, id FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }
}
