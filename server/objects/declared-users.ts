import type { UserObject } from '../../api/index.ts';
import type { Repositories, UserRecord } from '../store/index.ts';

/** A declared User is also a runtime user (the one sign-ins find); its password and history stay with the runtime record. */
export async function syncDeclaredUser(repo: Repositories, user: UserObject, now: number): Promise<void> {
  const { spec } = user;
  await repo.users.upsert({
    namespace: user.metadata.namespace!,
    id: user.metadata.name,
    organization: spec.organizationRef?.name ?? '',
    connection: 'directory',
    subject: user.metadata.name,
    email: spec.email.toLowerCase(),
    declaredAs: user.metadata.name,
    profile: { name: spec.displayName, givenName: spec.givenName, familyName: spec.familyName, attributes: spec.attributes },
    roles: spec.roles ?? [],
    active: spec.active,
    passwordHash: null,
    createdAt: now,
    updatedAt: now,
    lastLoginAt: null,
  });
}

/** Deleting the declaration deactivates the user; the record (and its audit trail) stays. Returns the user as it was. */
export async function retireDeclaredUser(repo: Repositories, namespace: string, name: string, now: number): Promise<UserRecord | undefined> {
  const existing = await repo.users.find(namespace, name);
  if (existing) await repo.users.upsert({ ...existing, declaredAs: null, active: false, updatedAt: now });
  return existing;
}
