import type { Migration } from './migration.ts';

export const v07: Migration = {
  version: 7,
  description: 'kill switch: JWT access tokens an issuer signed before it was pulled stay inactive, grant or no grant',
  statements: () => [`CREATE TABLE issuer_cutoffs (issuer TEXT PRIMARY KEY, issued_before BIGINT NOT NULL)`],
};
