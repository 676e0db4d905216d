import type { PasskeyRecord, UserRecord } from '../store/index.ts';

/** A passkey as the admin API and the account pages show it: what it is and when it was used, never its key. */
export function presentPasskey(p: PasskeyRecord) {
  return { id: p.id, name: p.name, rpId: p.rpId, deviceType: p.deviceType, backedUp: p.backedUp, transports: p.transports, aaguid: p.aaguid, createdAt: new Date(p.createdAt).toISOString(), lastUsedAt: p.lastUsedAt === null ? null : new Date(p.lastUsedAt).toISOString() };
}

/**
 * A user as the admin API shows it: never its password hash. `totp`: whether a TOTP factor is
 * stored for it (sealed in the secret store, not in the profile: see `totpFactorsOf`).
 */
export function presentUser(u: UserRecord, totp = false) {
  return {
    id: u.id,
    namespace: u.namespace,
    organization: u.organization || null,
    email: u.email,
    ...(u.profile.name ? { displayName: u.profile.name } : {}),
    roles: u.roles,
    active: u.active,
    connection: u.connection,
    /** Declared in git or Pulumi (a User object): partner administrators cannot change it. */
    managed: u.declaredAs !== null,
    mfaEnrolled: totp || (u.profile as { mfa?: unknown }).mfa !== undefined,
    createdAt: new Date(u.createdAt).toISOString(),
    lastLoginAt: u.lastLoginAt === null ? null : new Date(u.lastLoginAt).toISOString(),
  };
}
