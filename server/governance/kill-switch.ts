import { withDescendants } from '../../api/index.ts';
import { redact } from '../audit/changes.ts';
import type { Repositories } from '../store/index.ts';
import { loadNamespace } from './organizations.ts';
import { endOrganizationTokens } from './token-ends.ts';

/**
 * The kill switch: when an Organization becomes suspended, every grant, refresh token,
 * authorization code and session of its issuer and of its sub-organizations' issuers (and
 * their users' at the shared-application issuer) is deleted in the same transaction as the change, so nothing survives a later un-suspend.
 * (Sign-ins, token requests and introspection are already refused while it is suspended:
 * see standingOf.) Client-credentials JWTs are bound to no grant: the issuers' cutoff makes
 * every JWT signed before now inactive at introspection for good, even if the organization is
 * reinstated within their lifetime.
 */
export async function pullKillSwitch(repo: Repositories, options: { namespace: string; organization: string; actor: string; provenance?: Record<string, string> | undefined; now: number }): Promise<{ organizations: string[]; revoked: number }> {
  const view = await loadNamespace(repo, options.namespace);
  const organizations = withDescendants(view.organizations, options.organization);
  // Their users' sessions and grants at the namespace's shared-application issuer go too.
  const revoked = await endOrganizationTokens(repo, options.namespace, organizations);
  await repo.audit.append(
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
