import type { Migration } from './migration.ts';

export const v01: Migration = {
  version: 1,
  description: 'declared objects, their references, the audit chain, admin tokens',
  statements: () => [
    `CREATE TABLE objects (
      kind TEXT NOT NULL,
      namespace TEXT NOT NULL,
      name TEXT NOT NULL,
      uid TEXT NOT NULL,
      generation BIGINT NOT NULL,
      body TEXT NOT NULL,
      status TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (kind, namespace, name)
    )`,
    `CREATE TABLE object_refs (
      from_kind TEXT NOT NULL,
      namespace TEXT NOT NULL,
      from_name TEXT NOT NULL,
      field TEXT NOT NULL,
      to_kind TEXT NOT NULL,
      to_name TEXT NOT NULL,
      PRIMARY KEY (from_kind, namespace, from_name, field)
    )`,
    `CREATE INDEX object_refs_target ON object_refs (to_kind, namespace, to_name)`,
    `CREATE TABLE audit (
      seq BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
      action TEXT NOT NULL,
      actor TEXT NOT NULL,
      namespace TEXT,
      organization TEXT,
      kind TEXT,
      name TEXT,
      client TEXT,
      subject TEXT,
      outcome TEXT NOT NULL,
      data TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    )`,
    `CREATE INDEX audit_organization ON audit (namespace, organization, seq)`,
    `CREATE TABLE audit_head (
      id INTEGER PRIMARY KEY,
      seq BIGINT NOT NULL,
      hash TEXT NOT NULL
    )`,
    `CREATE TABLE admin_tokens (
      name TEXT PRIMARY KEY,
      token_hash TEXT NOT NULL UNIQUE,
      created_at BIGINT NOT NULL
    )`,
  ],
};
