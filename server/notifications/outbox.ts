import { createHmac, randomBytes } from 'node:crypto';
import type { MessageName } from '../../api/index.ts';
import type { Repositories, UserRecord } from '../store/index.ts';

/** What a caller knows of a message; the outbox adds the id and the common variables. */
export interface Notification {
  namespace: string;
  /** '' for the workspace's own people (contract owners of workspace-level messages, workspace administrators). */
  organization: string;
  message: MessageName;
  to: string;
  /** The user the message is about (erasure removes it with the user). */
  userId?: string | null;
  recipientName?: string;
  variables: Record<string, string>;
}

/**
 * Writes a message into the outbox, inside the caller's transaction: it exists exactly when the
 * change that causes it commits, and the dispatcher sends it after. Returns its id.
 */
export async function enqueue(repo: Repositories, n: Notification, now: number): Promise<string> {
  const id = newNotificationId(now);
  await repo.notifications.enqueue({ id, namespace: n.namespace, organization: n.organization, message: n.message, recipient: n.to, userId: n.userId ?? null, variables: { recipientEmail: n.to, recipientName: n.recipientName ?? n.to, ...n.variables } }, now);
  return id;
}

/** A message to a user, about that user, in the user's organization. */
export function enqueueForUser(repo: Repositories, user: UserRecord, message: MessageName, variables: Record<string, string>, now: number): Promise<string> {
  return enqueue(repo, { namespace: user.namespace, organization: user.organization, message, to: user.email, userId: user.id, recipientName: user.profile.name ?? user.email, variables }, now);
}

/**
 * "A passkey was added to your account", for the passkey enrolment to call inside the
 * transaction that stores the credential (issue #25's passkeys part).
 */
export function notifyPasskeyAdded(repo: Repositories, user: UserRecord, passkeyName: string, now: number): Promise<string> {
  return enqueueForUser(repo, user, 'passkey-added', { passkeyName, addedAt: iso(now) }, now);
}

/** The administrators of an organization (who hold `organization-admin` or `admin`), active ones only. */
export async function organizationAdmins(repo: Repositories, namespace: string, organization: string): Promise<UserRecord[]> {
  return (await repo.users.list(namespace, [organization])).filter((u) => u.active && u.roles.some((r) => r === 'organization-admin' || r === 'admin'));
}

let sequence = 0;
/** `n-<time>-<sequence>-<random>`: unique, and in the order written within a process (the listing's tie-break for one millisecond). */
export function newNotificationId(now: number): string {
  sequence = (sequence + 1) % 0x1000000;
  return `n-${Math.max(0, now).toString(36).padStart(9, '0')}-${sequence.toString(16).padStart(6, '0')}-${randomBytes(6).toString('hex')}`;
}

/** The audit's name for a recipient: a keyed hash, so records can be matched for one address without holding it. */
export function pseudonym(key: string, address: string): string {
  return `hmac-sha256:${createHmac('sha256', key).update(address.trim().toLowerCase()).digest('hex').slice(0, 32)}`;
}

export const iso = (t: number) => new Date(t).toISOString();
