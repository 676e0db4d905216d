import type { Migration } from './migration.ts';

export const v11: Migration = {
  version: 11,
  description: "access requests: a user asking for a requireApproval scope, and the approver's decision (runtime state beside the AccessPolicy)",
  statements: () => [
    `CREATE TABLE access_requests (
      namespace TEXT NOT NULL,
      id TEXT NOT NULL,
      organization TEXT NOT NULL,
      user_id TEXT NOT NULL,
      client_id TEXT NOT NULL,
      scopes TEXT NOT NULL,
      justification TEXT,
      state TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      decided_at BIGINT,
      decided_by TEXT,
      expires_at BIGINT,
      ended_at BIGINT,
      ended_by TEXT,
      PRIMARY KEY (namespace, id)
    )`,
    `CREATE INDEX access_requests_user ON access_requests (namespace, user_id, state)`,
    `CREATE INDEX access_requests_organization ON access_requests (namespace, organization, state, created_at)`,
    `CREATE INDEX access_requests_expiry ON access_requests (state, expires_at)`,
  ],
};
