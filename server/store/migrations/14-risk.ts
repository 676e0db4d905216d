import type { Migration } from './migration.ts';

export const v14: Migration = {
  version: 14,
  description: 'adaptive access: what the risk engine has seen (devices per user, addresses per client, sign-in countries) and suspended clients',
  statements: () => [
    // kind: device (owner a user, value the device cookie's digest), address (owner a client), sign-in (owner a user, value a country).
    `CREATE TABLE risk_seen (
      namespace TEXT NOT NULL,
      kind TEXT NOT NULL,
      owner TEXT NOT NULL,
      value TEXT NOT NULL,
      first_seen BIGINT NOT NULL,
      last_seen BIGINT NOT NULL,
      PRIMARY KEY (namespace, kind, owner, value)
    )`,
    `CREATE INDEX risk_seen_latest ON risk_seen (namespace, kind, owner, last_seen)`,
    `CREATE TABLE client_suspensions (
      namespace TEXT NOT NULL,
      client TEXT NOT NULL,
      organization TEXT NOT NULL,
      score INTEGER NOT NULL,
      rules TEXT NOT NULL,
      suspended_at BIGINT NOT NULL,
      until_at BIGINT,
      PRIMARY KEY (namespace, client)
    )`,
  ],
};
