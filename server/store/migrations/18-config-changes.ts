import type { Migration } from './migration.ts';

export const v18: Migration = {
  version: 18,
  description: 'the log of what each configuration version changed, so a replica reads only the objects a change names, not the namespace',
  // Versions reached before the log existed are not in it: logged_from marks where it starts.
  statements: () => [
    `CREATE TABLE config_changes (
      namespace TEXT NOT NULL,
      version BIGINT NOT NULL,
      kind TEXT NOT NULL,
      name TEXT NOT NULL
    )`,
    `CREATE INDEX config_changes_version ON config_changes (namespace, version)`,
    `ALTER TABLE config_versions ADD COLUMN logged_from BIGINT NOT NULL DEFAULT 0`,
    `UPDATE config_versions SET logged_from = version`,
  ],
};
