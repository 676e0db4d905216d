import type { SqlDriver } from './sql.ts';
import type { Migration } from './migrations/migration.ts';
import { v01 } from './migrations/01-objects-and-audit.ts';
import { v02 } from './migrations/02-audit-head.ts';
import { v03 } from './migrations/03-token-server.ts';
import { v04 } from './migrations/04-config-versions.ts';
import { v05 } from './migrations/05-federation-broker.ts';
import { v06 } from './migrations/06-governance-notices.ts';
import { v07 } from './migrations/07-kill-switch.ts';
import { v08 } from './migrations/08-certifications.ts';
import { v09 } from './migrations/09-sqlite-audit-rowid.ts';
import { v10 } from './migrations/10-audit-keying.ts';
import { v11 } from './migrations/11-access-requests.ts';
import { v12 } from './migrations/12-scim.ts';
import { v13 } from './migrations/13-federation-drafts.ts';
import { v14 } from './migrations/14-risk.ts';
import { v15 } from './migrations/15-passkeys.ts';
import { v16 } from './migrations/16-notifications.ts';
import { v17 } from './migrations/17-audit-namespace-index.ts';
import { v18 } from './migrations/18-config-changes.ts';

export type { Migration };

/**
 * Schema history, append-only: a released migration is never edited, a new one is added (a
 * file of its own under migrations/, named by its version). Types are the ones SQLite and
 * PostgreSQL share; JSON is TEXT, instants are epoch milliseconds.
 */
export const MIGRATIONS: Migration[] = [v01, v02, v03, v04, v05, v06, v07, v08, v09, v10, v11, v12, v13, v14, v15, v16, v17, v18];

const MIGRATION_LOCK = 0x6761_7465; // "gate": serialises replicas migrating one PostgreSQL database

/** Brings the schema up to date; safe to call from several replicas at once. Returns the versions applied. */
export async function migrate(driver: SqlDriver, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  return driver.transaction(async (tx) => {
    if (tx.dialect === 'postgres') await tx.all(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.run(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const rows = await tx.all<{ version: number | string }>(`SELECT version FROM schema_migrations`);
    const applied = new Set(rows.map((r) => Number(r.version)));
    const done: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      for (const statement of m.statements(tx.dialect)) await tx.run(statement);
      await tx.run(`INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`, [m.version, m.description, Date.now()]);
      done.push(m.version);
    }
    return done;
  });
}
