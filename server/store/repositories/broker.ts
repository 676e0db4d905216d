import type { SqlExecutor } from '../sql.ts';

/** The federation broker's pending requests and its replay cache of SAML assertions. */
export class BrokerRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async putRequest(id: string, namespace: string, payload: string, expiresAt: number): Promise<void> {
    await this.db.run(
      `INSERT INTO broker_requests (id, namespace, payload, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at`,
      [id, namespace, payload, expiresAt],
    );
  }

  /** Removes and returns a pending request, so each is used once; undefined when unknown, expired or already taken. */
  async takeRequest(id: string, now: number): Promise<string | undefined> {
    const row = (await this.db.all<{ payload: string }>(`SELECT payload FROM broker_requests WHERE id = ? AND expires_at > ?`, [id, now]))[0];
    if (!row) return undefined;
    const removed = await this.db.run(`DELETE FROM broker_requests WHERE id = ?`, [id]);
    return removed > 0 ? row.payload : undefined;
  }

  async peekRequest(id: string, now: number): Promise<string | undefined> {
    return (await this.db.all<{ payload: string }>(`SELECT payload FROM broker_requests WHERE id = ? AND expires_at > ?`, [id, now]))[0]?.payload;
  }

  /** Records an assertion ID until it expires; false when it was already seen (a replay). */
  async rememberAssertion(idp: string, id: string, expiresAt: number, now: number): Promise<boolean> {
    // A little cleaning on the way in, bounded so one sign-in never pays for a backlog (the sweeper owns that).
    await this.deleteExpiredAssertions(now, 50);
    return (await this.db.run(`INSERT INTO saml_assertions (idp, id, expires_at) VALUES (?, ?, ?) ON CONFLICT (idp, id) DO NOTHING`, [idp, id, expiresAt])) > 0;
  }

  /** Deletes at most `limit` pending broker requests that expired at or before `now`; returns how many went. */
  async deleteExpiredRequests(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM broker_requests WHERE id IN (SELECT id FROM broker_requests WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }

  /** Deletes at most `limit` replay-cache rows of SAML assertions that expired at or before `now`; returns how many went. */
  async deleteExpiredAssertions(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM saml_assertions WHERE (idp, id) IN (SELECT idp, id FROM saml_assertions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }
}
