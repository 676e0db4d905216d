import { withRequestId } from '../log.ts';
import type { AnyObject, KindName, Reference } from '../../api/index.ts';
import type { AuditAction } from '../audit/actions.ts';
import { GENESIS_HASH, keyingTag, recordHash, type AuditFields, type AuditKey, type ChainKeying, type ChainRecord } from '../audit/chain.ts';
import type { SqlExecutor, SqlValue } from './sql.ts';

/** A client's cutoff shares the issuers' table, under a key no issuer path can take (paths have no space). */
const clientCutoffKey = (issuer: string, clientId: string) => `${issuer} client ${clientId}`;

export interface StoredObject {
  uid: string;
  generation: number;
  object: AnyObject;
  status: Record<string, unknown> | null;
  createdAt: number;
  updatedAt: number;
}

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

export interface UserProfile {
  name?: string;
  givenName?: string;
  familyName?: string;
  attributes?: Record<string, string>;
  /** Claims or attributes the upstream IdP asserted at the last sign-in. */
  upstream?: Record<string, unknown>;
}

export interface UserRecord {
  namespace: string;
  id: string;
  organization: string;
  /** The IdPConnection that vouches for the user (`directory` for declared users). */
  connection: string;
  subject: string;
  email: string;
  /** The User object that declares this user, if any. */
  declaredAs: string | null;
  profile: UserProfile;
  roles: string[];
  active: boolean;
  passwordHash: string | null;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
}

interface UserRow {
  namespace: string;
  id: string;
  organization: string;
  connection: string;
  subject: string;
  email: string;
  declared_as: string | null;
  profile: string;
  roles: string;
  active: number | string;
  password_hash: string | null;
  created_at: number | string;
  updated_at: number | string;
  last_login_at: number | string | null;
}

const USER_COLUMNS = 'namespace, id, organization, connection, subject, email, declared_as, profile, roles, active, password_hash, created_at, updated_at, last_login_at';

function toUser(r: UserRow): UserRecord {
  return {
    namespace: r.namespace,
    id: r.id,
    organization: r.organization,
    connection: r.connection,
    subject: r.subject,
    email: r.email,
    declaredAs: r.declared_as,
    profile: JSON.parse(r.profile) as UserProfile,
    roles: JSON.parse(r.roles) as string[],
    active: Number(r.active) === 1,
    passwordHash: r.password_hash,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastLoginAt: r.last_login_at === null ? null : Number(r.last_login_at),
  };
}

export interface Dependant {
  kind: KindName;
  name: string;
  field: string;
}

/**
 * What a caller says of a new audit record; sequence, time and hashes are the log's. New
 * records name an action of the vocabulary; records read back keep whatever they were written with.
 */
export type AuditEntry = Omit<AuditFields, 'seq' | 'at' | 'action' | 'namespace' | 'organization' | 'kind' | 'name' | 'client' | 'subject' | 'outcome'> & {
  action: AuditAction;
  namespace?: string | null;
  organization?: string | null;
  kind?: string | null;
  name?: string | null;
  client?: string | null;
  subject?: string | null;
  outcome?: string;
};

export interface AuditQuery {
  namespace?: string;
  organization?: string;
  /** Any of these organizations (an organization and its sub-organizations). */
  organizations?: string[];
  action?: string;
  /** Actions starting with this (`token.` for every token event). */
  actionPrefix?: string;
  actor?: string;
  client?: string;
  subject?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** Records with a sequence number below this one (cursor for newest-first paging). */
  before?: number;
  /** Records with a sequence number above this one (cursor for oldest-first export). */
  after?: number;
  /** Oldest first instead of newest first. */
  ascending?: boolean;
  limit?: number;
}

interface ObjectRow {
  uid: string;
  generation: number | string;
  body: string;
  status: string | null;
  created_at: number | string;
  updated_at: number | string;
}

interface AuditRow {
  seq: number | string;
  at: number | string;
  action: string;
  actor: string;
  namespace: string | null;
  organization: string | null;
  kind: string | null;
  name: string | null;
  client: string | null;
  subject: string | null;
  outcome: string;
  data: string;
  prev_hash: string;
  hash: string;
}

