import type { Migration } from './migration.ts';

export const v03: Migration = {
  version: 3,
  description: 'token server: sealed secrets, signing keys, OIDC models, users, one-time links, issued access tokens',
  statements: () => [
    `CREATE TABLE sealed_secrets (
      scope TEXT NOT NULL,
      name TEXT NOT NULL,
      sealed TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (scope, name)
    )`,
    `CREATE TABLE signing_keys (
      kid TEXT PRIMARY KEY,
      namespace TEXT NOT NULL,
      alg TEXT NOT NULL,
      private_jwk TEXT NOT NULL,
      public_jwk TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      activates_at BIGINT NOT NULL,
      retired_at BIGINT,
      expires_at BIGINT
    )`,
    `CREATE INDEX signing_keys_namespace ON signing_keys (namespace, alg, activates_at)`,
    `CREATE TABLE oidc_models (
      issuer TEXT NOT NULL,
      model TEXT NOT NULL,
      id TEXT NOT NULL,
      payload TEXT NOT NULL,
      grant_id TEXT,
      uid TEXT,
      user_code TEXT,
      expires_at BIGINT,
      consumed_at BIGINT,
      PRIMARY KEY (issuer, model, id)
    )`,
    `CREATE INDEX oidc_models_grant ON oidc_models (issuer, grant_id)`,
    `CREATE INDEX oidc_models_uid ON oidc_models (issuer, uid)`,
    `CREATE INDEX oidc_models_expiry ON oidc_models (expires_at)`,
    `CREATE TABLE users (
      namespace TEXT NOT NULL,
      id TEXT NOT NULL,
      organization TEXT NOT NULL,
      connection TEXT NOT NULL,
      subject TEXT NOT NULL,
      email TEXT NOT NULL,
      declared_as TEXT,
      profile TEXT NOT NULL,
      roles TEXT NOT NULL,
      active INTEGER NOT NULL,
      password_hash TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      last_login_at BIGINT,
      PRIMARY KEY (namespace, id)
    )`,
    `CREATE UNIQUE INDEX users_upstream ON users (namespace, connection, subject)`,
    `CREATE INDEX users_email ON users (namespace, organization, email)`,
    `CREATE TABLE one_time_links (
      token_hash TEXT PRIMARY KEY,
      namespace TEXT NOT NULL,
      user_id TEXT NOT NULL,
      purpose TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      used_at BIGINT
    )`,
    `CREATE TABLE access_tokens (
      issuer TEXT NOT NULL,
      jti TEXT NOT NULL,
      grant_id TEXT,
      expires_at BIGINT NOT NULL,
      revoked_at BIGINT,
      PRIMARY KEY (issuer, jti)
    )`,
  ],
};
