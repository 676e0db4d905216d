import type { SqlExecutor } from '../sql.ts';

export type AccessRequestState = 'pending' | 'approved' | 'denied' | 'revoked' | 'expired';

/** A user's request for scopes an AccessPolicy marks `requireApproval`, and what became of it. */
export interface AccessRequestRecord {
  namespace: string;
  id: string;
  organization: string;
  /** The requester: a user id of the namespace. */
  userId: string;
  /** The client the user was signing in to when the request was made. */
  clientId: string;
  scopes: string[];
  justification: string | null;
  state: AccessRequestState;
  createdAt: number;
  /** When and by whom (an actor) it was approved or denied. */
  decidedAt: number | null;
  decidedBy: string | null;
  /** An approval's end; null: until revoked (or the contract's end, which stops every token anyway). */
  expiresAt: number | null;
  /** When an approval was revoked or found expired, and by whom. */
  endedAt: number | null;
  endedBy: string | null;
}

interface Row {
  namespace: string;
  id: string;
  organization: string;
  user_id: string;
  client_id: string;
  scopes: string;
  justification: string | null;
  state: string;
  created_at: number | string;
  decided_at: number | string | null;
  decided_by: string | null;
  expires_at: number | string | null;
  ended_at: number | string | null;
  ended_by: string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function record(r: Row): AccessRequestRecord {
  return {
    namespace: r.namespace,
    id: r.id,
    organization: r.organization,
    userId: r.user_id,
    clientId: r.client_id,
    scopes: r.scopes.split(' ').filter(Boolean),
    justification: r.justification,
    state: r.state as AccessRequestState,
    createdAt: Number(r.created_at),
    decidedAt: num(r.decided_at),
    decidedBy: r.decided_by,
    expiresAt: num(r.expires_at),
    endedAt: num(r.ended_at),
    endedBy: r.ended_by,
  };
}

/** Access requests: runtime state beside the AccessPolicy that asks for them, never the controller's to delete. */
export class AccessRequestRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async create(r: Pick<AccessRequestRecord, 'namespace' | 'id' | 'organization' | 'userId' | 'clientId' | 'scopes' | 'justification' | 'createdAt'>): Promise<AccessRequestRecord> {
    await this.db.run(`INSERT INTO access_requests (namespace, id, organization, user_id, client_id, scopes, justification, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`, [r.namespace, r.id, r.organization, r.userId, r.clientId, r.scopes.join(' '), r.justification, r.createdAt]);
    return { ...r, state: 'pending', decidedAt: null, decidedBy: null, expiresAt: null, endedAt: null, endedBy: null };
  }

  async find(namespace: string, id: string): Promise<AccessRequestRecord | undefined> {
    const row = (await this.db.all<Row>(`SELECT * FROM access_requests WHERE namespace = ? AND id = ?`, [namespace, id]))[0];
    return row ? record(row) : undefined;
  }

  /** The namespace's requests, newest first; only those of `organizations` and in `state` when given. */
  async list(namespace: string, filter: { organizations?: readonly string[]; state?: AccessRequestState; limit?: number } = {}): Promise<AccessRequestRecord[]> {
    const where = ['namespace = ?'];
    const params: (string | number)[] = [namespace];
    if (filter.organizations) {
      if (filter.organizations.length === 0) return [];
      where.push(`organization IN (${filter.organizations.map(() => '?').join(', ')})`);
      params.push(...filter.organizations);
    }
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    params.push(filter.limit ?? 1000);
    const rows = await this.db.all<Row>(`SELECT * FROM access_requests WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`, params);
    return rows.map(record);
  }

  /** A user's pending requests: the scopes already asked for, which a sign-in does not ask for again. */
  async pending(namespace: string, userId: string): Promise<AccessRequestRecord[]> {
    return (await this.db.all<Row>(`SELECT * FROM access_requests WHERE namespace = ? AND user_id = ? AND state = 'pending' ORDER BY created_at`, [namespace, userId])).map(record);
  }

  /**
   * The scopes a user holds by approval at `now`, each with the latest end among the approvals
   * that grant it (null: no end). An approval past its `expiresAt` grants nothing, whether or
   * not it has been marked expired yet.
   */
  async standing(namespace: string, userId: string, now: number): Promise<Map<string, number | null>> {
    const rows = await this.db.all<Row>(`SELECT * FROM access_requests WHERE namespace = ? AND user_id = ? AND state = 'approved' AND (expires_at IS NULL OR expires_at > ?)`, [namespace, userId, now]);
    const scopes = new Map<string, number | null>();
    for (const r of rows.map(record)) {
      for (const s of r.scopes) {
        const held = scopes.get(s);
        scopes.set(s, held === null || r.expiresAt === null ? null : Math.max(held ?? 0, r.expiresAt));
      }
    }
    return scopes;
  }

  /** Every approval standing at `now` in the namespace (for attestation). */
  async approvals(namespace: string, now: number): Promise<AccessRequestRecord[]> {
    const rows = await this.db.all<Row>(`SELECT * FROM access_requests WHERE namespace = ? AND state = 'approved' AND (expires_at IS NULL OR expires_at > ?) ORDER BY organization, user_id, created_at`, [namespace, now]);
    return rows.map(record);
  }

  /** The requester's justification, while the request is pending and theirs; false otherwise. */
  async justify(namespace: string, id: string, userId: string, justification: string): Promise<boolean> {
    return (await this.db.run(`UPDATE access_requests SET justification = ? WHERE namespace = ? AND id = ? AND user_id = ? AND state = 'pending'`, [justification, namespace, id, userId])) > 0;
  }

  /** Approves or denies a pending request; false when it is no longer pending (decided by someone else first). */
  async decide(namespace: string, id: string, decision: { state: 'approved' | 'denied'; at: number; by: string; expiresAt: number | null }): Promise<boolean> {
    const changed = await this.db.run(`UPDATE access_requests SET state = ?, decided_at = ?, decided_by = ?, expires_at = ? WHERE namespace = ? AND id = ? AND state = 'pending'`, [decision.state, decision.at, decision.by, decision.expiresAt, namespace, id]);
    return changed > 0;
  }

  /**
   * Ends an approval: `revoked` by an approver, or `expired` once its end has passed (only
   * then). False when it was not a standing approval.
   */
  async end(namespace: string, id: string, ending: { state: 'revoked' | 'expired'; at: number; by: string }): Promise<boolean> {
    const expiredOnly = ending.state === 'expired' ? ' AND expires_at IS NOT NULL AND expires_at <= ?' : '';
    const changed = await this.db.run(`UPDATE access_requests SET state = ?, ended_at = ?, ended_by = ? WHERE namespace = ? AND id = ? AND state = 'approved'${expiredOnly}`, [ending.state, ending.at, ending.by, namespace, id, ...(ending.state === 'expired' ? [ending.at] : [])]);
    return changed > 0;
  }

  /** Approvals whose end has passed but that are still marked approved, oldest end first. */
  async lapsed(now: number, limit = 500): Promise<AccessRequestRecord[]> {
    const rows = await this.db.all<Row>(`SELECT * FROM access_requests WHERE state = 'approved' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`, [now, limit]);
    return rows.map(record);
  }
}
