import { organizationChain, type AccessPolicyObject, type Approvers, type ClientObject, type OrganizationObject } from '../../api/index.ts';
import type { Store } from '../store/index.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';

/**
 * AccessPolicy `scopes[].requireApproval`: a user's tokens carry such a scope only while an
 * approval of their access request stands (server/governance/access-requests.ts decides them).
 * An approval is the user's for the scope in their organization, whichever of its clients asks
 * (a token exchanged on their behalf keeps it). The sign-in asks for nothing it lacks: the
 * scope is left out and the rest of the sign-in goes on, as entitlement flows do.
 */

/**
 * The scopes of `client`'s tokens for a user of `organization` that need an approval, each
 * with the policies that say so (whose approvers decide). At the shared issuer, the user's
 * organization's policies; the same set requireMfa reads (step-up.ts). A scope an ancestor's
 * policy gates stays gated below it (api/effective.ts), and that ancestor's approvers decide too.
 */
export function approvalScopes(snapshot: IssuerSnapshot, organization: string | undefined, client: SnapshotClient | undefined): Map<string, AccessPolicyObject[]> {
  return gatedScopes(snapshot.declarations.organizations, snapshot.policies, organization, client?.object);
}

/** The same from any declarations (the admin API reads them from the store). */
export function gatedScopes(organizations: ReadonlyMap<string, OrganizationObject>, policies: readonly AccessPolicyObject[], organization: string | undefined, client: ClientObject | undefined): Map<string, AccessPolicyObject[]> {
  const gated = new Map<string, AccessPolicyObject[]>();
  if (!client || organization === undefined) return gated;
  const chain = new Set(organizationChain(organizations, organization).map((o) => o.metadata.name));
  if (chain.size === 0) chain.add(organization);
  const applicable = policies.filter((p) => chain.has(p.spec.organizationRef.name) && (!p.spec.clientRef || p.spec.clientRef.name === client.metadata.name));
  for (const policy of applicable) {
    for (const s of policy.spec.scopes) if (s.requireApproval) gated.set(s.scope, [...(gated.get(s.scope) ?? []), policy]);
  }
  return gated;
}

/** Every declared approver of a set of policies, merged (who may decide a request for their scopes). */
export function approversOf(policies: readonly AccessPolicyObject[]): Required<Approvers> {
  const merged = { roles: new Set<string>(), users: new Set<string>(), adminTokens: new Set<string>() };
  for (const p of policies) {
    for (const r of p.spec.approvers?.roles ?? []) merged.roles.add(r);
    for (const u of p.spec.approvers?.users ?? []) merged.users.add(u);
    for (const t of p.spec.approvers?.adminTokens ?? []) merged.adminTokens.add(t);
  }
  return { roles: [...merged.roles] as Required<Approvers>['roles'], users: [...merged.users], adminTokens: [...merged.adminTokens] };
}

export interface Approved {
  /** The scopes of `scopes` the user may have now: every ungated one, and the gated ones approved. */
  scopes: string[];
  /** The earliest end among the approvals those scopes rest on; undefined when none ends. */
  endsAt: number | undefined;
}

/** Narrows `scopes` to what a user holds: gated scopes without a standing approval go. Reads the store only when a gated scope is among them. */
export async function withApprovals(store: Store, namespace: string, userId: string | undefined, gated: ReadonlyMap<string, unknown>, scopes: readonly string[], now: number): Promise<Approved> {
  if (!scopes.some((s) => gated.has(s))) return { scopes: [...scopes], endsAt: undefined };
  const standing = userId ? await store.accessRequests.standing(namespace, userId, now) : new Map<string, number | null>();
  let endsAt: number | undefined;
  const kept = scopes.filter((s) => {
    if (!gated.has(s)) return true;
    if (!standing.has(s)) return false;
    const end = standing.get(s);
    if (end !== null && end !== undefined) endsAt = Math.min(endsAt ?? Infinity, end);
    return true;
  });
  return { scopes: kept, endsAt };
}

/** The gated scopes asked for that are neither approved nor already waiting in a pending request: what a new request would ask. */
export async function scopesToRequest(store: Store, namespace: string, userId: string, gated: ReadonlyMap<string, unknown>, asked: readonly string[], now: number): Promise<string[]> {
  const wanted = [...new Set(asked.filter((s) => gated.has(s)))];
  if (wanted.length === 0) return [];
  const standing = await store.accessRequests.standing(namespace, userId, now);
  const waiting = new Set((await store.accessRequests.pending(namespace, userId)).flatMap((r) => r.scopes));
  return wanted.filter((s) => !standing.has(s) && !waiting.has(s));
}
