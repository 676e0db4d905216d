import type { SqlExecutor } from '../sql.ts';

/** Organizations' certifications, the lifecycle notices already emitted, and partner administrators' MFA tightenings. */
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

  /** Sets (or, with null, clears) what a partner administrator added to its organization's second-factor policy (JSON of an `mfa` block). */
  async setMfaTightening(namespace: string, organization: string, policy: string | null, actor: string, at: number): Promise<void> {
    if (policy === null) {
      await this.db.run(`DELETE FROM mfa_tightenings WHERE namespace = ? AND organization = ?`, [namespace, organization]);
      return;
    }
    await this.db.run(
      `INSERT INTO mfa_tightenings (namespace, organization, policy, actor, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (namespace, organization) DO UPDATE SET policy = excluded.policy, actor = excluded.actor, updated_at = excluded.updated_at`,
      [namespace, organization, policy, actor, at],
    );
  }

  /** The namespace's tightenings, by organization: the stored JSON, who set it and when. */
  async mfaTightenings(namespace: string): Promise<Map<string, { policy: string; actor: string; at: number }>> {
    const rows = await this.db.all<{ organization: string; policy: string; actor: string; updated_at: number | string }>(`SELECT organization, policy, actor, updated_at FROM mfa_tightenings WHERE namespace = ?`, [namespace]);
    return new Map(rows.map((r) => [r.organization, { policy: r.policy, actor: r.actor, at: Number(r.updated_at) }]));
  }

  /**
   * Forgets what was recorded beside a deleted organization: its certification, its partner
   * administrators' MFA tightening and the lifecycle notices emitted for it (one declared again
   * under the name starts with none of them, and is warned of its own contract's end). How many rows went.
   */
  async forgetOrganization(namespace: string, organization: string): Promise<number> {
    let forgotten = 0;
    for (const table of ['certifications', 'mfa_tightenings', 'lifecycle_notices']) forgotten += await this.db.run(`DELETE FROM ${table} WHERE namespace = ? AND organization = ?`, [namespace, organization]);
    return forgotten;
  }

  /** Records that a lifecycle notice was emitted; false when it already was (so it is emitted once). */
  async recordLifecycleNotice(namespace: string, organization: string, notice: string, key: string, at: number): Promise<boolean> {
    const inserted = await this.db.run(`INSERT INTO lifecycle_notices (namespace, organization, notice, notice_key, emitted_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, organization, notice, notice_key) DO NOTHING`, [namespace, organization, notice, key, at]);
    return inserted > 0;
  }
}
