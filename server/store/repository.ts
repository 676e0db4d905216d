import type { AnyObject, KindName, Reference } from '../../api/index.ts';
import { GENESIS_HASH, recordHash, type AuditFields, type ChainRecord } from '../audit/chain.ts';
import type { SqlExecutor, SqlValue } from './sql.ts';

export interface StoredObject {
  uid: string;
  generation: number;
  object: AnyObject;
  status: Record<string, unknown> | null;
  createdAt: number;
  updatedAt: number;
}

export interface Dependant {
  kind: KindName;
  name: string;
  field: string;
}

/** What a caller says of a new audit record; sequence, time and hashes are the log's. */
export type AuditEntry = Omit<AuditFields, 'seq' | 'at' | 'namespace' | 'organization' | 'kind' | 'name' | 'client' | 'subject' | 'outcome'> & {
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
  action?: string;
  actor?: string;
  /** Records with a sequence number below this one (cursor for newest-first paging). */
  before?: number;
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

const OBJECT_COLUMNS = 'uid, generation, body, status, created_at, updated_at';
const AUDIT_COLUMNS = 'seq, at, action, actor, namespace, organization, kind, name, client, subject, outcome, data, prev_hash, hash';

/** Every query the server makes of its store, over either backend, inside or outside a transaction. */
export class Repository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
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
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const head = (await this.db.all<{ seq: number | string; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1${lock}`))[0];
    const prevHash = head?.hash ?? GENESIS_HASH;
    const fields: AuditFields = {
      seq: head ? Number(head.seq) + 1 : 1,
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
    const hash = recordHash(prevHash, fields);
    await this.db.run(`INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
      fields.seq, fields.at, fields.action, fields.actor, fields.namespace, fields.organization, fields.kind, fields.name,
      fields.client, fields.subject, fields.outcome, JSON.stringify(fields.data), prevHash, hash,
    ]);
    if (head) await this.db.run(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, [fields.seq, hash]);
    else await this.db.run(`INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)`, [fields.seq, hash]);
    return { ...fields, prevHash, hash };
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
    if (q.before !== undefined) (where.push('seq < ?'), params.push(q.before));
    params.push(Math.min(Math.max(q.limit ?? 100, 1), 1000));
    const rows = await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`, params);
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

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    const row = (await this.db.all<{ seq: number | string; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1`))[0];
    return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
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

  async deleteSealedSecret(scope: string, name: string): Promise<void> {
    await this.db.run(`DELETE FROM sealed_secrets WHERE scope = ? AND name = ?`, [scope, name]);
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
