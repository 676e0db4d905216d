import type { Migration } from './migration.ts';

export const v15: Migration = {
  version: 15,
  description: "Passkeys (WebAuthn credentials): each belongs to one user of one organization, for one relying party (the issuer's host); partner administrators' tightenings of the second-factor policy",
  statements: () => [
    `CREATE TABLE passkeys (
      credential_id TEXT PRIMARY KEY,
      namespace TEXT NOT NULL,
      organization TEXT NOT NULL,
      user_id TEXT NOT NULL,
      rp_id TEXT NOT NULL,
      public_key TEXT NOT NULL,
      counter BIGINT NOT NULL,
      transports TEXT NOT NULL,
      name TEXT NOT NULL,
      aaguid TEXT NOT NULL,
      device_type TEXT NOT NULL,
      backed_up INTEGER NOT NULL,
      created_at BIGINT NOT NULL,
      last_used_at BIGINT
    )`,
    `CREATE INDEX passkeys_user ON passkeys (namespace, user_id)`,
    `CREATE INDEX passkeys_organization ON passkeys (namespace, organization)`,
    // What a partner administrator added to its organization's declared second-factor policy (only ever tighter).
    `CREATE TABLE mfa_tightenings (
      namespace TEXT NOT NULL,
      organization TEXT NOT NULL,
      policy TEXT NOT NULL,
      actor TEXT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, organization)
    )`,
  ],
};
