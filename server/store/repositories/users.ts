import type { SqlExecutor } from '../sql.ts';

export interface UserProfile {
  name?: string;
  givenName?: string;
  familyName?: string;
  attributes?: Record<string, string>;
  /** Claims or attributes the upstream IdP asserted at the last sign-in. */
  upstream?: Record<string, unknown>;
  /** Display names of the SCIM groups the user is a member of (a ClaimMapping's `from: user.<attribute>` source, attribute groups). */
  groups?: string[];
  /** The roles the user holds only through those groups (an Organization's `groupRoles`): what leaving them takes away. */
  groupRoles?: string[];
}

export interface UserRecord {
  namespace: string;
  id: string;
  organization: string;
  /** The IdPConnection that vouches for the user (`directory` for declared users). */
  connection: string;
  subject: string;
  email: string;
  /** The User object that declares this user, if any. */
  declaredAs: string | null;
  profile: UserProfile;
  roles: string[];
  active: boolean;
  passwordHash: string | null;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
  /** Who deactivated an inactive user: `scim:<connection>` when its IdP's provisioning did, else null (the platform). */
  deactivatedBy?: string | null;
}

interface UserRow {
  namespace: string;
  id: string;
  organization: string;
  connection: string;
  subject: string;
  email: string;
  declared_as: string | null;
  profile: string;
  roles: string;
  active: number | string;
  password_hash: string | null;
  created_at: number | string;
  updated_at: number | string;
  last_login_at: number | string | null;
  deactivated_by: string | null;
}

const USER_COLUMNS = 'namespace, id, organization, connection, subject, email, declared_as, profile, roles, active, password_hash, created_at, updated_at, last_login_at, deactivated_by';

function toUser(r: UserRow): UserRecord {
  return {
    namespace: r.namespace,
    id: r.id,
    organization: r.organization,
    connection: r.connection,
    subject: r.subject,
    email: r.email,
    declaredAs: r.declared_as,
    profile: JSON.parse(r.profile) as UserProfile,
    roles: JSON.parse(r.roles) as string[],
    active: Number(r.active) === 1,
    passwordHash: r.password_hash,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastLoginAt: r.last_login_at === null ? null : Number(r.last_login_at),
    ...(r.deactivated_by !== null ? { deactivatedBy: r.deactivated_by } : {}),
  };
}

