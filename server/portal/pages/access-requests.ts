import { Problem, notFound } from '../../errors.ts';
import type { AccessDecision } from '../../governance/access-request-routes.ts';
import { accessRequestPath, type presentRequest } from '../../governance/access-requests.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { portalPage, type PortalRequest } from '../page.ts';

type ShownRequest = ReturnType<typeof presentRequest>;

const STATE_BADGE: Record<string, string> = { pending: 'warn', approved: 'ok', denied: 'bad', revoked: 'bad', expired: 'muted' };
const when = (iso: string | null) => (iso ? `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 16).replace('T', ' '))} UTC</time>` : '<span class="muted">—</span>');
const badge = (state: string) => `<span class="badge ${STATE_BADGE[state] ?? ''}">${escapeHtml(state)}</span>`;

/** What the request pages need from a portal: an organization's (PortalRequest) or the workspace's (WorkspaceRequest). */
export type RequestsView = Pick<PortalRequest, 'ctx' | 'services' | 'url' | 'render' | 'rest' | 'form' | 'csrfField' | 'redirect'> & { namespace: string };

/** Where the requests come from: one organization's, or those a workspace approver decides across organizations. */
export interface RequestSource {
  list(): Promise<ShownRequest[]>;
  find(id: string): Promise<ShownRequest>;
  decide(id: string, decision: AccessDecision, body: { note?: string; for?: string } | undefined): Promise<unknown>;
  /** The list names each request's organization (the workspace's spans several). */
  showsOrganization: boolean;
}

export function accessRequestService(services: PortalRequest['services']) {
  const found = services.accessRequests;
  if (!found) throw notFound('access requests are not served here');
  return found;
}

async function emailOf(view: RequestsView, userId: string): Promise<string> {
  return (await view.services.store.users.find(view.namespace, userId))?.email ?? userId;
}

async function list(view: RequestsView, source: RequestSource): Promise<void> {
  const items = await source.list();
  const organization = (r: ShownRequest) => (source.showsOrganization ? `<td data-label="Organization" class="mono">${escapeHtml(r.organization)}</td>` : '');
  const rows = await Promise.all(
    items.map(
      async (r) => `<tr class="request-row" data-request="${escapeHtml(r.id)}">
<td data-label="Requested by"><a href="${escapeHtml(view.url(accessRequestPath(r.id)))}">${escapeHtml(await emailOf(view, r.user))}</a></td>${organization(r)}
<td data-label="Application" class="mono">${escapeHtml(r.client)}</td>
<td data-label="Scopes" class="mono">${r.scopes.map(escapeHtml).join(' ')}</td>
<td data-label="State">${badge(r.state)}</td>
<td data-label="Asked">${when(r.createdAt)}</td></tr>`,
    ),
  );
  view.render(
    'Access requests',
    items.length
      ? `<p class="muted">${items.filter((r) => r.state === 'pending').length} waiting for a decision.</p><table class="stack"><thead><tr><th>Requested by</th>${source.showsOrganization ? '<th>Organization</th>' : ''}<th>Application</th><th>Scopes</th><th>State</th><th>Asked</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`
      : '<p class="muted">No access requests.</p>',
  );
}

