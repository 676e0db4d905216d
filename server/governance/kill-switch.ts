import { redact } from '../audit/changes.ts';
import type { Repository } from '../store/index.ts';
import { issuerPath } from '../../api/index.ts';
import { loadNamespace, withDescendants } from './organizations.ts';

/**
 * The kill switch: when an Organization becomes suspended, every grant, refresh token,
 * authorization code and session of its issuer and of its sub-organizations' issuers (and
 * their users' at the shared-application issuer) is deleted in the same transaction as the change, so nothing survives a later un-suspend.
 * (Sign-ins, token requests and introspection are already refused while it is suspended:
 * see standingOf.) Client-credentials JWTs are bound to no grant: the issuers' cutoff makes
 * every JWT signed before now inactive at introspection for good, even if the organization is
 * reinstated within their lifetime.
 */
export async function pullKillSwitch(
  repo: Repository,
  options: { namespace: string; organization: string; actor: string; provenance?: Record<string, string> | undefined; now: number },
): Promise<{ organizations: string[]; revoked: number }> {
  const view = await loadNamespace(repo, options.namespace);
  const organizations = withDescendants(view.organizations, options.organization);
  let revoked = await repo.revokeOidcIssuers(organizations.map((o) => issuerPath(options.namespace, o)), issuedBeforeNow());
  // Their users may also hold sessions at the namespace's shared-application issuer.
  const users = await repo.listUsers(options.namespace, organizations);
  revoked += await repo.revokeOidcAccounts([issuerPath(options.namespace)], users.map((u) => u.id));
  await repo.appendAudit(
    {
      action: 'Organization.kill-switch',
      actor: options.actor,
      namespace: options.namespace,
      organization: options.organization,
      kind: 'Organization',
      name: options.organization,
      data: { organizations, revoked, ...(options.provenance ? { provenance: redact(options.provenance) } : {}) },
    },
    options.now,
  );
  return { organizations, revoked };
}

/**
 * The cutoff is compared with `iat`, which oidc-provider stamps from the system clock, so it
 * is read from the same clock (not the injected one). A token signed in the same second as
 * the switch is pulled counts as before it: fail closed.
 */
export function issuedBeforeNow(): number {
  return (Math.floor(Date.now() / 1000) + 1) * 1000;
}
