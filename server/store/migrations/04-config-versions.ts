import type { Migration } from './migration.ts';

export const v04: Migration = {
  version: 4,
  description: 'configuration versions, so every replica rebuilds its issuers when a namespace changes',
  statements: () => [`CREATE TABLE config_versions (namespace TEXT PRIMARY KEY, version BIGINT NOT NULL)`],
};
