import type { Condition, OrganizationObject } from '../../../api/index.ts';
import { Problem } from '../../errors.ts';
import { escapeHtml } from '../../oidc/html.ts';
import type { Role } from '../../governance/policy.ts';
import type { PortalRequest } from '../page.ts';
import { accessRequestService, serveAccessRequests, type RequestSource } from './access-requests.ts';
import { auditView } from './audit.ts';
import { conditionBadge, isContractOwner, organizationStatus } from './contract.ts';

/** A request to the workspace portal (`/{namespace}/portal`): a workspace user (of no organization) holding a role. */
export type WorkspaceRequest = Pick<PortalRequest, 'ctx' | 'services' | 'url' | 'render' | 'rest' | 'form' | 'csrfField' | 'redirect'> & { namespace: string; subject: string; roles: readonly Role[] };

/** Who reads the overview; any other workspace user signs in only to decide the access requests that name it. */
export const OVERVIEW_ROLES: readonly Role[] = ['admin', 'organization-admin', 'auditor'];

/** The requests of any organization a workspace approver decides (the admin API's service checks each again). */
function approverRequests(req: WorkspaceRequest): RequestSource {
  const { ctx, namespace } = req;
  const service = accessRequestService(req.services);
  return {
    list: () => service.decidable(ctx, namespace),
    find: (id) => service.findDecidable(ctx, namespace, id),
    decide: async (id, decision, body) => service.decide(ctx, namespace, (await service.findDecidable(ctx, namespace, id)).organization, id, decision, body),
    showsOrganization: true,
  };
}

const short = (iso: string | undefined) => (iso ? escapeHtml(iso.slice(0, 10)) : '<span class="muted">—</span>');

/**
 * What differs from git: the controller has not yet applied the latest generation, and
 * runtime state beside the declaration (users invited in the portal or admin API, a
 * certification recorded at run time, later than the declared one).
 */
function drift(stored: { generation: number; status: Record<string, unknown> | null }, runtimeUsers: number, org: OrganizationObject & { status: { certification?: { certifiedAt: string } } }): string[] {
  const out: string[] = [];
  const observed = (stored.status as { observedGeneration?: number } | null)?.observedGeneration;
  if (observed !== undefined && observed < stored.generation) out.push(`generation ${stored.generation} not yet applied (status at ${observed})`);
  if (runtimeUsers > 0) out.push(`${runtimeUsers} runtime user${runtimeUsers === 1 ? '' : 's'}`);
  const runtimeCert = org.status.certification?.certifiedAt;
  if (runtimeCert && (!org.spec.contract?.certifiedAt || runtimeCert > org.spec.contract.certifiedAt)) out.push('certified at run time (not in git)');
  return out;
}

