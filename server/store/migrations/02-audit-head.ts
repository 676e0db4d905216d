import type { Migration } from './migration.ts';

export const v02: Migration = {
  version: 2,
  description: 'seed the audit chain head, so the first appends of concurrent writers queue on its row lock',
  // Without a head row, concurrent first appends on PostgreSQL all see "no head" (FOR UPDATE
  // locks nothing) and race to insert record 1: all but one fail on the audit primary key.
  statements: () => [`INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, '${'0'.repeat(64)}' WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)`],
};
