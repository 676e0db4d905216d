import type { SqlExecutor } from '../sql.ts';

/** Organizations' certifications and the lifecycle notices already emitted. */
export class GovernanceRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
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
    const inserted = await this.db.run(`INSERT INTO lifecycle_notices (namespace, organization, notice, notice_key, emitted_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, organization, notice, notice_key) DO NOTHING`, [namespace, organization, notice, key, at]);
    return inserted > 0;
  }
}
