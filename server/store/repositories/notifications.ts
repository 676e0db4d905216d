import type { SqlExecutor } from '../sql.ts';

/**
 * `pending`: waiting to be sent (or retried); `sent`: a channel accepted it; `held`: no channel
 * is configured (no SMTP URL, no webhook), kept for the admin API, the CLI and the log, and
 * pending again once a channel appears (`release`); `failed`: every attempt failed; `expired`:
 * useless before it went out (its one-time link expired, was used or replaced), never sent.
 */
export type NotificationState = 'pending' | 'sent' | 'held' | 'failed' | 'expired';

export interface NotificationRecord {
  id: string;
  namespace: string;
  /** '' for a message of the workspace (no organization). */
  organization: string;
  message: string;
  recipient: string;
  /** The user it is about, when there is one (erasing the user erases its messages). */
  userId: string | null;
  variables: Record<string, string>;
  state: NotificationState;
  attempts: number;
  nextAttemptAt: number;
  channel: string | null;
  lastError: string | null;
  createdAt: number;
  sentAt: number | null;
}

interface NotificationRow {
  id: string;
  namespace: string;
  organization: string;
  message: string;
  recipient: string;
  user_id: string | null;
  variables: string;
  state: string;
  attempts: number | string;
  next_attempt_at: number | string;
  channel: string | null;
  last_error: string | null;
  created_at: number | string;
  sent_at: number | string | null;
}

const COLUMNS = 'id, namespace, organization, message, recipient, user_id, variables, state, attempts, next_attempt_at, channel, last_error, created_at, sent_at';

function toRecord(r: NotificationRow): NotificationRecord {
  return {
    id: r.id,
    namespace: r.namespace,
    organization: r.organization,
    message: r.message,
    recipient: r.recipient,
    userId: r.user_id,
    variables: JSON.parse(r.variables) as Record<string, string>,
    state: r.state as NotificationState,
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    channel: r.channel,
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
  };
}

export type NewNotification = Pick<NotificationRecord, 'id' | 'namespace' | 'organization' | 'message' | 'recipient' | 'userId' | 'variables'>;

/**
 * The notification outbox. A message is written in the transaction of the change that causes
 * it (so it exists exactly when the change does) and sent later by a dispatcher that leases
 * due rows: a lease is taken by one update whose condition another replica's concurrent
 * update re-checks (PostgreSQL re-reads a row it waited on), so two replicas never hold one row.
 */
export class NotificationRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async enqueue(n: NewNotification, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO notifications (id, namespace, organization, message, recipient, user_id, variables, state, attempts, next_attempt_at, lease_owner, lease_until, channel, last_error, created_at, sent_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL, NULL, NULL, ?, NULL)`,
      [n.id, n.namespace, n.organization, n.message, n.recipient, n.userId, JSON.stringify(n.variables), now, now],
    );
  }

  /**
   * Leases up to `limit` due pending messages to `owner` until `until`; returns them. A row whose
   * lease has run out (its holder died) is due again.
   */
  async lease(owner: string, now: number, until: number, limit: number): Promise<NotificationRecord[]> {
    const due = `state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)`;
    await this.db.run(`UPDATE notifications SET lease_owner = ?, lease_until = ? WHERE id IN (SELECT id FROM notifications WHERE ${due} ORDER BY next_attempt_at, id LIMIT ?) AND ${due}`, [owner, until, now, now, limit, now, now]);
    const rows = await this.db.all<NotificationRow>(`SELECT ${COLUMNS} FROM notifications WHERE lease_owner = ? AND lease_until = ? AND state = 'pending' ORDER BY next_attempt_at, id`, [owner, until]);
    return rows.map(toRecord);
  }

  /**
   * Extends `owner`'s lease of one message to `until`, just before it is attempted; false when
   * another replica has taken it since (the batch took longer than the lease): then it is not attempted.
   */
  async renew(id: string, owner: string, until: number): Promise<boolean> {
    return (await this.db.run(`UPDATE notifications SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = 'pending'`, [until, id, owner])) > 0;
  }

  /** Records the outcome of an attempt made under `owner`'s lease; false when the lease was lost (another replica owns the row now). */
  async settle(id: string, owner: string, outcome: { state: NotificationState; attempts: number; nextAttemptAt?: number; channel?: string | null; error?: string | null; at: number }): Promise<boolean> {
    const changed = await this.db.run(`UPDATE notifications SET state = ?, attempts = ?, next_attempt_at = ?, channel = ?, last_error = ?, sent_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND state = 'pending'`, [
      outcome.state,
      outcome.attempts,
      outcome.nextAttemptAt ?? outcome.at,
      outcome.channel ?? null,
      outcome.error ?? null,
      outcome.state === 'sent' || outcome.state === 'held' ? outcome.at : null,
      id,
      owner,
    ]);
    return changed > 0;
  }

  /** The namespaces that have held messages. */
  async heldNamespaces(): Promise<string[]> {
    return (await this.db.all<{ namespace: string }>(`SELECT DISTINCT namespace FROM notifications WHERE state = 'held' ORDER BY namespace`)).map((r) => r.namespace);
  }

  /** A channel appeared: a namespace's held messages are pending again, due now. Returns how many. */
  async release(namespace: string, now: number): Promise<number> {
    return this.db.run(`UPDATE notifications SET state = 'pending', next_attempt_at = ?, channel = NULL, sent_at = NULL WHERE namespace = ? AND state = 'held'`, [now, namespace]);
  }

  async find(id: string): Promise<NotificationRecord | undefined> {
    const row = (await this.db.all<NotificationRow>(`SELECT ${COLUMNS} FROM notifications WHERE id = ?`, [id]))[0];
    return row ? toRecord(row) : undefined;
  }

  /** A namespace's messages, newest first; of the given organizations when named. */
  async list(namespace: string, options: { organizations?: string[]; state?: NotificationState; limit?: number } = {}): Promise<NotificationRecord[]> {
    if (options.organizations && options.organizations.length === 0) return [];
    const where = ['namespace = ?'];
    const params: (string | number)[] = [namespace];
    if (options.organizations) {
      where.push(`organization IN (${options.organizations.map(() => '?').join(', ')})`);
      params.push(...options.organizations);
    }
    if (options.state) {
      where.push('state = ?');
      params.push(options.state);
    }
    params.push(Math.min(Math.max(options.limit ?? 100, 1), 1000));
    const rows = await this.db.all<NotificationRow>(`SELECT ${COLUMNS} FROM notifications WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`, params);
    return rows.map(toRecord);
  }

  /** Replaces a sent message's variables (its links, say) with what the admin API may keep showing. */
  async redact(id: string, variables: Record<string, string>): Promise<void> {
    await this.db.run(`UPDATE notifications SET variables = ? WHERE id = ?`, [JSON.stringify(variables), id]);
  }

  /** Erases every message about a user (erasure of the user). */
  async eraseUser(namespace: string, userId: string): Promise<number> {
    return this.db.run(`DELETE FROM notifications WHERE namespace = ? AND user_id = ?`, [namespace, userId]);
  }
}
