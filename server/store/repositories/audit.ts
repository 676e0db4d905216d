import { withRequestId } from '../../log.ts';
import type { AuditAction } from '../../audit/actions.ts';
import { GENESIS_HASH, keyingTag, recordHash, type AuditFields, type AuditKey, type ChainKeying, type ChainRecord } from '../../audit/chain.ts';
import type { SqlDriver, SqlExecutor, SqlValue } from '../sql.ts';

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

const AUDIT_COLUMNS = 'seq, at, action, actor, namespace, organization, kind, name, client, subject, outcome, data, prev_hash, hash';

/** Rows per INSERT when appending a batch of audit records. */
const INSERT_ROWS = [64, 16, 4, 1];

const INSERT_AUDIT = new Map(INSERT_ROWS.map((rows) => [rows, `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`]));

/**
 * PostgreSQL: the head row moves from the head the records were hashed after ($6–$9) to the
 * new one ($1–$5), and the records ($10, a JSON array of rows) are inserted only if it moved.
 * The UPDATE takes the head row's lock, so appends from several replicas still go one at a
 * time; under READ COMMITTED one that waited for another's commit finds the head moved and
 * writes nothing.
 */
const APPEND_AFTER_HEAD = `WITH moved AS (
  UPDATE audit_head SET seq = ?, hash = ?, keyed_from = ?, keyed_by = ?, keyed_tag = ?
  WHERE id = 1 AND seq = ? AND hash = ? AND keyed_from IS NOT DISTINCT FROM ? AND keyed_by IS NOT DISTINCT FROM ?
  RETURNING 1
), written AS (
  INSERT INTO audit (${AUDIT_COLUMNS})
  SELECT ${AUDIT_COLUMNS} FROM json_populate_recordset(NULL::audit, ?::json) WHERE EXISTS (SELECT 1 FROM moved)
  RETURNING 1
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM written) AS written`;

/** The chain's head: the last record's sequence number and hash, and where keying started (null: it has not). */
export interface AuditHead {
  seq: number;
  hash: string;
  keying: ChainKeying | null;
}

/** The hash-chained audit log and its recorded head. */
export class AuditRepository {
  private readonly db: SqlExecutor;
  private readonly auditKey: () => AuditKey | undefined;

  /** `auditKey`: the key new audit records are hashed with; none, and they stay unkeyed until a keyed writer has switched the chain. */
  constructor(db: SqlExecutor, auditKey: () => AuditKey | undefined = () => undefined) {
    this.db = db;
    this.auditKey = auditKey;
  }

  /**
   * Appends one record to the hash chain. Must run inside the transaction of the change
   * it records; on PostgreSQL the head row is locked so replicas append one at a time.
   */
  async append(entry: AuditEntry, at: number): Promise<ChainRecord> {
    // Called while serving the request (batches are not: they may run in another request's context, or another thread).
    return (await this.appendBatch([{ entry: { ...entry, data: withRequestId(entry.data) }, at }]))[0]!;
  }

  /**
   * Appends several records in order, reading and moving the chain head once (group commit).
   * The first append made with an audit key switches the chain to keyed hashes from its first
   * record on, and records the switch point with a tag in the head row, in the same transaction.
   */
  async appendBatch(items: { entry: AuditEntry; at: number }[]): Promise<ChainRecord[]> {
    return (await this.appendLocked(items)).records;
  }