/** Users (runtime state: never deleted by reconciliation) and their one-time links. */
export class UserRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  async upsert(user: UserRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO users (namespace, id, organization, connection, subject, email, declared_as, profile, roles, active, password_hash, created_at, updated_at, last_login_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, id) DO UPDATE SET organization = excluded.organization, email = excluded.email, declared_as = excluded.declared_as,
         profile = excluded.profile, roles = excluded.roles, active = excluded.active, updated_at = excluded.updated_at`,
      [user.namespace, user.id, user.organization, user.connection, user.subject, user.email, user.declaredAs, JSON.stringify(user.profile), JSON.stringify(user.roles), user.active ? 1 : 0, user.passwordHash, user.createdAt, user.updatedAt, user.lastLoginAt],
    );
  }

  async find(namespace: string, id: string): Promise<UserRecord | undefined> {
    const row = (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND id = ?`, [namespace, id]))[0];
    return row ? toUser(row) : undefined;
  }

  /** Users with this email, in one organization or (for the shared-application issuer) the whole namespace. */
  async findByEmail(namespace: string, email: string, organization?: string): Promise<UserRecord[]> {
    const rows = organization ? await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND organization = ? AND email = ?`, [namespace, organization, email]) : await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND email = ?`, [namespace, email]);
    return rows.map(toUser);
  }

  async findBySubject(namespace: string, connection: string, subject: string): Promise<UserRecord | undefined> {
    const row = (await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND connection = ? AND subject = ?`, [namespace, connection, subject]))[0];
    return row ? toUser(row) : undefined;
  }

  /** Users of a namespace, of the given organizations when named. */
  async list(namespace: string, organizations?: string[]): Promise<UserRecord[]> {
    if (organizations && organizations.length === 0) return [];
    const rows = organizations
      ? await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? AND organization IN (${organizations.map(() => '?').join(', ')}) ORDER BY organization, id`, [namespace, ...organizations])
      : await this.db.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE namespace = ? ORDER BY organization, id`, [namespace]);
    return rows.map(toUser);
  }

  /**
   * Activates or deactivates; true when `active` changed. `by` names a deactivation that its
   * IdP's provisioning may undo (`scim:<connection>`); the platform's (null) overrides it, so
   * SCIM can never reactivate a user the platform deactivated, even one SCIM deactivated first.
   */
  async setActive(namespace: string, id: string, active: boolean, at: number, by: string | null = null): Promise<boolean> {
    if (!active && by === null) await this.db.run(`UPDATE users SET deactivated_by = NULL WHERE namespace = ? AND id = ? AND active = 0`, [namespace, id]);
    return (await this.db.run(`UPDATE users SET active = ?, deactivated_by = ?, updated_at = ? WHERE namespace = ? AND id = ? AND active <> ?`, [active ? 1 : 0, active ? null : by, at, namespace, id, active ? 1 : 0])) > 0;
  }

  /** Erases the user's record and one-time links (its tokens are ended by the caller); true when there was one. */
  async erase(namespace: string, id: string): Promise<boolean> {
    await this.db.run(`DELETE FROM one_time_links WHERE namespace = ? AND user_id = ?`, [namespace, id]);
    return (await this.db.run(`DELETE FROM users WHERE namespace = ? AND id = ?`, [namespace, id])) > 0;
  }

  async setProfile(namespace: string, id: string, profile: UserProfile, at: number): Promise<void> {
    await this.db.run(`UPDATE users SET profile = ?, updated_at = ? WHERE namespace = ? AND id = ?`, [JSON.stringify(profile), at, namespace, id]);
  }

  async setPassword(namespace: string, id: string, passwordHash: string, at: number): Promise<void> {
    await this.db.run(`UPDATE users SET password_hash = ?, updated_at = ? WHERE namespace = ? AND id = ?`, [passwordHash, at, namespace, id]);
  }

  async touchLogin(namespace: string, id: string, at: number): Promise<void> {
    await this.db.run(`UPDATE users SET last_login_at = ? WHERE namespace = ? AND id = ?`, [at, namespace, id]);
  }

  async putLink(tokenHash: string, namespace: string, userId: string, purpose: string, expiresAt: number): Promise<void> {
    await this.db.run(`INSERT INTO one_time_links (token_hash, namespace, user_id, purpose, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)`, [tokenHash, namespace, userId, purpose, expiresAt]);
  }

  /** Ends every unused link of this purpose for the user (a newer one replaces them). */
  async retireLinks(namespace: string, userId: string, purpose: string, now: number): Promise<void> {
    await this.db.run(`UPDATE one_time_links SET used_at = ? WHERE namespace = ? AND user_id = ? AND purpose = ? AND used_at IS NULL`, [now, namespace, userId, purpose]);
  }

  /** Marks a link used and returns whom it was for; undefined when unknown, expired or already used. */
  async useLink(tokenHash: string, purpose: string, now: number): Promise<{ namespace: string; userId: string } | undefined> {
    const row = (await this.db.all<{ namespace: string; user_id: string }>(`SELECT namespace, user_id FROM one_time_links WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`, [tokenHash, purpose, now]))[0];
    if (!row) return undefined;
    const changed = await this.db.run(`UPDATE one_time_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL`, [now, tokenHash]);
    return changed > 0 ? { namespace: row.namespace, userId: row.user_id } : undefined;
  }

  async peekLink(tokenHash: string, purpose: string, now: number): Promise<{ namespace: string; userId: string } | undefined> {
    const row = (await this.db.all<{ namespace: string; user_id: string }>(`SELECT namespace, user_id FROM one_time_links WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`, [tokenHash, purpose, now]))[0];
    return row ? { namespace: row.namespace, userId: row.user_id } : undefined;
  }
}
