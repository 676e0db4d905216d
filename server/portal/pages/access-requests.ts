import { Problem, notFound } from '../../errors.ts';
import type { AccessDecision } from '../../governance/access-request-routes.ts';
import { accessRequestPath, type presentRequest } from '../../governance/access-requests.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { portalPage, type PortalRequest } from '../page.ts';

type ShownRequest = ReturnType<typeof presentRequest>;

const STATE_BADGE: Record<string, string> = { pending: 'warn', approved: 'ok', denied: 'bad', revoked: 'bad', expired: 'muted' };
const when = (iso: string | null) => (iso ? `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 16).replace('T', ' '))} UTC</time>` : '<span class="muted">—</span>');
const badge = (state: string) => `<span class="badge ${STATE_BADGE[state] ?? ''}">${escapeHtml(state)}</span>`;

function service(req: PortalRequest) {
  const found = req.services.accessRequests;
  if (!found) throw notFound('access requests are not served here');
  return found;
}

async function emailOf(req: PortalRequest, userId: string): Promise<string> {
  return (await req.services.store.users.find(req.principal.namespace, userId))?.email ?? userId;
}

async function list(req: PortalRequest): Promise<void> {
  const { ctx, principal } = req;
  const items = await service(req).list(ctx, principal.namespace, principal.organization, undefined);
  const rows = await Promise.all(
    items.map(
      async (r) => `<tr class="request-row" data-request="${escapeHtml(r.id)}">
<td data-label="Requested by"><a href="${escapeHtml(req.url(accessRequestPath(r.id)))}">${escapeHtml(await emailOf(req, r.user))}</a></td>
<td data-label="Application" class="mono">${escapeHtml(r.client)}</td>
<td data-label="Scopes" class="mono">${r.scopes.map(escapeHtml).join(' ')}</td>
<td data-label="State">${badge(r.state)}</td>
<td data-label="Asked">${when(r.createdAt)}</td></tr>`,
    ),
  );
  req.render(
    'Access requests',
    items.length
      ? `<p class="muted">${items.filter((r) => r.state === 'pending').length} waiting for a decision.</p><table class="stack"><thead><tr><th>Requested by</th><th>Application</th><th>Scopes</th><th>State</th><th>Asked</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`
      : '<p class="muted">No access requests.</p>',
  );
}

async function show(req: PortalRequest, id: string): Promise<void> {
  const { ctx, principal } = req;
  const r: ShownRequest = await service(req).find(ctx, principal.namespace, principal.organization, id);
  const action = (decision: AccessDecision) => escapeHtml(req.url(`${accessRequestPath(r.id)}/${decision}`));
  const note = (decision: AccessDecision) => `<label for="${decision}-note">Note (optional)</label><input id="${decision}-note" name="note" maxlength="1024">`;
  const decide =
    r.state === 'pending'
      ? `<h2>Decide</h2><form method="post" action="${action('approve')}" class="card" id="approve">${req.csrfField}<label for="approve-for">For how long (optional, e.g. 30d; never past the contract)</label><input id="approve-for" name="for" placeholder="30d">${note('approve')}<button type="submit">Approve</button></form>
<form method="post" action="${action('deny')}" class="card" id="deny">${req.csrfField}${note('deny')}<button type="submit" class="danger">Deny</button></form>`
      : r.state === 'approved'
        ? `<form method="post" action="${action('revoke')}" class="card" id="revoke">${req.csrfField}${note('revoke')}<button type="submit" class="danger">Revoke</button></form>`
        : '';
  req.render(
    'Access request',
    `<dl class="card" id="request" data-request="${escapeHtml(r.id)}">
<dt>Requested by</dt><dd>${escapeHtml(await emailOf(req, r.user))}</dd>
<dt>Application</dt><dd class="mono">${escapeHtml(r.client)}</dd>
<dt>Scopes</dt><dd class="mono">${r.scopes.map(escapeHtml).join(' ')}</dd>
<dt>Why</dt><dd>${r.justification ? escapeHtml(r.justification) : '<span class="muted">not given</span>'}</dd>
<dt>State</dt><dd id="request-state">${badge(r.state)}</dd>
<dt>Asked</dt><dd>${when(r.createdAt)}</dd>
${r.decidedAt ? `<dt>Decided</dt><dd>${when(r.decidedAt)} by <span class="mono">${escapeHtml(r.decidedBy ?? '')}</span></dd>` : ''}
${r.expiresAt ? `<dt>Until</dt><dd>${when(r.expiresAt)}</dd>` : ''}</dl>${decide}<p><a href="${escapeHtml(req.url('access-requests'))}">All access requests</a></p>`,
  );
}

/**
 * Access requests of the organization (scopes an AccessPolicy marks `requireApproval`), and
 * each one's own page (`access-requests/{id}`, where the approvers' message links), to approve
 * (for a while, never past the contract), deny or revoke: the admin API's service, so only a
 * declared approver decides, never the requester, and each decision is audited and told.
 */
export const accessRequestsPage = portalPage({
  path: 'access-requests',
  nav: { label: 'Access requests', order: 25 },
  async get(req) {
    if (req.rest.length === 0) return list(req);
    if (req.rest.length === 1) return show(req, req.rest[0]!);
    req.render('Not found', '<p>There is no such page.</p>', { status: 404 });
  },
  async post(req) {
    const [id, decision] = req.rest as [string | undefined, string | undefined];
    if (!id || req.rest.length !== 2 || (decision !== 'approve' && decision !== 'deny' && decision !== 'revoke')) return req.render('Not found', '<p>There is no such action.</p>', { status: 404 });
    const note = req.form.get('note')?.trim();
    const forHow = req.form.get('for')?.trim();
    const body = { ...(note ? { note } : {}), ...(decision === 'approve' && forHow ? { for: forHow } : {}) };
    try {
      await service(req).decide(req.ctx, req.principal.namespace, req.principal.organization, id, decision, Object.keys(body).length ? body : undefined);
    } catch (error) {
      // A bad duration or a request decided meanwhile: said on the request's page. Refusals stay the portal's error pages.
      if (!(error instanceof Problem) || (error.status !== 400 && error.status !== 409 && error.status !== 422)) throw error;
      return req.redirect(accessRequestPath(id), error.status === 409 ? 'request-conflict' : 'request-invalid');
    }
    req.redirect(accessRequestPath(id), { approve: 'request-approved', deny: 'request-denied', revoke: 'request-revoked' }[decision]);
  },
});
