import type { Migration } from './migration.ts';

export const v08: Migration = {
  version: 8,
  description: 'certifications made through the admin API: runtime state beside the declaration, so a reconciler putting git back does not undo them',
  statements: () => [
    `CREATE TABLE certifications (
      namespace TEXT NOT NULL,
      organization TEXT NOT NULL,
      certified_at BIGINT NOT NULL,
      actor TEXT NOT NULL,
      PRIMARY KEY (namespace, organization)
    )`,
  ],
};
