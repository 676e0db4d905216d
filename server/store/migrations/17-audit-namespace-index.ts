import type { Migration } from './migration.ts';

export const v17: Migration = {
  version: 17,
  description: 'audit indexed as it is read: newest first by namespace, by organization, by time; actor and client filters narrow within those',
  // An index keyed by actor or client puts each new record on a random leaf page once there are
  // thousands of them (one per partner's client): two such indexes cost token issuance ~10 % of
  // its CPU at 10,000 organizations. An index led by the namespace appends at its right edge.
  statements: () => [`DROP INDEX audit_actor`, `DROP INDEX audit_client`, `CREATE INDEX audit_namespace ON audit (namespace, seq)`],
};
