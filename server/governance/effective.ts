import { MfaPolicy, effectiveScopes, effectiveSettings, type AccessPolicyObject, type ClaimMappingObject, type Declarations, type EffectiveScope, type EffectiveSettings } from '../../api/index.ts';
import type { Repositories } from '../store/index.ts';
import { loadNamespace } from './organizations.ts';

/** Partner administrators' tightenings of their organizations' second-factor policy, as stored (one unreadable is skipped: it can only have tightened). */
export async function loadMfaTightenings(repo: Repositories, namespace: string): Promise<Map<string, MfaPolicy>> {
  const out = new Map<string, MfaPolicy>();
  for (const [organization, row] of await repo.governance.mfaTightenings(namespace)) {
    const parsed = MfaPolicy.safeParse(JSON.parse(row.policy));
    if (parsed.success) out.set(organization, parsed.data);
  }
  return out;
}

/** Everything an organization's effective settings are computed from, as stored now. */
export async function loadDeclarations(repo: Repositories, namespace: string): Promise<Declarations> {
  // In sequence: `repo` may be a transaction (see loadNamespace).
  const view = await loadNamespace(repo, namespace);
  const mappings = await repo.objects.list({ kind: 'ClaimMapping', namespace });
  const policies = await repo.objects.list({ kind: 'AccessPolicy', namespace });
  const mfaTightenings = await loadMfaTightenings(repo, namespace);
  return {
    mfaTightenings,
    workspace: view.workspace,
    organizations: view.organizations,
    templates: view.templates,
    claimMappings: mappings.map((m) => m.object as ClaimMappingObject),
    policies: policies.map((p) => p.object as AccessPolicyObject),
  };
}

/** The answer of `GET …/organizations/{name}/effective`. */
export interface EffectiveDocument extends Omit<EffectiveSettings, 'organization'> {
  apiVersion: string;
  kind: 'EffectiveOrganizationSettings';
  metadata: { namespace: string; name: string };
  /**
   * The scopes the organization's AccessPolicies come to after its parents': `*` for every
   * client no policy names, then each client a policy of the chain names.
   */
  accessPolicies: { client: string; scopes: EffectiveScope[] }[];
}

export function effectiveDocument(decls: Declarations, namespace: string, name: string): EffectiveDocument | undefined {
  const settings = effectiveSettings(decls, name);
  if (!settings) return undefined;
  const { organization: _, ...rest } = settings;
  const named = new Set((decls.policies ?? []).filter((p) => settings.chain.includes(p.spec.organizationRef.name) && p.spec.clientRef).map((p) => p.spec.clientRef!.name));
  // "*" is no client name (those are DNS labels): only the general policies apply to it.
  const accessPolicies = ['*', ...[...named].sort()].map((client) => ({ client, scopes: [...effectiveScopes(decls, name, client).values()] }));
  return { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'EffectiveOrganizationSettings', metadata: { namespace, name }, ...rest, accessPolicies };
}
