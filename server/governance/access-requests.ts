import type { approversOf } from '../oidc/approval.ts';
import type { AccessRequestRecord, AccessRequestState, Repositories, Store } from '../store/index.ts';
import type { Principal } from './policy.ts';
import { enqueueForUser } from '../notifications/outbox.ts';

/*
 * Access requests for AccessPolicy scopes marked `requireApproval` (the sign-in records them:
 * server/oidc/access-request-page.ts), decided through the admin API by the approvers the
 * policy declares, within their organization, never by the requester. An approval is read
 * on every token the user is issued, refreshed or has introspected (server/oidc/approval.ts),
 * so a denial, a revocation or an expiry takes the scope from every token of the user at once.
 * The admin routes are in access-request-routes.ts.
 */

/** Where a request's own page is under an organization's portal, or the workspace portal for workspace approvers (server/portal/pages/access-requests.ts): what the approvers' message links to. */
export const accessRequestPath = (id: string) => `access-requests/${encodeURIComponent(id)}`;

export const STATES = ['pending', 'approved', 'denied', 'revoked', 'expired'] as const satisfies readonly AccessRequestState[];
export const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** A request as the admin API shows it; an approval past its end reads `expired` before the monitor marks it. */
export function presentRequest(r: AccessRequestRecord, now: number) {
  const lapsed = r.state === 'approved' && r.expiresAt !== null && r.expiresAt <= now;
  return {
    id: r.id,
    namespace: r.namespace,
    organization: r.organization,
    user: r.userId,
    client: r.clientId,
    scopes: r.scopes,
    justification: r.justification,
    state: lapsed ? 'expired' : r.state,
    createdAt: iso(r.createdAt),
    decidedAt: iso(r.decidedAt),
    decidedBy: r.decidedBy,
    expiresAt: iso(r.expiresAt),
    ...(r.endedAt !== null ? { endedAt: iso(r.endedAt), endedBy: r.endedBy } : {}),
  };
}

/** Whether a principal is among the declared approvers: roles for users of (or above) the organization, names for workspace principals. */
export function isApprover(principal: Principal, approvers: ReturnType<typeof approversOf>): boolean {
  if (principal.kind === 'token') return approvers.adminTokens.includes(principal.actor.replace(/^admin-token:/, ''));
  // A workspace user holds its roles across the namespace, not in the organization: it is named.
  if (principal.organization === null) return approvers.users.includes(principal.userId);
  return principal.roles.some((r) => approvers.roles.includes(r));
}

/** Marks approvals past their end expired, each audited once (safe from several replicas: the update is the once). */
export async function expireApprovals(store: Store, now: number): Promise<AccessRequestRecord[]> {
  const expired: AccessRequestRecord[] = [];
  for (const r of await store.accessRequests.lapsed(now)) {
    const done = await store.transaction(async (repo) => {
      if (!(await repo.accessRequests.end(r.namespace, r.id, { state: 'expired', at: now, by: 'gatehouse:lifecycle' }))) return false;
      await auditDecision(repo, 'accessrequest.expired', 'gatehouse:lifecycle', r, now, { expiresAt: iso(r.expiresAt), approvedBy: r.decidedBy });
      return true;
    });
    if (done) expired.push(r);
  }
  return expired;
}

export function auditDecision(repo: Repositories, action: 'accessrequest.approved' | 'accessrequest.denied' | 'accessrequest.revoked' | 'accessrequest.expired', actor: string, r: AccessRequestRecord, now: number, data: Record<string, unknown>) {
  return repo.audit.append({ action, actor, namespace: r.namespace, organization: r.organization || null, client: r.clientId, subject: r.userId, name: r.id, data: { id: r.id, scopes: r.scopes, ...data } }, now);
}

/** The requester hears the decision (inside the decision's transaction). */
export async function notifyDecision(repo: Repositories, r: AccessRequestRecord, decision: 'approved' | 'denied' | 'revoked', actor: string, now: number): Promise<void> {
  const user = await repo.users.find(r.namespace, r.userId);
  if (user?.active) await enqueueForUser(repo, user, 'access-request-decided', { decision, client: r.clientId, scopes: r.scopes.join(' '), decidedBy: actor }, now);
}
