import { createHash, randomBytes } from 'node:crypto';
import { issuerPath } from '../../api/index.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';
import { notFound } from '../errors.ts';
import type { ChangeContext } from '../changes.ts';
import { enqueueForUser } from '../notifications/outbox.ts';

const LINK_LIFETIME_MS = 24 * 3600 * 1000;

/**
 * One-time links that let a directory user set a password: only the link's hash is
 * stored, it works once, it expires after a day, and a newer link ends every older one.
 */
export async function createPasswordLink(options: { store: Store; clock: Clock; publicUrl: string }, namespace: string, userId: string, context: ChangeContext): Promise<{ url: string; expiresAt: string }> {
  const { store, clock } = options;
  const now = clock.now();
  const token = randomBytes(32).toString('base64url');
  const expiresAt = now + LINK_LIFETIME_MS;
  const path = (organization: string) => issuerPath(namespace, organization || undefined);
  const url = (organization: string) => `${options.publicUrl.replace(/\/+$/, '')}${path(organization)}/account/password?token=${token}`;
  const user = await store.transaction(async (repo) => {
    const found = await repo.users.find(namespace, userId);
    if (!found) throw notFound(`User ${namespace}/${userId} does not exist`);
    // The message goes out with the link (docs/notifications.md): an invitation when the user has no password yet.
    if (found.passwordHash === null) await enqueueForUser(repo, found, 'invitation', { link: url(found.organization), expiresAt: new Date(expiresAt).toISOString() }, now);
    else await enqueueForUser(repo, found, 'password-reset', { link: url(found.organization), expiresInMinutes: String(Math.round(LINK_LIFETIME_MS / 60_000)) }, now);
    // The newest link is the only one that works: one sent to a wrong or old address dies with it.
    await repo.users.retireLinks(namespace, userId, 'set-password', now);
    await repo.users.putLink(createHash('sha256').update(token).digest('hex'), namespace, userId, 'set-password', expiresAt);
    await repo.audit.append({ action: 'user.password-link-created', actor: context.actor, namespace, organization: found.organization || null, subject: userId, kind: 'User', name: userId, data: { expiresAt: new Date(expiresAt).toISOString(), ...(context.provenance ? { provenance: context.provenance } : {}) } }, now);
    return found;
  });
  return { url: url(user.organization), expiresAt: new Date(expiresAt).toISOString() };
}
