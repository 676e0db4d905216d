import type { SqlExecutor } from '../sql.ts';

/** A connection's SCIM bearer token, as a hash only: it is shown once and never read back. */
export interface ScimTokenRecord {
  namespace: string;
  connection: string;
  organization: string;
  tokenHash: string;
  createdAt: number;
}

/** The last SCIM request a connection's IdP made, and how many it made and got an error for. */
export interface ScimActivity {
  lastRequestAt: number;
  lastStatus: number;
  requests: number;
  errors: number;
}

/** What SCIM knows of a user beyond the `users` row: its userName, externalId and the attributes it sent. */
export interface ScimUserRecord {
  namespace: string;
  userId: string;
  connection: string;
  /** Lower-cased: userName is case-insensitive (RFC 7643 §4.1.1), and here always an email address. */
  userName: string;
  externalId: string | null;
  /** The SCIM attributes stored as sent (name, displayName, emails, enterprise extension, …). */
  resource: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface ScimGroupRecord {
  namespace: string;
  id: string;
  connection: string;
  displayName: string;
  externalId: string | null;
  createdAt: number;
  updatedAt: number;
}

interface TokenRow {
  namespace: string;
  connection: string;
  organization: string;
  token_hash: string;
  created_at: number | string;
}
interface UserRow {
  namespace: string;
  user_id: string;
  connection: string;
  user_name: string;
  external_id: string | null;
  resource: string;
  created_at: number | string;
  updated_at: number | string;
}
interface GroupRow {
  namespace: string;
  id: string;
  connection: string;
  display_name: string;
  external_id: string | null;
  created_at: number | string;
  updated_at: number | string;
}

const toToken = (r: TokenRow): ScimTokenRecord => ({ namespace: r.namespace, connection: r.connection, organization: r.organization, tokenHash: r.token_hash, createdAt: Number(r.created_at) });
const toUser = (r: UserRow): ScimUserRecord => ({
  namespace: r.namespace,
  userId: r.user_id,
  connection: r.connection,
  userName: r.user_name,
  externalId: r.external_id,
  resource: JSON.parse(r.resource) as Record<string, unknown>,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});
const toGroup = (r: GroupRow): ScimGroupRecord => ({ namespace: r.namespace, id: r.id, connection: r.connection, displayName: r.display_name, externalId: r.external_id, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) });

const USER_COLUMNS = 'namespace, user_id, connection, user_name, external_id, resource, created_at, updated_at';
const GROUP_COLUMNS = 'namespace, id, connection, display_name, external_id, created_at, updated_at';

