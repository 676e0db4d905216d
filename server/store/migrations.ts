import type { Dialect, SqlDriver } from './sql.ts';

export interface Migration {
  version: number;
  description: string;
  statements(dialect: Dialect): string[];
}

/**
 * Schema history, append-only: a released migration is never edited, a new one is added.
 * Types are the ones SQLite and PostgreSQL share; JSON is TEXT, instants are epoch milliseconds.
 */
export const MIGRATIONS: Migration[] = [
  {
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
  },
  {
    version: 2,
    description: 'seed the audit chain head, so the first appends of concurrent writers queue on its row lock',
    // Without a head row, concurrent first appends on PostgreSQL all see "no head" (FOR UPDATE
    // locks nothing) and race to insert record 1: all but one fail on the audit primary key.
    statements: () => [`INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, '${'0'.repeat(64)}' WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)`],
  },
  {
    version: 3,
    description: 'token server: sealed secrets, signing keys, OIDC models, users, one-time links, issued access tokens',
    statements: () => [
      `CREATE TABLE sealed_secrets (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        sealed TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (scope, name)
      )`,
      `CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        activates_at BIGINT NOT NULL,
        retired_at BIGINT,
        expires_at BIGINT
      )`,
      `CREATE INDEX signing_keys_namespace ON signing_keys (namespace, alg, activates_at)`,
      `CREATE TABLE oidc_models (
        issuer TEXT NOT NULL,
        model TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        grant_id TEXT,
        uid TEXT,
        user_code TEXT,
        expires_at BIGINT,
        consumed_at BIGINT,
        PRIMARY KEY (issuer, model, id)
      )`,
      `CREATE INDEX oidc_models_grant ON oidc_models (issuer, grant_id)`,
      `CREATE INDEX oidc_models_uid ON oidc_models (issuer, uid)`,
      `CREATE INDEX oidc_models_expiry ON oidc_models (expires_at)`,
      `CREATE TABLE users (
        namespace TEXT NOT NULL,
        id TEXT NOT NULL,
        organization TEXT NOT NULL,
        connection TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT NOT NULL,
        declared_as TEXT,
        profile TEXT NOT NULL,
        roles TEXT NOT NULL,
        active INTEGER NOT NULL,
        password_hash TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_login_at BIGINT,
        PRIMARY KEY (namespace, id)
      )`,
      `CREATE UNIQUE INDEX users_upstream ON users (namespace, connection, subject)`,
      `CREATE INDEX users_email ON users (namespace, organization, email)`,
      `CREATE TABLE one_time_links (
        token_hash TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
      )`,
      `CREATE TABLE access_tokens (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        grant_id TEXT,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT,
        PRIMARY KEY (issuer, jti)
      )`,
    ],
  },
  {
    version: 4,
    description: 'configuration versions, so every replica rebuilds its issuers when a namespace changes',
    statements: () => [`CREATE TABLE config_versions (namespace TEXT PRIMARY KEY, version BIGINT NOT NULL)`],
  },
  {
    version: 5,
    description: 'federation broker: pending upstream sign-ins, and the replay cache of SAML assertion IDs',
    statements: () => [
      `CREATE TABLE broker_requests (
        id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        payload TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE INDEX broker_requests_expiry ON broker_requests (expires_at)`,
      `CREATE TABLE saml_assertions (
        idp TEXT NOT NULL,
        id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (idp, id)
      )`,
      `CREATE INDEX saml_assertions_expiry ON saml_assertions (expires_at)`,
    ],
  },
  {
    version: 6,
    description: 'governance: lifecycle notices emitted once per organization and window; audit indexes for actor, client and time filters',
    statements: () => [
      `CREATE TABLE lifecycle_notices (
        namespace TEXT NOT NULL,
        organization TEXT NOT NULL,
        notice TEXT NOT NULL,
        notice_key TEXT NOT NULL,
        emitted_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, organization, notice, notice_key)
      )`,
      `CREATE INDEX audit_actor ON audit (actor, seq)`,
      `CREATE INDEX audit_client ON audit (client, seq)`,
      `CREATE INDEX audit_at ON audit (at)`,
      `CREATE INDEX oidc_models_by_id ON oidc_models (model, id)`,
    ],
  },
  {
    version: 7,
    description: 'kill switch: JWT access tokens an issuer signed before it was pulled stay inactive, grant or no grant',
    statements: () => [`CREATE TABLE issuer_cutoffs (issuer TEXT PRIMARY KEY, issued_before BIGINT NOT NULL)`],
  },
  {
    version: 8,
    description: 'certifications made through the admin API: runtime state beside the declaration, so a reconciler putting git back does not undo them',
    statements: () => [
      `CREATE TABLE certifications (
        namespace TEXT NOT NULL,
        organization TEXT NOT NULL,
        certified_at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        PRIMARY KEY (namespace, organization)
      )`,
    ],
  },
  {
    version: 9,
    description: "SQLite: the audit sequence number becomes the table's rowid, one B-tree fewer to write per record (the table is copied once)",
    // "BIGINT PRIMARY KEY" is not a rowid alias in SQLite: every record was stored in the table's
    // hidden rowid B-tree and again in a separate unique index on seq. PostgreSQL is unchanged.
    statements: (dialect) =>
      dialect !== 'sqlite'
        ? []
        : [
            `CREATE TABLE audit_by_seq (
              seq INTEGER PRIMARY KEY,
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
            `INSERT INTO audit_by_seq SELECT seq, at, action, actor, namespace, organization, kind, name, client, subject, outcome, data, prev_hash, hash FROM audit ORDER BY seq`,
            `DROP TABLE audit`,
            `ALTER TABLE audit_by_seq RENAME TO audit`,
            `CREATE INDEX audit_organization ON audit (namespace, organization, seq)`,
            `CREATE INDEX audit_actor ON audit (actor, seq)`,
            `CREATE INDEX audit_client ON audit (client, seq)`,
            `CREATE INDEX audit_at ON audit (at)`,
          ],
  },
  {
    version: 10,
    description: 'audit chain keyed with an HMAC from a switch point on: where it starts, under which key, and the tag that binds it',
    // Left empty here: the first append made with the key fills them (the migration has no key).
    statements: () => [`ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT`, `ALTER TABLE audit_head ADD COLUMN keyed_by TEXT`, `ALTER TABLE audit_head ADD COLUMN keyed_tag TEXT`],
  },
  {
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
  },
  {
    version: 12,
    description: 'SCIM provisioning: one bearer token per IdPConnection (hash only), its activity, provisioned users and groups, and who deactivated a user',
    statements: () => [
      `CREATE TABLE scim_tokens (
        namespace TEXT NOT NULL,
        connection TEXT NOT NULL,
        organization TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, connection)
      )`,
      `CREATE TABLE scim_activity (
        namespace TEXT NOT NULL,
        connection TEXT NOT NULL,
        last_request_at BIGINT NOT NULL,
        last_status INTEGER NOT NULL,
        requests BIGINT NOT NULL,
        errors BIGINT NOT NULL,
        PRIMARY KEY (namespace, connection)
      )`,
      `CREATE TABLE scim_users (
        namespace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        connection TEXT NOT NULL,
        user_name TEXT NOT NULL,
        external_id TEXT,
        resource TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, user_id)
      )`,
      `CREATE UNIQUE INDEX scim_users_name ON scim_users (namespace, connection, user_name)`,
      `CREATE TABLE scim_groups (
        namespace TEXT NOT NULL,
        id TEXT NOT NULL,
        connection TEXT NOT NULL,
        display_name TEXT NOT NULL,
        external_id TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, id)
      )`,
      `CREATE UNIQUE INDEX scim_groups_name ON scim_groups (namespace, connection, display_name)`,
      `CREATE TABLE scim_members (
        namespace TEXT NOT NULL,
        group_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (namespace, group_id, user_id)
      )`,
      `CREATE INDEX scim_members_user ON scim_members (namespace, user_id)`,
      // NULL: active, or deactivated by the platform (admin API, declaration, deprovisioning); 'scim:<connection>' otherwise.
      `ALTER TABLE users ADD COLUMN deactivated_by TEXT`,
    ],
  },
  {
    version: 13,
    description: 'IdP connections a partner administrator is setting up in the portal (draft, tested): runtime state beside the declarations',
    statements: () => [
      `CREATE TABLE federation_drafts (
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        organization TEXT NOT NULL,
        revision BIGINT NOT NULL,
        spec TEXT NOT NULL,
        inspection TEXT NOT NULL,
        secret_name TEXT,
        test TEXT,
        actor TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, name)
      )`,
      `CREATE INDEX federation_drafts_organization ON federation_drafts (namespace, organization)`,
    ],
  },
  {
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
  },
  {
    version: 15,
    description: "Passkeys (WebAuthn credentials): each belongs to one user of one organization, for one relying party (the issuer's host); partner administrators' tightenings of the second-factor policy",
    statements: () => [
      `CREATE TABLE passkeys (
        credential_id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        organization TEXT NOT NULL,
        user_id TEXT NOT NULL,
        rp_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        counter BIGINT NOT NULL,
        transports TEXT NOT NULL,
        name TEXT NOT NULL,
        aaguid TEXT NOT NULL,
        device_type TEXT NOT NULL,
        backed_up INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT
      )`,
      `CREATE INDEX passkeys_user ON passkeys (namespace, user_id)`,
      `CREATE INDEX passkeys_organization ON passkeys (namespace, organization)`,
      // What a partner administrator added to its organization's declared second-factor policy (only ever tighter).
      `CREATE TABLE mfa_tightenings (
        namespace TEXT NOT NULL,
        organization TEXT NOT NULL,
        policy TEXT NOT NULL,
        actor TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, organization)
      )`,
    ],
  },
  {
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
  },
  {
    version: 17,
    description: 'audit indexed as it is read: newest first by namespace, by organization, by time; actor and client filters narrow within those',
    // An index keyed by actor or client puts each new record on a random leaf page once there are
    // thousands of them (one per partner's client): two such indexes cost token issuance ~10 % of
    // its CPU at 10,000 organizations. An index led by the namespace appends at its right edge.
    statements: () => [`DROP INDEX audit_actor`, `DROP INDEX audit_client`, `CREATE INDEX audit_namespace ON audit (namespace, seq)`],
  },
  {
    version: 18,
    description: 'the log of what each configuration version changed, so a replica reads only the objects a change names, not the namespace',
    // Versions reached before the log existed are not in it: logged_from marks where it starts.
    statements: () => [
      `CREATE TABLE config_changes (
        namespace TEXT NOT NULL,
        version BIGINT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL
      )`,
      `CREATE INDEX config_changes_version ON config_changes (namespace, version)`,
      `ALTER TABLE config_versions ADD COLUMN logged_from BIGINT NOT NULL DEFAULT 0`,
      `UPDATE config_versions SET logged_from = version`,
    ],
  },
];

const MIGRATION_LOCK = 0x6761_7465; // "gate": serialises replicas migrating one PostgreSQL database

/** Brings the schema up to date; safe to call from several replicas at once. Returns the versions applied. */
export async function migrate(driver: SqlDriver, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  return driver.transaction(async (tx) => {
    if (tx.dialect === 'postgres') await tx.all(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.run(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const rows = await tx.all<{ version: number | string }>(`SELECT version FROM schema_migrations`);
    const applied = new Set(rows.map((r) => Number(r.version)));
    const done: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      for (const statement of m.statements(tx.dialect)) await tx.run(statement);
      await tx.run(`INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`, [m.version, m.description, Date.now()]);
      done.push(m.version);
    }
    return done;
  });
}