async function show(view: RequestsView, source: RequestSource, id: string): Promise<void> {
  const r = await source.find(id);
  const action = (decision: AccessDecision) => escapeHtml(view.url(`${accessRequestPath(r.id)}/${decision}`));
  const note = (decision: AccessDecision) => `<label for="${decision}-note">Note (optional)</label><input id="${decision}-note" name="note" maxlength="1024">`;
  const decide =
    r.state === 'pending'
      ? `<h2>Decide</h2><form method="post" action="${action('approve')}" class="card" id="approve">${view.csrfField}<label for="approve-for">For how long (optional, e.g. 30d; never past the contract)</label><input id="approve-for" name="for" placeholder="30d">${note('approve')}<button type="submit">Approve</button></form>
<form method="post" action="${action('deny')}" class="card" id="deny">${view.csrfField}${note('deny')}<button type="submit" class="danger">Deny</button></form>`
      : r.state === 'approved'
        ? `<form method="post" action="${action('revoke')}" class="card" id="revoke">${view.csrfField}${note('revoke')}<button type="submit" class="danger">Revoke</button></form>`
        : '';
  view.render(
    'Access request',
    `<dl class="card" id="request" data-request="${escapeHtml(r.id)}">
<dt>Requested by</dt><dd>${escapeHtml(await emailOf(view, r.user))}</dd>${source.showsOrganization ? `\n<dt>Organization</dt><dd class="mono">${escapeHtml(r.organization)}</dd>` : ''}
<dt>Application</dt><dd class="mono">${escapeHtml(r.client)}</dd>
<dt>Scopes</dt><dd class="mono">${r.scopes.map(escapeHtml).join(' ')}</dd>
<dt>Why</dt><dd>${r.justification ? escapeHtml(r.justification) : '<span class="muted">not given</span>'}</dd>
<dt>State</dt><dd id="request-state">${badge(r.state)}</dd>
<dt>Asked</dt><dd>${when(r.createdAt)}</dd>
${r.decidedAt ? `<dt>Decided</dt><dd>${when(r.decidedAt)} by <span class="mono">${escapeHtml(r.decidedBy ?? '')}</span></dd>` : ''}
${r.expiresAt ? `<dt>Until</dt><dd>${when(r.expiresAt)}</dd>` : ''}</dl>${decide}<p><a href="${escapeHtml(view.url('access-requests'))}">All access requests</a></p>`,
  );
}

/** `access-requests[/{id}[/{decision}]]` of a portal, GET and POST (the CSRF token already checked), from `source`. */
export async function serveAccessRequests(view: RequestsView, source: RequestSource): Promise<void> {
  const [id, decision] = view.rest as [string | undefined, string | undefined];
  if (view.ctx.method !== 'POST') {
    if (view.rest.length === 0) return list(view, source);
    if (view.rest.length === 1) return show(view, source, id!);
    return view.render('Not found', '<p>There is no such page.</p>', { status: 404 });
  }
  if (!id || view.rest.length !== 2 || (decision !== 'approve' && decision !== 'deny' && decision !== 'revoke')) return view.render('Not found', '<p>There is no such action.</p>', { status: 404 });
  const note = view.form.get('note')?.trim();
  const forHow = view.form.get('for')?.trim();
  const body = { ...(note ? { note } : {}), ...(decision === 'approve' && forHow ? { for: forHow } : {}) };
  try {
    await source.decide(id, decision, Object.keys(body).length ? body : undefined);
  } catch (error) {
    // A bad duration or a request decided meanwhile: said on the request's page. Refusals stay the portal's error pages.
    if (!(error instanceof Problem) || (error.status !== 400 && error.status !== 409 && error.status !== 422)) throw error;
    return view.redirect(accessRequestPath(id), error.status === 409 ? 'request-conflict' : 'request-invalid');
  }
  view.redirect(accessRequestPath(id), { approve: 'request-approved', deny: 'request-denied', revoke: 'request-revoked' }[decision]);
}

/** The organization's own requests, through the admin API's service (its guardrails: only a declared approver decides, never the requester). */
function organizationRequests(req: PortalRequest): RequestSource {
  const { ctx, principal } = req;
  const service = accessRequestService(req.services);
  return {
    list: () => service.list(ctx, principal.namespace, principal.organization, undefined),
    find: (id) => service.find(ctx, principal.namespace, principal.organization, id),
    decide: (id, decision, body) => service.decide(ctx, principal.namespace, principal.organization, id, decision, body),
    showsOrganization: false,
  };
}

/**
 * Access requests of the organization (scopes an AccessPolicy marks `requireApproval`), and
 * each one's own page (`access-requests/{id}`, where the approvers' message links), to approve
 * (for a while, never past the contract), deny or revoke: the admin API's service, so only a
 * declared approver decides, never the requester, and each decision is audited and told.
 * The workspace portal serves the same pages to the workspace users named as approvers (workspace.ts).
 */
export const accessRequestsPage = portalPage({
  path: 'access-requests',
  nav: { label: 'Access requests', order: 25 },
  get: (req) => serveAccessRequests({ ...req, namespace: req.principal.namespace }, organizationRequests(req)),
  post: (req) => serveAccessRequests({ ...req, namespace: req.principal.namespace }, organizationRequests(req)),
});