/** SCIM provisioning state: tokens, activity, provisioned users' SCIM attributes, groups and memberships. */
export class ScimRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  /** Sets the connection's token, replacing the previous one (rotation). */
  async putToken(token: ScimTokenRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO scim_tokens (namespace, connection, organization, token_hash, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (namespace, connection) DO UPDATE SET organization = excluded.organization, token_hash = excluded.token_hash, created_at = excluded.created_at`,
      [token.namespace, token.connection, token.organization, token.tokenHash, token.createdAt],
    );
  }

  /** The tokens of one organization's connections: what its SCIM endpoint compares a presented token with. */
  async tokens(namespace: string, organization: string): Promise<ScimTokenRecord[]> {
    return (await this.db.all<TokenRow>(`SELECT namespace, connection, organization, token_hash, created_at FROM scim_tokens WHERE namespace = ? AND organization = ? ORDER BY connection`, [namespace, organization])).map(toToken);
  }

  async token(namespace: string, connection: string): Promise<ScimTokenRecord | undefined> {
    const row = (await this.db.all<TokenRow>(`SELECT namespace, connection, organization, token_hash, created_at FROM scim_tokens WHERE namespace = ? AND connection = ?`, [namespace, connection]))[0];
    return row ? toToken(row) : undefined;
  }

  async deleteToken(namespace: string, connection: string): Promise<boolean> {
    return (await this.db.run(`DELETE FROM scim_tokens WHERE namespace = ? AND connection = ?`, [namespace, connection])) > 0;
  }

  /** Counts one request of the connection's IdP (an error when `status` is 400 or more). */
  async recordRequest(namespace: string, connection: string, status: number, at: number): Promise<void> {
    const error = status >= 400 ? 1 : 0;
    await this.db.run(
      `INSERT INTO scim_activity (namespace, connection, last_request_at, last_status, requests, errors) VALUES (?, ?, ?, ?, 1, ?)
       ON CONFLICT (namespace, connection) DO UPDATE SET last_request_at = excluded.last_request_at, last_status = excluded.last_status,
         requests = scim_activity.requests + 1, errors = scim_activity.errors + excluded.errors`,
      [namespace, connection, at, status, error],
    );
  }

  async activity(namespace: string, connection: string): Promise<ScimActivity | undefined> {
    const row = (await this.db.all<{ last_request_at: number | string; last_status: number | string; requests: number | string; errors: number | string }>(`SELECT last_request_at, last_status, requests, errors FROM scim_activity WHERE namespace = ? AND connection = ?`, [namespace, connection]))[0];
    return row ? { lastRequestAt: Number(row.last_request_at), lastStatus: Number(row.last_status), requests: Number(row.requests), errors: Number(row.errors) } : undefined;
  }

  async putUser(user: ScimUserRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO scim_users (${USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, user_id) DO UPDATE SET user_name = excluded.user_name, external_id = excluded.external_id, resource = excluded.resource, updated_at = excluded.updated_at`,
      [user.namespace, user.userId, user.connection, user.userName, user.externalId, JSON.stringify(user.resource), user.createdAt, user.updatedAt],
    );
  }

  async user(namespace: string, userId: string): Promise<ScimUserRecord | undefined> {
    const row = (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE namespace = ? AND user_id = ?`, [namespace, userId]))[0];
    return row ? toUser(row) : undefined;
  }

  async userByName(namespace: string, connection: string, userName: string): Promise<ScimUserRecord | undefined> {
    const row = (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE namespace = ? AND connection = ? AND user_name = ?`, [namespace, connection, userName]))[0];
    return row ? toUser(row) : undefined;
  }

  /** The users one connection provisioned, in creation order (SCIM pagination is by position). */
  async users(namespace: string, connection: string): Promise<ScimUserRecord[]> {
    return (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM scim_users WHERE namespace = ? AND connection = ? ORDER BY created_at, user_id`, [namespace, connection])).map(toUser);
  }

  /** Forgets the user's SCIM attributes and memberships. */
  async deleteUser(namespace: string, userId: string): Promise<boolean> {
    await this.db.run(`DELETE FROM scim_members WHERE namespace = ? AND user_id = ?`, [namespace, userId]);
    return (await this.db.run(`DELETE FROM scim_users WHERE namespace = ? AND user_id = ?`, [namespace, userId])) > 0;
  }

  async putGroup(group: ScimGroupRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO scim_groups (${GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, id) DO UPDATE SET display_name = excluded.display_name, external_id = excluded.external_id, updated_at = excluded.updated_at`,
      [group.namespace, group.id, group.connection, group.displayName, group.externalId, group.createdAt, group.updatedAt],
    );
  }

  async group(namespace: string, id: string): Promise<ScimGroupRecord | undefined> {
    const row = (await this.db.all<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE namespace = ? AND id = ?`, [namespace, id]))[0];
    return row ? toGroup(row) : undefined;
  }

  async groups(namespace: string, connection: string): Promise<ScimGroupRecord[]> {
    return (await this.db.all<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE namespace = ? AND connection = ? ORDER BY created_at, id`, [namespace, connection])).map(toGroup);
  }

  async deleteGroup(namespace: string, id: string): Promise<boolean> {
    await this.db.run(`DELETE FROM scim_members WHERE namespace = ? AND group_id = ?`, [namespace, id]);
    return (await this.db.run(`DELETE FROM scim_groups WHERE namespace = ? AND id = ?`, [namespace, id])) > 0;
  }

  /** Adds members; true for each one not already in the group. */
  async addMembers(namespace: string, groupId: string, userIds: readonly string[]): Promise<number> {
    let added = 0;
    for (const userId of userIds) {
      added += await this.db.run(`INSERT INTO scim_members (namespace, group_id, user_id) SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM scim_members WHERE namespace = ? AND group_id = ? AND user_id = ?)`, [namespace, groupId, userId, namespace, groupId, userId]);
    }
    return added;
  }

  async removeMembers(namespace: string, groupId: string, userIds: readonly string[]): Promise<number> {
    let removed = 0;
    for (const userId of userIds) removed += await this.db.run(`DELETE FROM scim_members WHERE namespace = ? AND group_id = ? AND user_id = ?`, [namespace, groupId, userId]);
    return removed;
  }

  async clearMembers(namespace: string, groupId: string): Promise<void> {
    await this.db.run(`DELETE FROM scim_members WHERE namespace = ? AND group_id = ?`, [namespace, groupId]);
  }

  async members(namespace: string, groupId: string): Promise<string[]> {
    return (await this.db.all<{ user_id: string }>(`SELECT user_id FROM scim_members WHERE namespace = ? AND group_id = ? ORDER BY user_id`, [namespace, groupId])).map((r) => r.user_id);
  }

  /** Every membership in one connection's groups, with the group's display name: a list page reads them at once. */
  async memberships(namespace: string, connection: string): Promise<{ userId: string; id: string; displayName: string }[]> {
    return (
      await this.db.all<{ user_id: string; id: string; display_name: string }>(`SELECT m.user_id, g.id, g.display_name FROM scim_members m JOIN scim_groups g ON g.namespace = m.namespace AND g.id = m.group_id WHERE m.namespace = ? AND g.connection = ? ORDER BY g.display_name, m.user_id`, [namespace, connection])
    ).map((r) => ({ userId: r.user_id, id: r.id, displayName: r.display_name }));
  }

  /** The groups a user is a member of, by id and display name (for the `groups` claim). */
  async groupsOf(namespace: string, userId: string): Promise<{ id: string; displayName: string }[]> {
    return (await this.db.all<{ id: string; display_name: string }>(`SELECT g.id, g.display_name FROM scim_members m JOIN scim_groups g ON g.namespace = m.namespace AND g.id = m.group_id WHERE m.namespace = ? AND m.user_id = ? ORDER BY g.display_name`, [namespace, userId])).map((r) => ({
      id: r.id,
      displayName: r.display_name,
    }));
  }
}
