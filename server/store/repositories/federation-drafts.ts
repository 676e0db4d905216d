import type { SqlExecutor } from '../sql.ts';

/** One IdP connection being set up in the portal; `spec` and `inspection` are JSON the setup module reads back with its schemas. */
export interface FederationDraftRow {
  namespace: string;
  name: string;
  organization: string;
  /** Bumped on every save: a test result counts only for the revision it tested. */
  revision: number;
  spec: string;
  inspection: string;
  /** The upstream secret the portal wrote for this draft, when it holds one. */
  secretName: string | null;
  test: string | null;
  actor: string;
  updatedAt: number;
}

interface Row {
  namespace: string;
  name: string;
  organization: string;
  revision: number | string;
  spec: string;
  inspection: string;
  secret_name: string | null;
  test: string | null;
  actor: string;
  updated_at: number | string;
}

const COLUMNS = 'namespace, name, organization, revision, spec, inspection, secret_name, test, actor, updated_at';

const fromRow = (r: Row): FederationDraftRow => ({
  namespace: r.namespace,
  name: r.name,
  organization: r.organization,
  revision: Number(r.revision),
  spec: r.spec,
  inspection: r.inspection,
  secretName: r.secret_name,
  test: r.test,
  actor: r.actor,
  updatedAt: Number(r.updated_at),
});

/** Drafts of portal-configured IdP connections, until they are enabled (then an IdPConnection object) or deleted. */
export class FederationDraftRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async get(namespace: string, name: string): Promise<FederationDraftRow | undefined> {
    const row = (await this.db.all<Row>(`SELECT ${COLUMNS} FROM federation_drafts WHERE namespace = ? AND name = ?`, [namespace, name]))[0];
    return row ? fromRow(row) : undefined;
  }

  async list(namespace: string, organization: string): Promise<FederationDraftRow[]> {
    return (await this.db.all<Row>(`SELECT ${COLUMNS} FROM federation_drafts WHERE namespace = ? AND organization = ? ORDER BY name`, [namespace, organization])).map(fromRow);
  }

  /**
   * Creates or replaces a draft of `organization`, clearing its test result; returns the new
   * revision, or undefined when the name is another organization's draft (left untouched).
   */
  async save(draft: Omit<FederationDraftRow, 'revision' | 'test'>): Promise<number | undefined> {
    await this.db.run(
      `INSERT INTO federation_drafts (${COLUMNS}) VALUES (?, ?, ?, 1, ?, ?, ?, NULL, ?, ?)
       ON CONFLICT (namespace, name) DO UPDATE SET revision = federation_drafts.revision + 1, spec = excluded.spec, inspection = excluded.inspection,
         secret_name = excluded.secret_name, test = NULL, actor = excluded.actor, updated_at = excluded.updated_at
       WHERE federation_drafts.organization = excluded.organization`,
      [draft.namespace, draft.name, draft.organization, draft.spec, draft.inspection, draft.secretName, draft.actor, draft.updatedAt],
    );
    const saved = await this.get(draft.namespace, draft.name);
    return saved && saved.organization === draft.organization ? saved.revision : undefined;
  }

  /** Records a test sign-in's result against the revision it tested; false when the draft changed (or went) meanwhile. */
  async recordTest(namespace: string, name: string, revision: number, test: string): Promise<boolean> {
    return (await this.db.run(`UPDATE federation_drafts SET test = ? WHERE namespace = ? AND name = ? AND revision = ?`, [test, namespace, name, revision])) > 0;
  }

  async delete(namespace: string, name: string, organization: string): Promise<boolean> {
    return (await this.db.run(`DELETE FROM federation_drafts WHERE namespace = ? AND name = ? AND organization = ?`, [namespace, name, organization])) > 0;
  }
}