  /**
   * {@link appendBatch}, saying where the chain's head is after it. Must run inside a
   * transaction; on PostgreSQL the head row is locked (FOR UPDATE) so replicas append one at a
   * time, and the records and the new head are written in one statement.
   */
  async appendLocked(items: { entry: AuditEntry; at: number }[]): Promise<{ records: ChainRecord[]; head: AuditHead }> {
    const postgres = this.db.dialect === 'postgres';
    const row = (await this.db.all<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1${postgres ? ' FOR UPDATE' : ''}`))[0];
    const head: AuditHead | undefined = row ? { seq: Number(row.seq), hash: row.hash, keying: keyingOf(row) } : undefined;
    const { records, next, switched } = this.chainOn(head ?? { seq: 0, hash: GENESIS_HASH, keying: null }, items);
    if (records.length === 0) return { records, head: next };
    if (postgres && head) {
      // Locked: the head cannot have moved, so a statement that did not move it is a bug, never a race.
      if (!(await this.writeAfter(head, next, records))) throw new Error(`the audit chain head moved while its row was locked (expected record ${head.seq})`);
      return { records, head: next };
    }
    await this.insertRecords(records);
    if (switched) {
      const k: SqlValue[] = [switched.from, switched.keyId, switched.tag];
      if (head) await this.db.run(`UPDATE audit_head SET seq = ?, hash = ?, keyed_from = ?, keyed_by = ?, keyed_tag = ? WHERE id = 1`, [next.seq, next.hash, ...k]);
      else await this.db.run(`INSERT INTO audit_head (id, seq, hash, keyed_from, keyed_by, keyed_tag) VALUES (1, ?, ?, ?, ?, ?)`, [next.seq, next.hash, ...k]);
    } else if (head) await this.db.run(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, [next.seq, next.hash]);
    else await this.db.run(`INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)`, [next.seq, next.hash]);
    return { records, head: next };
  }

  /**
   * PostgreSQL, outside a transaction: appends the records after `head`, as the caller last
   * saw it, in one statement (one round trip) — if the head is still there. The statement
   * moves the head row only if it still holds `head` (waiting on the row lock of any append
   * under way, as {@link appendLocked} does), and inserts the records only if it moved it.
   * Undefined, with nothing written, when the head has moved or the chain is about to switch
   * to keyed hashes: the caller then appends with {@link appendLocked}.
   */
  async appendIfHead(head: AuditHead, items: { entry: AuditEntry; at: number }[]): Promise<{ records: ChainRecord[]; head: AuditHead } | undefined> {
    if (this.db.dialect !== 'postgres') throw new Error('appending without a transaction needs PostgreSQL');
    const { records, next, switched } = this.chainOn(head, items);
    if (switched) return undefined;
    if (records.length === 0) return { records, head };
    return (await this.writeAfter(head, next, records)) ? { records, head: next } : undefined;
  }

  /** The records after `head`, hashed and linked, and the head after them. */
  private chainOn(head: AuditHead, items: { entry: AuditEntry; at: number }[]): { records: ChainRecord[]; next: AuditHead; switched: ChainKeying | undefined } {
    let prevHash = head.hash;
    let seq = head.seq;
    const key = this.auditKey();
    let keying = head.keying;
    let switched: ChainKeying | undefined;
    if (keying && !key) throw new Error(`the audit chain is keyed from record ${keying.from}: this process has no GATEHOUSE_SECRET_KEY to append to it`);
    if (keying && key && keying.keyId !== key.id) {
      throw new Error(`the audit chain was keyed with another GATEHOUSE_SECRET_KEY (key id ${keying.keyId}, this server has ${key.id}): refusing to append`);
    }
    if (!keying && key && items.length > 0) keying = switched = { from: seq + 1, keyId: key.id, tag: keyingTag(key, seq + 1, prevHash) };
    const records: ChainRecord[] = [];
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
      records.push({ ...fields, prevHash, hash });
      prevHash = hash;
    }
    return { records, next: { seq, hash: prevHash, keying }, switched };
  }

  /**
   * PostgreSQL: moves the head row from `head` to `next` and inserts `records` (one JSON
   * parameter for all of them), in one statement; false, with nothing written, if the head row
   * no longer holds `head`.
   */
  private async writeAfter(head: AuditHead, next: AuditHead, records: ChainRecord[]): Promise<boolean> {
    const rows = records.map((r) => ({
      seq: r.seq,
      at: r.at,
      action: r.action,
      actor: r.actor,
      namespace: r.namespace,
      organization: r.organization,
      kind: r.kind,
      name: r.name,
      client: r.client,
      subject: r.subject,
      outcome: r.outcome,
      data: JSON.stringify(r.data),
      prev_hash: r.prevHash,
      hash: r.hash,
    }));
    const k = next.keying;
    const [result] = await this.db.all<{ moved: number | string; written: number | string }>(APPEND_AFTER_HEAD, [next.seq, next.hash, k?.from ?? null, k?.keyId ?? null, k?.tag ?? null, head.seq, head.hash, head.keying?.from ?? null, head.keying?.keyId ?? null, JSON.stringify(rows)]);
    const moved = Number(result?.moved ?? 0);
    if (moved === 0) return false;
    // One statement: either both happened or neither did. Anything else is a broken chain, said at once.
    if (Number(result?.written) !== records.length) throw new Error(`the audit head moved to record ${next.seq}, but ${String(result?.written)} of ${records.length} records were written`);
    return true;
  }

  /** Several rows per statement, in a few fixed sizes so that each connection prepares at most four. */
  private async insertRecords(written: ChainRecord[]): Promise<void> {
    for (let i = 0; i < written.length; ) {
      const rows = INSERT_ROWS.find((n) => n <= written.length - i)!;
      const params: SqlValue[] = [];
      for (const r of written.slice(i, i + rows)) {
        params.push(r.seq, r.at, r.action, r.actor, r.namespace, r.organization, r.kind, r.name, r.client, r.subject, r.outcome, JSON.stringify(r.data), r.prevHash, r.hash);
      }
      await this.db.run(INSERT_AUDIT.get(rows)!, params);
      i += rows;
    }
  }

  /** Newest first. */
  async query(q: AuditQuery = {}): Promise<ChainRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const eq = (column: string, value: string | undefined) => {
      if (value !== undefined) where.push(`${column} = ?`), params.push(value);
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
      where.push('substr(action, 1, ?) = ?'), params.push(q.actionPrefix.length, q.actionPrefix);
    }
    if (q.since !== undefined) where.push('at >= ?'), params.push(q.since);
    if (q.until !== undefined) where.push('at < ?'), params.push(q.until);
    if (q.before !== undefined) where.push('seq < ?'), params.push(q.before);
    if (q.after !== undefined) where.push('seq > ?'), params.push(q.after);
    params.push(Math.min(Math.max(q.limit ?? 100, 1), 1000));
    // SQLite's planner (statistics or not) would walk a whole namespace newest first rather than sort a few organizations' records.
    const byOrganization = q.namespace !== undefined && (q.organization !== undefined || q.organizations !== undefined);
    const indexedBy = byOrganization && this.db.dialect === 'sqlite' ? ' INDEXED BY audit_organization' : '';
    const rows = await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit${indexedBy} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${q.ascending ? 'ASC' : 'DESC'} LIMIT ?`, params);
    return rows.map(toChainRecord);
  }

  /** The whole chain in order, a page at a time, for verification and export. */
  async *walk(pageSize = 1000): AsyncGenerator<ChainRecord> {
    let after = 0;
    for (;;) {
      const rows = await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, [after, pageSize]);
      for (const row of rows) yield toChainRecord(row);
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  /** The head as recorded, and where the chain switched to keyed hashes (null: it has not). */
  async head(): Promise<AuditHead | undefined> {
    const row = (await this.db.all<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1`))[0];
    return row ? { seq: Number(row.seq), hash: row.hash, keying: keyingOf(row) } : undefined;
  }

  /** One record, as stored. */
  async record(seq: number): Promise<ChainRecord | undefined> {
    const row = (await this.db.all<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit WHERE seq = ?`, [seq]))[0];
    return row ? toChainRecord(row) : undefined;
  }
}

/**
 * PostgreSQL: appends batches after the head the last one left, in one statement each
 * ({@link AuditRepository.appendIfHead}); when that head has moved (another replica, an admin
 * change), is not known yet (the first batch, or after a failure) or the chain switches to
 * keyed hashes, in a transaction that locks the head row first ({@link AuditRepository.appendLocked}).
 * One batch at a time: the head it remembers is the one its own last batch left.
 */
export class HeadAppend {
  private readonly driver: SqlDriver;
  private readonly audit: AuditRepository;
  private readonly auditKey: () => AuditKey | undefined;
  private head: AuditHead | undefined;

  constructor(driver: SqlDriver, auditKey: () => AuditKey | undefined) {
    this.driver = driver;
    this.auditKey = auditKey;
    this.audit = new AuditRepository(driver, auditKey);
  }

  async append(items: { entry: AuditEntry; at: number }[]): Promise<ChainRecord[]> {
    const head = this.head;
    // Forgotten while a batch is under way: a batch that fails leaves the head unknown.
    this.head = undefined;
    const done = (head && (await this.audit.appendIfHead(head, items))) || (await this.driver.transaction((tx) => new AuditRepository(tx, this.auditKey).appendLocked(items)));
    this.head = done.head;
    return done.records;
  }
}
