import type { AnyObject, KindName, Reference } from '../../../api/index.ts';
import type { SqlExecutor, SqlValue } from '../sql.ts';

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

interface ObjectRow {
  uid: string;
  generation: number | string;
  body: string;
  status: string | null;
  created_at: number | string;
  updated_at: number | string;
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

const OBJECT_COLUMNS = 'uid, generation, body, status, created_at, updated_at';

/** Declared configuration objects, the references between them, and the per-namespace configuration version. */
export class ObjectRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async get(kind: KindName, namespace: string, name: string): Promise<StoredObject | undefined> {
    const rows = await this.db.all<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE kind = ? AND namespace = ? AND name = ?`, [kind, namespace, name]);
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  async list(filter: { kind?: KindName; namespace?: string } = {}): Promise<StoredObject[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.kind) where.push('kind = ?'), params.push(filter.kind);
    if (filter.namespace) where.push('namespace = ?'), params.push(filter.namespace);
    const rows = await this.db.all<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY namespace, kind, name`, params);
    return rows.map(toStored);
  }

  /** Inserts or replaces an object; `object.metadata` must already carry its namespace, generation and creation time. */
  async put(stored: Omit<StoredObject, 'status'> & { status?: Record<string, unknown> | null }): Promise<void> {
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

  async delete(kind: KindName, namespace: string, name: string): Promise<boolean> {
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
    const rows = await this.db.all<{ from_kind: KindName; from_name: string; field: string }>(`SELECT from_kind, from_name, field FROM object_refs WHERE to_kind = ? AND namespace = ? AND to_name = ? ORDER BY from_kind, from_name, field`, [kind, namespace, name]);
    return rows.map((r) => ({ kind: r.from_kind, name: r.from_name, field: r.field }));
  }

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
}
