import type { SqlExecutor } from '../sql.ts';

/** What the risk engine remembers per owner: a user's devices and sign-in countries, a client's addresses. */
export type SeenKind = 'device' | 'address' | 'sign-in';
/** What the engine learns for a client (server/risk/engine.ts); devices and sign-ins are users'. */
const CLIENT_KIND: SeenKind = 'address';

/** A client paused by the risk engine (`suspendClient`): refused at the token endpoint until lifted or `until`. */
export interface ClientSuspension {
  namespace: string;
  /** The Client's name (not its client_id). */
  client: string;
  organization: string;
  score: number;
  rules: string[];
  suspendedAt: number;
  /** Null: until a person lifts it. */
  until: number | null;
}

interface SuspensionRow {
  namespace: string;
  client: string;
  organization: string;
  score: number | string;
  rules: string;
  suspended_at: number | string;
  until_at: number | string | null;
}

const suspension = (r: SuspensionRow): ClientSuspension => ({ namespace: r.namespace, client: r.client, organization: r.organization, score: Number(r.score), rules: JSON.parse(r.rules) as string[], suspendedAt: Number(r.suspended_at), until: r.until_at === null ? null : Number(r.until_at) });

/**
 * The risk engine's state that replicas share (server/risk/engine.ts keeps the hot windows in
 * memory): what it has seen, and the clients it suspended.
 */
export class RiskRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  /** Records `value` as seen for `owner` at `at` (first time, or again). */
  async remember(namespace: string, kind: SeenKind, owner: string, value: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO risk_seen (namespace, kind, owner, value, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, kind, owner, value) DO UPDATE SET last_seen = excluded.last_seen`,
      [namespace, kind, owner, value, at, at],
    );
  }

  /** What was seen for `owner`, most recently seen first, at most `limit`. */
  async seen(namespace: string, kind: SeenKind, owner: string, limit = 1000): Promise<{ value: string; at: number }[]> {
    const rows = await this.db.all<{ value: string; last_seen: number | string }>(`SELECT value, last_seen FROM risk_seen WHERE namespace = ? AND kind = ? AND owner = ? ORDER BY last_seen DESC, value LIMIT ?`, [namespace, kind, owner, limit]);
    return rows.map((r) => ({ value: r.value, at: Number(r.last_seen) }));
  }

  /** Forgets what was seen for a user (erased): its devices and sign-ins; a client of the same name keeps its addresses. */
  async forget(namespace: string, user: string): Promise<number> {
    return this.db.run(`DELETE FROM risk_seen WHERE namespace = ? AND owner = ? AND kind <> ?`, [namespace, user, CLIENT_KIND]);
  }

  /**
   * Forgets what was learned for a client: its own (owner `<client>`) and, for a workspace
   * client, each organization's at the shared issuer (`<client> <organization>`). Only the
   * kinds a client owns: a user of the same name keeps its devices and sign-ins.
   */
  async forgetClient(namespace: string, client: string): Promise<number> {
    const prefix = `${client} `;
    return this.db.run(`DELETE FROM risk_seen WHERE namespace = ? AND kind = ? AND (owner = ? OR substr(owner, 1, ?) = ?)`, [namespace, CLIENT_KIND, client, prefix.length, prefix]);
  }

  /** Suspends a client, or replaces its suspension. */
  async suspend(s: ClientSuspension): Promise<void> {
    await this.db.run(
      `INSERT INTO client_suspensions (namespace, client, organization, score, rules, suspended_at, until_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, client) DO UPDATE SET organization = excluded.organization, score = excluded.score, rules = excluded.rules, suspended_at = excluded.suspended_at, until_at = excluded.until_at`,
      [s.namespace, s.client, s.organization, s.score, JSON.stringify(s.rules), s.suspendedAt, s.until],
    );
  }

  /** Lifts a client's suspension; the one lifted, or undefined when it was not suspended. */
  async lift(namespace: string, client: string): Promise<ClientSuspension | undefined> {
    const row = (await this.db.all<SuspensionRow>(`SELECT * FROM client_suspensions WHERE namespace = ? AND client = ?`, [namespace, client]))[0];
    if (!row) return undefined;
    return (await this.db.run(`DELETE FROM client_suspensions WHERE namespace = ? AND client = ?`, [namespace, client])) > 0 ? suspension(row) : undefined;
  }

  /** Every suspension (of `namespace`), lapsed ones included: whoever reads them compares `until` with its clock. */
  async suspensions(namespace?: string): Promise<ClientSuspension[]> {
    const rows = namespace === undefined ? await this.db.all<SuspensionRow>(`SELECT * FROM client_suspensions ORDER BY namespace, client`) : await this.db.all<SuspensionRow>(`SELECT * FROM client_suspensions WHERE namespace = ? ORDER BY client`, [namespace]);
    return rows.map(suspension);
  }
}