function toStored(row: ObjectRow): StoredObject {
  return {
    uid: row.uid,
    generation: Number(row.generation),
    object: JSON.parse(row.body) as AnyObject,
    status: row.status ? (JSON.parse(row.status) as Record<string, unknown>) : null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toChainRecord(row: AuditRow): ChainRecord {
  return {
    seq: Number(row.seq),
    at: Number(row.at),
    action: row.action,
    actor: row.actor,
    namespace: row.namespace,
    organization: row.organization,
    kind: row.kind,
    name: row.name,
    client: row.client,
    subject: row.subject,
    outcome: row.outcome,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

interface HeadRow {
  seq: number | string;
  hash: string;
  keyed_from: number | string | null;
  keyed_by: string | null;
  keyed_tag: string | null;
}

const HEAD_COLUMNS = 'seq, hash, keyed_from, keyed_by, keyed_tag';

/** A switch point missing any of its parts is still a switch point: verification then refuses its tag, never skips it. */
function keyingOf(row: HeadRow): ChainKeying | null {
  if (row.keyed_from === null && row.keyed_by === null && row.keyed_tag === null) return null;
  return { from: Number(row.keyed_from ?? 0), keyId: row.keyed_by ?? '', tag: row.keyed_tag ?? '' };
}

const OBJECT_COLUMNS = 'uid, generation, body, status, created_at, updated_at';
const AUDIT_COLUMNS = 'seq, at, action, actor, namespace, organization, kind, name, client, subject, outcome, data, prev_hash, hash';
/** Rows per INSERT when appending a batch of audit records. */
const INSERT_ROWS = [64, 16, 4, 1];
const INSERT_AUDIT = new Map(INSERT_ROWS.map((rows) => [rows, `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`]));

/** Every query the server makes of its store, over either backend, inside or outside a transaction. */
export class Repository {
  private readonly db: SqlExecutor;
  private readonly auditKey: () => AuditKey | undefined;

  /** `auditKey`: the key new audit records are hashed with; none, and they stay unkeyed until a keyed writer has switched the chain. */
  constructor(db: SqlExecutor, auditKey: () => AuditKey | undefined = () => undefined) {
    this.db = db;
    this.auditKey = auditKey;
  }

  // ── declared objects ────────────────────────────────────────────────

  async getObject(kind: KindName, namespace: string, name: string): Promise<StoredObject | undefined> {
    const rows = await this.db.all<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE kind = ? AND namespace = ? AND name = ?`, [kind, namespace, name]);
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  async listObjects(filter: { kind?: KindName; namespace?: string } = {}): Promise<StoredObject[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.kind) (where.push('kind = ?'), params.push(filter.kind));
    if (filter.namespace) (where.push('namespace = ?'), params.push(filter.namespace));
    const rows = await this.db.all<ObjectRow>(
      `SELECT ${OBJECT_COLUMNS} FROM objects ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY namespace, kind, name`,
      params,
    );
    return rows.map(toStored);
  }

  /** Inserts or replaces an object; `object.metadata` must already carry its namespace, generation and creation time. */
  async putObject(stored: Omit<StoredObject, 'status'> & { status?: Record<string, unknown> | null }): Promise<void> {
    const { object } = stored;
    const namespace = object.metadata.namespace;
    if (!namespace) throw new Error(`${object.kind} ${object.metadata.name} has no namespace`);
    await this.db.run(
      `INSERT INTO objects (kind, namespace, name, uid, generation, body, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind, namespace, name) DO UPDATE SET
         generation = excluded.generation, body = excluded.body, updated_at = excluded.updated_at`,
      [object.kind, namespace, object.metadata.name, stored.uid, stored.generation, JSON.stringify(object), stored.status ? JSON.stringify(stored.status) : null, stored.createdAt, stored.updatedAt],
    );
  }

  async setStatus(kind: KindName, namespace: string, name: string, status: Record<string, unknown>): Promise<boolean> {
    const changed = await this.db.run(`UPDATE objects SET status = ? WHERE kind = ? AND namespace = ? AND name = ?`, [JSON.stringify(status), kind, namespace, name]);
    return changed > 0;
  }

  async deleteObject(kind: KindName, namespace: string, name: string): Promise<boolean> {
    await this.db.run(`DELETE FROM object_refs WHERE from_kind = ? AND namespace = ? AND from_name = ?`, [kind, namespace, name]);
    return (await this.db.run(`DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?`, [kind, namespace, name])) > 0;
  }

  /** Records the outgoing references of an object, replacing the ones it had. */
  async setReferences(kind: KindName, namespace: string, name: string, refs: Reference[]): Promise<void> {
    await this.db.run(`DELETE FROM object_refs WHERE from_kind = ? AND namespace = ? AND from_name = ?`, [kind, namespace, name]);
    for (const r of refs) {
      await this.db.run(`INSERT INTO object_refs (from_kind, namespace, from_name, field, to_kind, to_name) VALUES (?, ?, ?, ?, ?, ?)`, [kind, namespace, name, r.field, r.kind, r.name]);
    }
  }

  /** Objects whose references name the given one. */
  async dependantsOf(kind: KindName, namespace: string, name: string): Promise<Dependant[]> {
    const rows = await this.db.all<{ from_kind: KindName; from_name: string; field: string }>(
      `SELECT from_kind, from_name, field FROM object_refs WHERE to_kind = ? AND namespace = ? AND to_name = ? ORDER BY from_kind, from_name, field`,
      [kind, namespace, name],
    );
    return rows.map((r) => ({ kind: r.from_kind, name: r.from_name, field: r.field }));
  }

  // ── audit chain ─────────────────────────────────────────────────────

  /**
   * Appends one record to the hash chain. Must run inside the transaction of the change
   * it records; on PostgreSQL the head row is locked so replicas append one at a time.
   */
  async appendAudit(entry: AuditEntry, at: number): Promise<ChainRecord> {
    // Called while serving the request (batches are not: they may run in another request's context, or another thread).
    return (await this.appendAuditBatch([{ entry: { ...entry, data: withRequestId(entry.data) }, at }]))[0]!;
  }

  /**
   * Appends several records in order, reading and moving the chain head once (group commit).
   * The first append made with an audit key switches the chain to keyed hashes from its first
   * record on, and records the switch point with a tag in the head row, in the same transaction.
   */
  async appendAuditBatch(items: { entry: AuditEntry; at: number }[]): Promise<ChainRecord[]> {
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const head = (await this.db.all<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1${lock}`))[0];
    let prevHash = head?.hash ?? GENESIS_HASH;
    let seq = head ? Number(head.seq) : 0;
    const key = this.auditKey();
    let keying = head ? keyingOf(head) : null;
    let switched: ChainKeying | undefined;
    if (keying && !key) throw new Error(`the audit chain is keyed from record ${keying.from}: this process has no GATEHOUSE_SECRET_KEY to append to it`);
    if (keying && key && keying.keyId !== key.id) {
      throw new Error(`the audit chain was keyed with another GATEHOUSE_SECRET_KEY (key id ${keying.keyId}, this server has ${key.id}): refusing to append`);
    }
    if (!keying && key && items.length > 0) keying = switched = { from: seq + 1, keyId: key.id, tag: keyingTag(key, seq + 1, prevHash) };
    const written: ChainRecord[] = [];
    for (const { entry, at } of items) {
      const fields: AuditFields = {
        seq: ++seq,
        at,
        action: entry.action,
        actor: entry.actor,
        namespace: entry.namespace ?? null,
        organization: entry.organization ?? null,
        kind: entry.kind ?? null,
        name: entry.name ?? null,
        client: entry.client ?? null,
        subject: entry.subject ?? null,
        outcome: entry.outcome ?? 'success',
        data: entry.data,
      };
      const hash = recordHash(prevHash, fields, keying ? key : undefined);
      written.push({ ...fields, prevHash, hash });
      prevHash = hash;
    }
    // Several rows per statement, in a few fixed sizes so that each connection prepares at most four.
    for (let i = 0; i < written.length; ) {
      const rows = INSERT_ROWS.find((n) => n <= written.length - i)!;
      const params: SqlValue[] = [];
      for (const r of written.slice(i, i + rows)) {
        params.push(r.seq, r.at, r.action, r.actor, r.namespace, r.organization, r.kind, r.name, r.client, r.subject, r.outcome, JSON.stringify(r.data), r.prevHash, r.hash);
      }
      await this.db.run(INSERT_AUDIT.get(rows)!, params);
      i += rows;
    }
    if (written.length === 0) return written;
    if (switched) {
      const k: SqlValue[] = [switched.from, switched.keyId, switched.tag];
      if (head) await this.db.run(`UPDATE audit_head SET seq = ?, hash = ?, keyed_from = ?, keyed_by = ?, keyed_tag = ? WHERE id = 1`, [seq, prevHash, ...k]);
      else await this.db.run(`INSERT INTO audit_head (id, seq, hash, keyed_from, keyed_by, keyed_tag) VALUES (1, ?, ?, ?, ?, ?)`, [seq, prevHash, ...k]);
    } else if (head) await this.db.run(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, [seq, prevHash]);
    else await this.db.run(`INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)`, [seq, prevHash]);
    return written;
  }

  /** Newest first. */
  async queryAudit(q: AuditQuery = {}): Promise<ChainRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const eq = (column: string, value: string | undefined) => {
      if (value !== undefined) (where.push(`${column} = ?`), params.push(value));
    };
    eq('namespace', q.namespace);
    eq('organization', q.organization);
    eq('action', q.action);
    eq('actor', q.actor);
    eq('client', q.client);
    eq('subject', q.subject);
    if (q.organizations !== undefined) {
      if (q.organizations.length === 0) return [];
      where.push(`organization IN (${q.organizations.map(() => '?').join(', ')})`);
      params.push(...q.organizations);
    }
    if (q.actionPrefix !== undefined) {
      // substr rather than LIKE: action names may hold "_" and "%" would need escaping on both backends.
      (where.push('substr(action, 1, ?) = ?'), params.push(q.actionPrefix.length, q.actionPrefix));
    }
    if (q.since !== undefined) (where.push('at >= ?'), params.push(q.since));
    if (q.until !== undefined) (where.push('at < ?'), params.push(q.until));
    if (q.before !== undefined) (where.push('seq < ?'), params.push(q.before));
    if (q.after !== undefined) (where.push('seq > ?'), params.push(q.after));
    params.push(Math.min(Math.max(q.limit ?? 100, 1), 1000));
    const rows = await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${q.ascending ? 'ASC' : 'DESC'} LIMIT ?`, params);
    return rows.map(toChainRecord);
  }

  /** The whole chain in order, a page at a time, for verification and export. */
  async *walkAudit(pageSize = 1000): AsyncGenerator<ChainRecord> {
    let after = 0;
    for (;;) {
      const rows = await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, [after, pageSize]);
      for (const row of rows) yield toChainRecord(row);
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  /** The head as recorded, and where the chain switched to keyed hashes (null: it has not). */
  async auditHead(): Promise<{ seq: number; hash: string; keying: ChainKeying | null } | undefined> {
    const row = (await this.db.all<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1`))[0];
    return row ? { seq: Number(row.seq), hash: row.hash, keying: keyingOf(row) } : undefined;
  }

  /** One record, as stored. */
  async auditRecord(seq: number): Promise<ChainRecord | undefined> {
    const row = (await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit WHERE seq = ?`, [seq]))[0];
    return row ? toChainRecord(row) : undefined;
  }

  // ── configuration versions ──────────────────────────────────────────

  /**
   * Serialises writes that check a namespace-wide invariant (an email domain has one owner)
   * until the transaction ends. SQLite transactions already run one at a time (BEGIN
   * IMMEDIATE); PostgreSQL's READ COMMITTED would let two racing writes both pass the check.
   */
  async lockNamespace(namespace: string): Promise<void> {
    if (this.db.dialect === 'postgres') await this.db.all(`SELECT pg_advisory_xact_lock(hashtextextended(?, 7193)) AS locked`, [`namespace:${namespace}`]);
  }

  /** Marks a namespace's configuration as changed; issuers built from an older version are rebuilt. */
  async bumpConfigVersion(namespace: string): Promise<void> {
    await this.db.run(
      `INSERT INTO config_versions (namespace, version) VALUES (?, 1)
       ON CONFLICT (namespace) DO UPDATE SET version = config_versions.version + 1`,
      [namespace],
    );
  }

  async configVersions(): Promise<Map<string, number>> {
    const rows = await this.db.all<{ namespace: string; version: number | string }>(`SELECT namespace, version FROM config_versions`);
    return new Map(rows.map((r) => [r.namespace, Number(r.version)]));
  }

  // ── signing keys (private halves sealed by the caller) ──────────────

  async signingKeys(namespace: string): Promise<SigningKeyRow[]> {
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

  async insertSigningKey(namespace: string, key: SigningKeyRow): Promise<void> {
    await this.db.run(
      `INSERT INTO signing_keys (kid, namespace, alg, private_jwk, public_jwk, created_at, activates_at, retired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [key.kid, namespace, key.alg, key.sealedPrivateJwk, JSON.stringify(key.publicJwk), key.createdAt, key.activatesAt, key.retiredAt, key.expiresAt],
    );
  }

  async retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void> {
    await this.db.run(`UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE kid = ? AND retired_at IS NULL`, [retiredAt, expiresAt, kid]);
  }

  async deleteExpiredSigningKeys(namespace: string, now: number): Promise<number> {
    return this.db.run(`DELETE FROM signing_keys WHERE namespace = ? AND expires_at IS NOT NULL AND expires_at <= ?`, [namespace, now]);
  }

  // ── OIDC models (oidc-provider's adapter) ───────────────────────────

  async upsertOidcModel(issuer: string, model: string, id: string, payload: string, refs: { grantId?: string | undefined; uid?: string | undefined; userCode?: string | undefined }, expiresAt: number | null): Promise<void> {
    await this.db.run(
      `INSERT INTO oidc_models (issuer, model, id, payload, grant_id, uid, user_code, expires_at, consumed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (issuer, model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
         user_code = excluded.user_code, expires_at = excluded.expires_at, consumed_at = NULL`,
      [issuer, model, id, payload, refs.grantId ?? null, refs.uid ?? null, refs.userCode ?? null, expiresAt],
    );
  }

  async findOidcModel(issuer: string, model: string, where: 'id' | 'uid' | 'user_code', value: string, now: number): Promise<{ payload: string; consumedAt: number | null } | undefined> {
    const row = (await this.db.all<{ payload: string; consumed_at: number | string | null }>(
      `SELECT payload, consumed_at FROM oidc_models WHERE issuer = ? AND model = ? AND ${where} = ? AND (expires_at IS NULL OR expires_at > ?)`,
      [issuer, model, value, now],
    ))[0];
    return row ? { payload: row.payload, consumedAt: row.consumed_at === null ? null : Number(row.consumed_at) } : undefined;
  }

  async consumeOidcModel(issuer: string, model: string, id: string, now: number): Promise<void> {
    await this.db.run(`UPDATE oidc_models SET consumed_at = ? WHERE issuer = ? AND model = ? AND id = ?`, [now, issuer, model, id]);
  }

  async destroyOidcModel(issuer: string, model: string, id: string): Promise<void> {
    await this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND model = ? AND id = ?`, [issuer, model, id]);
  }

  async revokeOidcGrant(issuer: string, grantId: string): Promise<number> {
    return this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND grant_id = ?`, [issuer, grantId]);
  }

  /**
   * Every grant, token and session of the given issuers (the kill switch), and every JWT
   * access token they signed before `issuedBefore` (ms; compared with the token's `iat`):
   * client-credentials tokens are bound to no grant, so deleting grants alone would let
   * them live again if the organization is reinstated.
   */
  async revokeOidcIssuers(issuers: string[], issuedBefore: number): Promise<number> {
    let removed = 0;
    for (const issuer of issuers) {
      removed += await this.db.run(`DELETE FROM oidc_models WHERE issuer = ? AND model <> 'Client'`, [issuer]);
      await this.db.run(`INSERT INTO issuer_cutoffs (issuer, issued_before) VALUES (?, ?) ON CONFLICT (issuer) DO UPDATE SET issued_before = excluded.issued_before`, [issuer, issuedBefore]);
    }
    return removed;
  }

  /**
   * The later of the issuer's cutoff (`revokeOidcIssuers`) and its client's (`revokeOidcClient`),
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
  async revokeOidcClient(issuer: string, clientId: string, issuedBefore: number): Promise<number> {
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
  async revokeOidcAccounts(issuers: string[], accountIds: string[]): Promise<number> {
    const accounts = new Set(accountIds);
    let removed = 0;
    if (accounts.size === 0) return 0;
    for (const issuer of issuers) removed += await this.deleteOidcModelsWhere(issuer, (payload) => typeof payload.accountId === 'string' && accounts.has(payload.accountId));
    return removed;
  }

  /** An OIDC model by id at whichever issuer holds it (opaque access tokens carry no issuer). */
  async findOidcModelAnywhere(model: string, id: string, now: number): Promise<{ issuer: string; payload: string } | undefined> {
    const row = (await this.db.all<{ issuer: string; payload: string }>(
      `SELECT issuer, payload FROM oidc_models WHERE model = ? AND id = ? AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
      [model, id, now],
    ))[0];
    return row;
  }

  /**
   * Deletes at most `limit` oidc-provider rows (codes, sessions, interactions, grants, refresh
   * tokens, consumed or not) that expired at or before `now`; returns how many went. Every read
   * asks `expires_at > now`, so none of them could be found any more. A consumed refresh token
   * that has not expired stays: presenting it again is how reuse is detected (grant revoked).
   */
  async deleteExpiredOidcModels(now: number, limit: number): Promise<number> {
    return this.db.run(
      `DELETE FROM oidc_models WHERE (issuer, model, id) IN (SELECT issuer, model, id FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?)`,
      [now, limit],
    );
  }

  /**
   * Deletes at most `limit` JWT access-token records (issued or revoked) whose token expired at
   * or before `now`: the token's own `exp` refuses it from then on, so the record decides nothing.
   */
  async deleteExpiredAccessTokens(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM access_tokens WHERE (issuer, jti) IN (SELECT issuer, jti FROM access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }

  // ── JWT access tokens (not kept by oidc-provider: recorded for revocation) ──

  async recordAccessToken(issuer: string, jti: string, grantId: string | null, expiresAt: number): Promise<void> {
    await this.db.run(`INSERT INTO access_tokens (issuer, jti, grant_id, expires_at, revoked_at) VALUES (?, ?, ?, ?, NULL) ON CONFLICT (issuer, jti) DO NOTHING`, [issuer, jti, grantId, expiresAt]);
  }

  async revokeAccessToken(issuer: string, jti: string, expiresAt: number, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO access_tokens (issuer, jti, grant_id, expires_at, revoked_at) VALUES (?, ?, NULL, ?, ?)
       ON CONFLICT (issuer, jti) DO UPDATE SET revoked_at = excluded.revoked_at`,
      [issuer, jti, expiresAt, now],
    );
  }

  async accessToken(issuer: string, jti: string): Promise<{ grantId: string | null; revokedAt: number | null } | undefined> {
    const row = (await this.db.all<{ grant_id: string | null; revoked_at: number | string | null }>(`SELECT grant_id, revoked_at FROM access_tokens WHERE issuer = ? AND jti = ?`, [issuer, jti]))[0];
    return row ? { grantId: row.grant_id, revokedAt: row.revoked_at === null ? null : Number(row.revoked_at) } : undefined;
  }

  // ── users (runtime state: never deleted by reconciliation) ──────────

  async upsertUser(user: UserRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO users (namespace, id, organization, connection, subject, email, declared_as, profile, roles, active, password_hash, created_at, updated_at, last_login_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, id) DO UPDATE SET organization = excluded.organization, email = excluded.email, declared_as = excluded.declared_as,
         profile = excluded.profile, roles = excluded.roles, active = excluded.active, updated_at = excluded.updated_at`,
      [user.namespace, user.id, user.organization, user.connection, user.subject, user.email, user.declaredAs, JSON.stringify(user.profile), JSON.stringify(user.roles),
        user.active ? 1 : 0, user.passwordHash, user.createdAt, user.updatedAt, user.lastLoginAt],
    );
  }

  async findUser(namespace: string, id: string): Promise<UserRecord | undefined> {
    const row = (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND id = ?`, [namespace, id]))[0];
    return row ? toUser(row) : undefined;
  }

  /** Users with this email, in one organization or (for the shared-application issuer) the whole namespace. */
  async findUsersByEmail(namespace: string, email: string, organization?: string): Promise<UserRecord[]> {
    const rows = organization
      ? await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND organization = ? AND email = ?`, [namespace, organization, email])
      : await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND email = ?`, [namespace, email]);
    return rows.map(toUser);
  }

  /** Users of a namespace, of the given organizations when named. */
  async listUsers(namespace: string, organizations?: string[]): Promise<UserRecord[]> {
    if (organizations && organizations.length === 0) return [];
    const rows = organizations
      ? await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND organization IN (${organizations.map(() => '?').join(', ')}) ORDER BY organization, id`, [namespace, ...organizations])
      : await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? ORDER BY organization, id`, [namespace]);
    return rows.map(toUser);
  }

  async setUserActive(namespace: string, id: string, active: boolean, at: number): Promise<boolean> {
    return (await this.db.run(`UPDATE users SET active = ?, updated_at = ? WHERE namespace = ? AND id = ? AND active <> ?`, [active ? 1 : 0, at, namespace, id, active ? 1 : 0])) > 0;
  }

  async setUserProfile(namespace: string, id: string, profile: UserProfile, at: number): Promise<void> {
    await this.db.run(`UPDATE users SET profile = ?, updated_at = ? WHERE namespace = ? AND id = ?`, [JSON.stringify(profile), at, namespace, id]);
  }

  /** An organization certified through the admin API (the latest one counts). */
  async recordCertification(namespace: string, organization: string, at: number, actor: string): Promise<void> {
    await this.db.run(
      `INSERT INTO certifications (namespace, organization, certified_at, actor) VALUES (?, ?, ?, ?)
       ON CONFLICT (namespace, organization) DO UPDATE SET certified_at = excluded.certified_at, actor = excluded.actor`,
      [namespace, organization, at, actor],
    );
  }

  async certifications(namespace: string): Promise<Map<string, { at: number; actor: string }>> {
    const rows = await this.db.all<{ organization: string; certified_at: number | string; actor: string }>(`SELECT organization, certified_at, actor FROM certifications WHERE namespace = ?`, [namespace]);
    return new Map(rows.map((r) => [r.organization, { at: Number(r.certified_at), actor: r.actor }]));
  }

  /** Records that a lifecycle notice was emitted; false when it already was (so it is emitted once). */
  async recordLifecycleNotice(namespace: string, organization: string, notice: string, key: string, at: number): Promise<boolean> {
    const inserted = await this.db.run(
      `INSERT INTO lifecycle_notices (namespace, organization, notice, notice_key, emitted_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, organization, notice, notice_key) DO NOTHING`,
      [namespace, organization, notice, key, at],
    );
    return inserted > 0;
  }

  async setUserPassword(namespace: string, id: string, passwordHash: string, at: number): Promise<void> {
    await this.db.run(`UPDATE users SET password_hash = ?, updated_at = ? WHERE namespace = ? AND id = ?`, [passwordHash, at, namespace, id]);
  }

  async touchUserLogin(namespace: string, id: string, at: number): Promise<void> {
    await this.db.run(`UPDATE users SET last_login_at = ? WHERE namespace = ? AND id = ?`, [at, namespace, id]);
  }

  async putOneTimeLink(tokenHash: string, namespace: string, userId: string, purpose: string, expiresAt: number): Promise<void> {
    await this.db.run(`INSERT INTO one_time_links (token_hash, namespace, user_id, purpose, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)`, [tokenHash, namespace, userId, purpose, expiresAt]);
  }

  /** Ends every unused link of this purpose for the user (a newer one replaces them). */
  async retireOneTimeLinks(namespace: string, userId: string, purpose: string, now: number): Promise<void> {
    await this.db.run(`UPDATE one_time_links SET used_at = ? WHERE namespace = ? AND user_id = ? AND purpose = ? AND used_at IS NULL`, [now, namespace, userId, purpose]);
  }

  /** Marks a link used and returns whom it was for; undefined when unknown, expired or already used. */
  async useOneTimeLink(tokenHash: string, purpose: string, now: number): Promise<{ namespace: string; userId: string } | undefined> {
    const row = (await this.db.all<{ namespace: string; user_id: string }>(
      `SELECT namespace, user_id FROM one_time_links WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
      [tokenHash, purpose, now],
    ))[0];
    if (!row) return undefined;
    const changed = await this.db.run(`UPDATE one_time_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL`, [now, tokenHash]);
    return changed > 0 ? { namespace: row.namespace, userId: row.user_id } : undefined;
  }

  async peekOneTimeLink(tokenHash: string, purpose: string, now: number): Promise<{ namespace: string; userId: string } | undefined> {
    const row = (await this.db.all<{ namespace: string; user_id: string }>(
      `SELECT namespace, user_id FROM one_time_links WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
      [tokenHash, purpose, now],
    ))[0];
    return row ? { namespace: row.namespace, userId: row.user_id } : undefined;
  }

  // ── sealed secrets (encrypted by the caller) ────────────────────────

  async putSealedSecret(scope: string, name: string, sealed: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO sealed_secrets (scope, name, sealed, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (scope, name) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at`,
      [scope, name, sealed, at],
    );
  }

  async getSealedSecret(scope: string, name: string): Promise<{ sealed: string; createdAt: number } | undefined> {
    const row = (await this.db.all<{ sealed: string; created_at: number | string }>(`SELECT sealed, created_at FROM sealed_secrets WHERE scope = ? AND name = ?`, [scope, name]))[0];
    return row ? { sealed: row.sealed, createdAt: Number(row.created_at) } : undefined;
  }

  /** Whether there was one to delete. */
  async deleteSealedSecret(scope: string, name: string): Promise<boolean> {
    return (await this.db.run(`DELETE FROM sealed_secrets WHERE scope = ? AND name = ?`, [scope, name])) > 0;
  }

  /** Names (with their seal time) in one scope whose name starts with `prefix`. */
  async listSealedSecrets(scope: string, prefix: string): Promise<{ name: string; createdAt: number }[]> {
    const rows = await this.db.all<{ name: string; created_at: number | string }>(`SELECT name, created_at FROM sealed_secrets WHERE scope = ? AND substr(name, 1, ?) = ? ORDER BY name`, [scope, prefix.length, prefix]);
    return rows.map((r) => ({ name: r.name, createdAt: Number(r.created_at) }));
  }

  // ── federation broker ───────────────────────────────────────────────

  async findUserBySubject(namespace: string, connection: string, subject: string): Promise<UserRecord | undefined> {
    const row = (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND connection = ? AND subject = ?`, [namespace, connection, subject]))[0];
    return row ? toUser(row) : undefined;
  }

  async putBrokerRequest(id: string, namespace: string, payload: string, expiresAt: number): Promise<void> {
    await this.db.run(
      `INSERT INTO broker_requests (id, namespace, payload, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at`,
      [id, namespace, payload, expiresAt],
    );
  }

  /** Removes and returns a pending request, so each is used once; undefined when unknown, expired or already taken. */
  async takeBrokerRequest(id: string, now: number): Promise<string | undefined> {
    const row = (await this.db.all<{ payload: string }>(`SELECT payload FROM broker_requests WHERE id = ? AND expires_at > ?`, [id, now]))[0];
    if (!row) return undefined;
    const removed = await this.db.run(`DELETE FROM broker_requests WHERE id = ?`, [id]);
    return removed > 0 ? row.payload : undefined;
  }

  async peekBrokerRequest(id: string, now: number): Promise<string | undefined> {
    return (await this.db.all<{ payload: string }>(`SELECT payload FROM broker_requests WHERE id = ? AND expires_at > ?`, [id, now]))[0]?.payload;
  }

  /** Records an assertion ID until it expires; false when it was already seen (a replay). */
  async rememberAssertion(idp: string, id: string, expiresAt: number, now: number): Promise<boolean> {
    // A little cleaning on the way in, bounded so one sign-in never pays for a backlog (the sweeper owns that).
    await this.deleteExpiredAssertions(now, 50);
    return (await this.db.run(`INSERT INTO saml_assertions (idp, id, expires_at) VALUES (?, ?, ?) ON CONFLICT (idp, id) DO NOTHING`, [idp, id, expiresAt])) > 0;
  }

  /** Deletes at most `limit` pending broker requests that expired at or before `now`; returns how many went. */
  async deleteExpiredBrokerRequests(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM broker_requests WHERE id IN (SELECT id FROM broker_requests WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }

  /** Deletes at most `limit` replay-cache rows of SAML assertions that expired at or before `now`; returns how many went. */
  async deleteExpiredAssertions(now: number, limit: number): Promise<number> {
    return this.db.run(`DELETE FROM saml_assertions WHERE (idp, id) IN (SELECT idp, id FROM saml_assertions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`, [now, limit]);
  }

  // ── admin tokens (hashes only) ──────────────────────────────────────

  async putAdminToken(name: string, tokenHash: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO admin_tokens (name, token_hash, created_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at`,
      [name, tokenHash, at],
    );
  }

  async adminTokens(): Promise<{ name: string; tokenHash: string }[]> {
    const rows = await this.db.all<{ name: string; token_hash: string }>(`SELECT name, token_hash FROM admin_tokens ORDER BY name`);
    return rows.map((r) => ({ name: r.name, tokenHash: r.token_hash }));
  }
}
