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

/**
 * What moves a namespace's configuration version: a declared object, or state kept beside one
 * that issuers read (a client's secret, an organization's certification or MFA tightening, the
 * namespace's signing keys, named by algorithm).
 */
export type ChangeKind = KindName | 'ClientSecret' | 'Certification' | 'MfaTightening' | 'SigningKey';

export interface ConfigChange {
  kind: ChangeKind;
  name: string;
}

/** Versions whose changes are kept per namespace: a replica further behind reads the namespace whole. */
export const CHANGE_LOG_VERSIONS = 4096;
/** The log is pruned on every this many versions, not on each. */
const CHANGE_LOG_PRUNE_EVERY = 256;

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

  /**
   * Marks a namespace's configuration as changed, naming what changed: issuers built from an
   * older version are rebuilt, unless nothing they read is among `changes` (server/issuers/views.ts).
   * A version that names nothing (`changes` empty) is read as unknown: every issuer is rebuilt.
   */
  async bumpConfigVersion(namespace: string, changes: readonly ConfigChange[]): Promise<number> {
    const [row] = await this.db.all<{ version: number | string }>(
      `INSERT INTO config_versions (namespace, version) VALUES (?, 1)
       ON CONFLICT (namespace) DO UPDATE SET version = config_versions.version + 1
       RETURNING version`,
      [namespace],
    );
    // The row is locked until commit: every version's changes are written before the next version exists.
    const version = Number(row!.version);
    for (const c of changes) await this.db.run(`INSERT INTO config_changes (namespace, version, kind, name) VALUES (?, ?, ?, ?)`, [namespace, version, c.kind, c.name]);
    if (version % CHANGE_LOG_PRUNE_EVERY === 0) {
      const floor = version - CHANGE_LOG_VERSIONS;
      await this.db.run(`DELETE FROM config_changes WHERE namespace = ? AND version <= ?`, [namespace, floor]);
      await this.db.run(`UPDATE config_versions SET logged_from = ? WHERE namespace = ? AND logged_from < ?`, [floor, namespace, floor]);
    }
    return version;
  }

  async configVersions(): Promise<Map<string, number>> {
    const rows = await this.db.all<{ namespace: string; version: number | string }>(`SELECT namespace, version FROM config_versions`);
    return new Map(rows.map((r) => [r.namespace, Number(r.version)]));
  }

  /**
   * What changed in `namespace` after version `from` up to `to` (each once), or undefined when
   * the log no longer reaches back to `from` (pruned, or written before the log existed) or a
   * version in between names nothing: the caller then reads the namespace whole.
   */
  async changesBetween(namespace: string, from: number, to: number): Promise<ConfigChange[] | undefined> {
    const rows = await this.db.all<{ version: number | string; kind: ChangeKind; name: string }>(`SELECT version, kind, name FROM config_changes WHERE namespace = ? AND version > ? AND version <= ? ORDER BY kind, name`, [namespace, from, to]);
    // A version that names nothing (moved by a release before the log, or by a write that did not
    // say what it changed) leaves what changed unknown: the caller reads whole, never carries.
    if (new Set(rows.map((r) => Number(r.version))).size < to - from) return undefined;
    // Read after the changes: a prune between the two reads shows here as a floor above `from`.
    const [head] = await this.db.all<{ logged_from: number | string }>(`SELECT logged_from FROM config_versions WHERE namespace = ?`, [namespace]);
    if (!head || from < Number(head.logged_from)) return undefined;
    // In kind and name order, so each one changed in several versions is listed once.
    return rows.filter((r, i) => i === 0 || r.kind !== rows[i - 1]!.kind || r.name !== rows[i - 1]!.name).map((r) => ({ kind: r.kind, name: r.name }));
  }
}
