import { clientIdFor, issuerPath, type ClientObject } from '../../api/index.ts';
import { redact } from '../audit/changes.ts';
import { standingOf } from '../oidc/standing.ts';
import type { Repositories, UserRecord } from '../store/index.ts';
import { chainFor, loadChains, loadNamespace, type NamespaceView } from './organizations.ts';

/*
 * Every path that ends access ends every token: these are called inside the store
 * transaction of the change that ends it, so there is no instant at which the change is
 * visible and a token of what it ended is not yet gone.
 */

/**
 * The cutoff is compared with `iat`, which oidc-provider stamps from the system clock, so it
 * is read from the same clock (not the injected one). A token signed in the same second as
 * the change counts as before it: fail closed.
 */
export function issuedBeforeNow(): number {
  return (Math.floor(Date.now() / 1000) + 1) * 1000;
}

/** Every grant, token and session of these users, at their organizations' issuers and the namespace's shared issuer. */
export async function endUserTokens(repo: Repositories, namespace: string, users: readonly UserRecord[]): Promise<number> {
  const organizations = [...new Set(users.map((u) => u.organization).filter((o) => o))];
  const issuers = [issuerPath(namespace), ...organizations.map((o) => issuerPath(namespace, o))];
  return repo.oidc.revokeAccounts(
    issuers,
    users.map((u) => u.id),
  );
}

/**
 * Every grant, token and session of these organizations' issuers, every JWT they signed until
 * now, and their users' grants at the shared issuer: what the kill switch pulls, and what an
 * organization that stood no more loses before it may stand again.
 */
export async function endOrganizationTokens(repo: Repositories, namespace: string, organizations: readonly string[]): Promise<number> {
  const revoked = await repo.oidc.revokeIssuers(
    organizations.map((o) => issuerPath(namespace, o)),
    issuedBeforeNow(),
  );
  const users = await repo.users.list(namespace, [...organizations]);
  return (
    revoked +
    (await repo.oidc.revokeAccounts(
      [issuerPath(namespace)],
      users.map((u) => u.id),
    ))
  );
}

/**
 * A deleted Client's grants, codes, refresh and opaque access tokens at its issuer, and a
 * cutoff for the JWT access tokens it was issued (client-credentials ones have no grant).
 * Its client_id is reused if it is declared again; this and the adapter's binding to the
 * Client's uid are why nothing of the old one comes back.
 */
export async function endClientTokens(repo: Repositories, namespace: string, client: ClientObject): Promise<number> {
  return repo.oidc.revokeClient(issuerPath(namespace, client.spec.organizationRef?.name), clientIdFor(namespace, client.metadata.name), issuedBeforeNow());
}

/** The grants and sessions of the users an IdPConnection provisioned (its just-in-time users), when it is deleted. */
export async function endConnectionTokens(repo: Repositories, namespace: string, connection: string): Promise<{ users: number; revoked: number }> {
  const users = (await repo.users.list(namespace)).filter((u) => u.connection === connection);
  return { users: users.length, revoked: await endUserTokens(repo, namespace, users) };
}

/**
 * Organizations whose standing a change flips, either way, and what becomes of their tokens:
 * - one that stood and stands no more (a contract ended early by a new `endsAt`, a parent
 *   that stops standing, a certification now enforced) loses every token now, as the kill
 *   switch does for a suspension (`skip` holds those it already pulled);
 * - one that did not stand (a contract that ran out, an overdue certification) and stands
 *   again loses every token from before first, so extending a contract or certifying starts
 *   new grants and never revives old ones.
 * Each is audited as `Organization.tokens-ended`. Returns the organizations whose tokens ended.
 */
export async function endLapsedTokens(repo: Repositories, before: NamespaceView, now: number, audit: { actor: string; provenance?: Record<string, string> | undefined }, skip: readonly string[] = []): Promise<string[]> {
  // A view loaded for some organizations (a write of one and those below it) is compared on those.
  const after = before.scope ? await loadChains(repo, before.namespace, before.scope) : await loadNamespace(repo, before.namespace);
  const ended: string[] = [];
  for (const name of before.scope ?? after.organizations.keys()) {
    if (!after.organizations.has(name)) continue;
    if (!before.organizations.has(name) || skip.includes(name)) continue;
    const was = standingOf(chainFor(before, name), now, before.workspace?.spec.lifecycle);
    const is = standingOf(chainFor(after, name), now, after.workspace?.spec.lifecycle);
    if (was.active === is.active) continue;
    const lapse = was.active ? is : was;
    if (lapse.active) continue; // (narrows the type: one of the two does not stand)
    const revoked = await endOrganizationTokens(repo, before.namespace, [name]);
    await repo.audit.append(
      {
        action: 'Organization.tokens-ended',
        actor: audit.actor,
        namespace: before.namespace,
        organization: name,
        kind: 'Organization',
        name,
        data: { reason: lapse.reason, detail: lapse.detail, standing: was.active ? 'lost' : 'restored', revoked, ...(audit.provenance ? { provenance: redact(audit.provenance) } : {}) },
      },
      now,
    );
    ended.push(name);
  }
  return ended;
}
