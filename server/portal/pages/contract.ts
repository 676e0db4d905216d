import type { Condition, OrganizationObject } from '../../../api/index.ts';
import { withLifecycleStatus } from '../../governance/lifecycle.ts';
import { loadNamespace } from '../../governance/organizations.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { portalPage } from '../page.ts';

/** A condition as a badge and its message; `absent`: what its absence means (no review period, not reported yet). */
export const conditionBadge = (c: Condition | undefined, good: 'True' | 'False' = 'True', absent = '—') =>
  c ? `<span class="badge ${c.status === good ? 'ok' : 'bad'}">${escapeHtml(c.type)}: ${escapeHtml(c.reason)}</span> <span class="muted">${escapeHtml(c.message)}</span>` : `<span class="muted">${escapeHtml(absent)}</span>`;

/** The organization as the admin API presents it: lifecycle conditions computed now, runtime certification included. */
export async function organizationStatus(store: Parameters<typeof loadNamespace>[0], namespace: string, org: OrganizationObject, now: number) {
  const stored = await store.objects.get('Organization', namespace, org.metadata.name);
  const withStored = { ...org, ...(stored?.status ? { status: stored.status } : {}) } as OrganizationObject;
  return withLifecycleStatus(withStored, await loadNamespace(store, namespace), now) as OrganizationObject & { status: { conditions: Condition[]; certification?: { certifiedAt: string; by: string } } };
}

/** Certification is the contract owner's to give: the signed-in user's address must be the declared owner. */
export async function isContractOwner(store: Parameters<typeof loadNamespace>[0], namespace: string, userId: string, org: OrganizationObject): Promise<boolean> {
  const owner = org.spec.contract?.owner?.toLowerCase();
  const user = await store.users.find(namespace, userId);
  return owner !== undefined && user?.email.toLowerCase() === owner;
}

export const contractPage = portalPage({
  path: 'contract',
  nav: { label: 'Contract', order: 40 },
  roles: ['organization-admin', 'admin', 'auditor'],
  async get(req) {
    const { ctx, principal, services } = req;
    await services.guard.require(ctx, 'objects.read', { namespace: principal.namespace, organization: principal.organization });
    const org = await organizationStatus(services.store, principal.namespace, req.organization, services.clock.now());
    const contract = org.spec.contract;
    if (!contract) return req.render('Contract', '<p class="muted">No contract is declared for your organization.</p>');
    const cond = (type: string) => org.status.conditions.find((c) => c.type === type);
    const owner = await isContractOwner(services.store, principal.namespace, principal.subject, org);
    const certification = org.status.certification ?? (contract.certifiedAt ? { certifiedAt: contract.certifiedAt, by: 'declared in git' } : undefined);
    req.render(
      'Contract',
      `<dl class="facts card">
<dt>Contract</dt><dd class="mono">${escapeHtml(contract.id)}</dd>
<dt>Partner type</dt><dd>${escapeHtml(contract.partnerType)}</dd>
<dt>Owner</dt><dd>${escapeHtml(contract.owner ?? '—')}</dd>
${contract.startsAt ? `<dt>Starts</dt><dd>${escapeHtml(contract.startsAt)}</dd>` : ''}
<dt>Ends</dt><dd>${escapeHtml(contract.endsAt)}</dd>
<dt>Standing</dt><dd>${conditionBadge(cond('Active'))}</dd>
<dt>Contract end</dt><dd>${conditionBadge(cond('ContractEnding'), 'False')}</dd>
<dt>Certification</dt><dd>${conditionBadge(cond('CertificationCurrent'), 'True', 'no review period declared')}${certification ? `<br>Last certified ${escapeHtml(certification.certifiedAt)} by <span class="mono">${escapeHtml(certification.by)}</span>` : ''}</dd>
</dl>
${owner ? `<form method="post" action="${escapeHtml(req.url('contract'))}" class="card">${req.csrfField}<p>You own this contract. Certify that the partnership, its users and its access are still right.</p><label for="note">Note (optional)</label><input id="note" name="note" type="text" maxlength="1024"><button type="submit">Certify</button></form>` : `<p class="muted">Certification is given by the contract owner${contract.owner ? ` (${escapeHtml(contract.owner)})` : ''}.</p>`}`,
    );
  },
  async post(req) {
    const { ctx, principal, services } = req;
    if (!(await isContractOwner(services.store, principal.namespace, principal.subject, req.organization))) {
      await services.guard.refuse(ctx, 'only the contract owner certifies the organization', 'lifecycle.write', { namespace: principal.namespace, organization: principal.organization });
    }
    const note = req.form.get('note')?.trim();
    await services.governance.certify(ctx, principal.namespace, principal.organization, note ? { note } : undefined);
    req.redirect('contract', 'certified');
  },
});
