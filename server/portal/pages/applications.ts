import type { AccessPolicyObject, ClientObject } from '../../../api/index.ts';
import { ADMIN_CONSOLE_ANNOTATION } from '../../governance/principals.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { portalPage } from '../page.ts';

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

/**
 * What one application may do for this organization's users: each API scope it asks for,
 * whether a policy of the organization grants it (no policy, no API access), and what the
 * grant demands (two-step verification, approval) and opens (paths and methods).
 */
function describe(client: ClientObject, policies: AccessPolicyObject[]): string {
  const applicable = policies.filter((p) => !p.spec.clientRef || p.spec.clientRef.name === client.metadata.name);
  const grants = new Map(applicable.flatMap((p) => p.spec.scopes.map((s) => [s.scope, { ...s, policy: p.metadata.name }] as const)));
  const mfaScopes = new Set([...(client.spec.mfa?.requiredScopes ?? []), ...[...grants.values()].filter((g) => g.requireMfa).map((g) => g.scope)]);
  const declared = client.spec.scopes ?? ['openid'];
  const api = declared.filter((s) => !OIDC_SCOPES.has(s));
  const rows = api.map((scope) => {
    const grant = grants.get(scope);
    const opens = grant?.api?.map((a) => `${a.methods.join(', ')} <code>${escapeHtml(a.path)}</code>`).join('<br>') ?? '<span class="muted">—</span>';
    const needs = [mfaScopes.has(scope) ? 'two-step verification' : '', grant?.requireApproval ? 'approval' : ''].filter(Boolean).join(', ') || '<span class="muted">nothing more</span>';
    return `<tr><td data-label="Scope"><code>${escapeHtml(scope)}</code></td><td data-label="Granted">${grant ? `<span class="badge ok">yes</span> <span class="muted">policy ${escapeHtml(grant.policy)}</span>` : '<span class="badge bad">no policy</span>'}</td><td data-label="Needs">${needs}</td><td data-label="Opens">${opens}</td></tr>`;
  });
  const isConsole = client.metadata.annotations?.[ADMIN_CONSOLE_ANNOTATION] === 'true';
  return `<section class="card" id="app-${escapeHtml(client.metadata.name)}"><h2>${escapeHtml(client.metadata.name)}${isConsole ? ' <span class="badge warn">admin console</span>' : ''}</h2>
<dl class="facts"><dt>Type</dt><dd>${escapeHtml(client.spec.type ?? 'web')}</dd>
<dt>Sign-in scopes</dt><dd>${
    declared
      .filter((s) => OIDC_SCOPES.has(s))
      .map((s) => `<code>${escapeHtml(s)}</code>`)
      .join(' ') || '<span class="muted">none</span>'
  }</dd>
${client.spec.redirectUris?.length ? `<dt>Returns to</dt><dd>${client.spec.redirectUris.map((u) => `<code>${escapeHtml(u)}</code>`).join('<br>')}</dd>` : ''}
${client.spec.audiences?.length ? `<dt>APIs (audiences)</dt><dd>${client.spec.audiences.map((u) => `<code>${escapeHtml(u)}</code>`).join('<br>')}</dd>` : ''}</dl>
${rows.length ? `<table class="stack"><thead><tr><th>API scope</th><th>Granted</th><th>Needs</th><th>Opens</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : '<p class="muted">No API scopes: sign-in only.</p>'}</section>`;
}

export const applicationsPage = portalPage({
  path: 'applications',
  nav: { label: 'Applications', order: 20 },
  roles: ['organization-admin', 'admin', 'auditor'],
  async get(req) {
    const { ctx, principal, services } = req;
    const { namespace, organization } = principal;
    await services.guard.require(ctx, 'objects.read', { namespace, organization });
    const objects = await services.store.objects.list({ namespace });
    const clients = objects.map((o) => o.object).filter((o): o is ClientObject => o.kind === 'Client' && (o as ClientObject).spec.organizationRef?.name === organization);
    const policies = objects.map((o) => o.object).filter((o): o is AccessPolicyObject => o.kind === 'AccessPolicy' && (o as AccessPolicyObject).spec.organizationRef.name === organization);
    clients.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    req.render(
      'Applications',
      `<p>The applications registered for ${escapeHtml(req.organization.spec.displayName ?? organization)}, and what each may do. Your workspace administrators declare them; ask them for a change.</p>
${clients.length ? clients.map((c) => describe(c, policies)).join('\n') : '<p class="muted">No applications are registered for your organization.</p>'}`,
    );
  },
});
