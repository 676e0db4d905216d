import type { Migration } from './migration.ts';

export const v16: Migration = {
  version: 16,
  description: 'notification outbox: each message written in the transaction of the change that causes it, then sent (leased, retried) by a dispatcher',
  statements: () => [
    `CREATE TABLE notifications (
      id TEXT PRIMARY KEY,
      namespace TEXT NOT NULL,
      organization TEXT NOT NULL,
      message TEXT NOT NULL,
      recipient TEXT NOT NULL,
      user_id TEXT,
      variables TEXT NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      next_attempt_at BIGINT NOT NULL,
      lease_owner TEXT,
      lease_until BIGINT,
      channel TEXT,
      last_error TEXT,
      created_at BIGINT NOT NULL,
      sent_at BIGINT
    )`,
    `CREATE INDEX notifications_due ON notifications (state, next_attempt_at)`,
    `CREATE INDEX notifications_organization ON notifications (namespace, organization, created_at)`,
  ],
};
