import { TOTP_SCOPE, totpRow } from '../broker/mfa.ts';
import { endUserTokens } from '../governance/token-ends.ts';
import type { Repositories, UserRecord } from '../store/index.ts';

/**
 * Removes a runtime user and erases its personal data, inside the caller's transaction: its
 * grants, sessions and tokens end, then its record (email, names, attributes, upstream
 * claims, password hash), its SCIM attributes and group memberships, its one-time links and
 * its second factors (TOTP, passkeys) and what the risk engine saw of it (its devices and sign-in countries) are deleted. What stays is the audit chain, which is never rewritten: its
 * records name the user by `id` (for federated users `fed-` + a hash of the connection and
 * the IdP's subject), which nothing in the store maps back to a person once this has run.
 * The erasure itself is recorded under that id, without any personal data, and moves the
 * namespace's configuration version.
 */
export async function eraseUser(repo: Repositories, user: UserRecord, audit: { actor: string; via: 'admin' | 'scim'; connection?: string }, now: number): Promise<{ revoked: number }> {
  const { namespace } = user;
  const revoked = await endUserTokens(repo, namespace, [user]);
  await repo.scim.deleteUser(namespace, user.id);
  await repo.secrets.delete(TOTP_SCOPE, totpRow(namespace, user.id));
  await repo.risk.forget(namespace, user.id);
  await repo.passkeys.removeAll(namespace, user.id);
  await repo.users.erase(namespace, user.id);
  await repo.notifications.eraseUser(namespace, user.id);
  // Its id may be taken again in another organization (a User declared under the name, a
  // federated user through a connection now another organization's): every replica's issuers
  // forget the organization they remembered of it (server/oidc/provider.ts).
  await repo.objects.bumpConfigVersion(namespace, [{ kind: 'User', name: user.id }]);
  await repo.audit.append({ action: 'user.erased', actor: audit.actor, namespace, organization: user.organization || null, kind: 'User', name: user.id, subject: user.id, data: { via: audit.via, revoked, ...(audit.connection ? { connection: audit.connection } : {}) } }, now);
  return { revoked };
}
