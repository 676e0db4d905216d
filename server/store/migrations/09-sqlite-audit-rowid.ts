import type { Migration } from './migration.ts';

export const v09: Migration = {
  version: 9,
  description: "SQLite: the audit sequence number becomes the table's rowid, one B-tree fewer to write per record (the table is copied once)",
  // "BIGINT PRIMARY KEY" is not a rowid alias in SQLite: every record was stored in the table's
  // hidden rowid B-tree and again in a separate unique index on seq. PostgreSQL is unchanged.
  statements: (dialect) =>
    dialect !== 'sqlite'
      ? []
      : [
          `CREATE TABLE audit_by_seq (
            seq INTEGER PRIMARY KEY,
            at BIGINT NOT NULL,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            namespace TEXT,
            organization TEXT,
            kind TEXT,
            name TEXT,
            client TEXT,
            subject TEXT,
            outcome TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
          )`,
          `INSERT INTO audit_by_seq SELECT seq, at, action, actor, namespace, organization, kind, name, client, subject, outcome, data, prev_hash, hash FROM audit ORDER BY seq`,
          `DROP TABLE audit`,
          `ALTER TABLE audit_by_seq RENAME TO audit`,
          `CREATE INDEX audit_organization ON audit (namespace, organization, seq)`,
          `CREATE INDEX audit_actor ON audit (actor, seq)`,
          `CREATE INDEX audit_client ON audit (client, seq)`,
          `CREATE INDEX audit_at ON audit (at)`,
        ],
};
