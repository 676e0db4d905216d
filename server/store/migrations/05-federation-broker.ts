import type { Migration } from './migration.ts';

export const v05: Migration = {
  version: 5,
  description: 'federation broker: pending upstream sign-ins, and the replay cache of SAML assertion IDs',
  statements: () => [
    `CREATE TABLE broker_requests (
      id TEXT PRIMARY KEY,
      namespace TEXT NOT NULL,
      payload TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    )`,
    `CREATE INDEX broker_requests_expiry ON broker_requests (expires_at)`,
    `CREATE TABLE saml_assertions (
      idp TEXT NOT NULL,
      id TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      PRIMARY KEY (idp, id)
    )`,
    `CREATE INDEX saml_assertions_expiry ON saml_assertions (expires_at)`,
  ],
};
