import type { Migration } from './migration.ts';

export const v13: Migration = {
  version: 13,
  description: 'IdP connections a partner administrator is setting up in the portal (draft, tested): runtime state beside the declarations',
  statements: () => [
    `CREATE TABLE federation_drafts (
      namespace TEXT NOT NULL,
      name TEXT NOT NULL,
      organization TEXT NOT NULL,
      revision BIGINT NOT NULL,
      spec TEXT NOT NULL,
      inspection TEXT NOT NULL,
      secret_name TEXT,
      test TEXT,
      actor TEXT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, name)
    )`,
    `CREATE INDEX federation_drafts_organization ON federation_drafts (namespace, organization)`,
  ],
};
