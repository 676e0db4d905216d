import type { Migration } from './migration.ts';

export const v06: Migration = {
  version: 6,
  description: 'governance: lifecycle notices emitted once per organization and window; audit indexes for actor, client and time filters',
  statements: () => [
    `CREATE TABLE lifecycle_notices (
      namespace TEXT NOT NULL,
      organization TEXT NOT NULL,
      notice TEXT NOT NULL,
      notice_key TEXT NOT NULL,
      emitted_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, organization, notice, notice_key)
    )`,
    `CREATE INDEX audit_actor ON audit (actor, seq)`,
    `CREATE INDEX audit_client ON audit (client, seq)`,
    `CREATE INDEX audit_at ON audit (at)`,
    `CREATE INDEX oidc_models_by_id ON oidc_models (model, id)`,
  ],
};
