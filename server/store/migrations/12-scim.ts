import type { Migration } from './migration.ts';

export const v12: Migration = {
  version: 12,
  description: 'SCIM provisioning: one bearer token per IdPConnection (hash only), its activity, provisioned users and groups, and who deactivated a user',
  statements: () => [
    `CREATE TABLE scim_tokens (
      namespace TEXT NOT NULL,
      connection TEXT NOT NULL,
      organization TEXT NOT NULL,
      token_hash TEXT NOT NULL UNIQUE,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, connection)
    )`,
    `CREATE TABLE scim_activity (
      namespace TEXT NOT NULL,
      connection TEXT NOT NULL,
      last_request_at BIGINT NOT NULL,
      last_status INTEGER NOT NULL,
      requests BIGINT NOT NULL,
      errors BIGINT NOT NULL,
      PRIMARY KEY (namespace, connection)
    )`,
    `CREATE TABLE scim_users (
      namespace TEXT NOT NULL,
      user_id TEXT NOT NULL,
      connection TEXT NOT NULL,
      user_name TEXT NOT NULL,
      external_id TEXT,
      resource TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, user_id)
    )`,
    `CREATE UNIQUE INDEX scim_users_name ON scim_users (namespace, connection, user_name)`,
    `CREATE TABLE scim_groups (
      namespace TEXT NOT NULL,
      id TEXT NOT NULL,
      connection TEXT NOT NULL,
      display_name TEXT NOT NULL,
      external_id TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, id)
    )`,
    `CREATE UNIQUE INDEX scim_groups_name ON scim_groups (namespace, connection, display_name)`,
    `CREATE TABLE scim_members (
      namespace TEXT NOT NULL,
      group_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      PRIMARY KEY (namespace, group_id, user_id)
    )`,
    `CREATE INDEX scim_members_user ON scim_members (namespace, user_id)`,
    // NULL: active, or deactivated by the platform (admin API, declaration, deprovisioning); 'scim:<connection>' otherwise.
    `ALTER TABLE users ADD COLUMN deactivated_by TEXT`,
  ],
};