async function overview(req: WorkspaceRequest) {
  const { services, namespace, ctx } = req;
  await services.guard.require(ctx, 'objects.read', { namespace, organization: null });
  const now = services.clock.now();
  const stored = (await services.store.objects.list({ kind: 'Organization', namespace })).sort((a, b) => a.object.metadata.name.localeCompare(b.object.metadata.name));
  const users = await services.store.users.list(
    namespace,
    stored.map((s) => s.object.metadata.name),
  );
  const rows: string[] = [];
  for (const s of stored) {
    const name = s.object.metadata.name;
    const org = await organizationStatus(services.store, namespace, s.object as OrganizationObject, now);
    const cond = (type: string): Condition | undefined => org.status.conditions.find((c) => c.type === type);
    const own = users.filter((u) => u.organization === name);
    const last = own.reduce<number | null>((m, u) => (u.lastLoginAt !== null && (m === null || u.lastLoginAt > m) ? u.lastLoginAt : m), null);
    const differs = drift(s, own.filter((u) => u.declaredAs === null).length, org);
    const owner = await isContractOwner(services.store, namespace, req.subject, org);
    rows.push(`<tr class="org-row" data-organization="${escapeHtml(name)}">
<td data-label="Organization"><strong>${escapeHtml(org.spec.displayName ?? name)}</strong><br><span class="mono">${escapeHtml(name)}</span></td>
<td data-label="Contract ends">${short(org.spec.contract?.endsAt)}</td>
<td data-label="Certification">${conditionBadge(cond('CertificationCurrent'), 'True', 'no review period')}${owner ? `<form class="inline" method="post" action="${escapeHtml(req.url('certify'))}">${req.csrfField}<input type="hidden" name="organization" value="${escapeHtml(name)}"><button type="submit">Certify</button></form>` : ''}</td>
<td data-label="Ready">${conditionBadge(cond('Ready'), 'True', 'not reported (no controller status yet)')}</td>
<td data-label="Active">${conditionBadge(cond('Active'))}</td>
<td data-label="Last sign-in">${last === null ? '<span class="muted">never</span>' : escapeHtml(new Date(last).toISOString().slice(0, 16).replace('T', ' '))}</td>
<td data-label="Drift">${differs.length ? differs.map((d) => `<span class="badge warn">${escapeHtml(d)}</span>`).join(' ') : '<span class="muted">none</span>'}</td>
<td data-label="Audit"><a href="${escapeHtml(req.url(`audit?organization=${encodeURIComponent(name)}`))}">Activity</a></td></tr>`);
  }
  req.render(
    'Workspace overview',
    `<p>Every partner organization of ${escapeHtml(namespace)}. Read-only: declarations change in git or Pulumi.</p>
<table class="stack"><thead><tr><th>Organization</th><th>Contract ends</th><th>Certification</th><th>Ready</th><th>Active</th><th>Last sign-in (UTC)</th><th>Drift</th><th>Audit</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`,
  );
}

/**
 * The workspace portal's pages: the overview's (the table, one organization's activity, the
 * contract owner's certification) for workspace administrators, and the access requests a
 * workspace user named in an AccessPolicy's `approvers.users` decides (where its message links).
 */
export async function serveWorkspace(req: WorkspaceRequest): Promise<void> {
  const { ctx, services, namespace } = req;
  const [first = '', ...more] = req.rest;
  if (first === 'access-requests') return serveAccessRequests({ ...req, rest: more }, approverRequests(req));
  if (!req.roles.some((r) => OVERVIEW_ROLES.includes(r))) {
    // An approver who is no administrator lands on what it may do here.
    if (ctx.method === 'GET' && first === '' && more.length === 0) return req.redirect('access-requests');
    return req.render('Not allowed', '<p class="error">The workspace overview is for workspace administrators only.</p>', { status: 403 });
  }
  if (ctx.method === 'GET' && first === '' && more.length === 0) return overview(req);
  if (ctx.method === 'GET' && first === 'audit') {
    const organization = typeof ctx.query.organization === 'string' ? ctx.query.organization : '';
    const org = organization ? await services.store.objects.get('Organization', namespace, organization) : undefined;
    if (!org) throw new Problem(404, 'Not found', `organization ${organization || '(none)'} does not exist in ${namespace}`);
    const render: PortalRequest['render'] = (heading, body, o) => req.render(heading === 'Activity' ? `Activity of ${(org.object as OrganizationObject).spec.displayName ?? organization}` : heading, body, o);
    return auditView({ ...req, render, rest: more, organization }, { organization });
  }
  if (ctx.method === 'POST' && first === 'certify' && more.length === 0) {
    const organization = req.form.get('organization') ?? '';
    const stored = await services.store.objects.get('Organization', namespace, organization);
    if (!stored) throw new Problem(404, 'Not found', `organization ${organization || '(none)'} does not exist in ${namespace}`);
    if (!(await isContractOwner(services.store, namespace, req.subject, stored.object as OrganizationObject))) {
      await services.guard.refuse(ctx, `only the contract owner certifies organization ${organization}`, 'lifecycle.write', { namespace, organization });
    }
    const note = req.form.get('note')?.trim();
    await services.governance.certify(ctx, namespace, organization, note ? { note } : undefined);
    return req.redirect('', 'certified');
  }
  req.render('Not found', '<p>There is no such page.</p>', { status: 404 });
}
