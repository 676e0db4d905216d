import type { Migration } from './migration.ts';

export const v10: Migration = {
  version: 10,
  description: 'audit chain keyed with an HMAC from a switch point on: where it starts, under which key, and the tag that binds it',
  // Left empty here: the first append made with the key fills them (the migration has no key).
  statements: () => [`ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT`, `ALTER TABLE audit_head ADD COLUMN keyed_by TEXT`, `ALTER TABLE audit_head ADD COLUMN keyed_tag TEXT`],
};
