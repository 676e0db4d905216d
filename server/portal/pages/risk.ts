import { escapeHtml } from '../../oidc/html.ts';
import { riskSummary } from '../../risk/routes.ts';
import { portalPage } from '../page.ts';

const ACTION_LABELS: Record<string, string> = { allow: 'Allowed', stepUp: 'Asked for a second factor', deny: 'Refused', suspendClient: 'Client suspended' };

/**
 * The organization's risk events (docs/risk.md): the same summary as
 * GET /admin/v1/namespaces/{ns}/organizations/{org}/risk, for the signed-in administrator's
 * own organization only — why a user was asked for a second factor, which clients are paused.
 */
export const riskPage = portalPage({
  path: 'risk',
  nav: { label: 'Risk', order: 35 },
  roles: ['organization-admin', 'admin', 'auditor'],
  async get(req) {
    const { ctx, principal, services } = req;
    if (req.rest.length) return req.render('Not found', '<p>There is no such page.</p>', { status: 404 });
    await services.guard.require(ctx, 'audit.read', { namespace: principal.namespace, organization: principal.organization });
    const s = await riskSummary(services.store, services.clock, principal.namespace, principal.organization);
    const declared = Boolean(req.organization.spec.risk) || s.evaluated > 0;
    const counts = Object.entries(s.decisions)
      .map(([action, n]) => `<dt>${escapeHtml(ACTION_LABELS[action] ?? action)}</dt><dd id="risk-${escapeHtml(action)}">${n}</dd>`)
      .join('');
    const rules = Object.entries(s.rules)
      .filter(([, n]) => n > 0)
      .map(([rule, n]) => `<li><code>${escapeHtml(rule)}</code>: ${n}</li>`)
      .join('');
    const suspended = s.suspendedClients.length
      ? `<ul id="suspended-clients">${s.suspendedClients.map((c) => `<li><span class="mono">${escapeHtml(c.client)}</span> since ${escapeHtml(c.suspendedAt.slice(0, 19).replace('T', ' '))} (score ${c.score}: ${escapeHtml(c.rules.join(', '))}) — ${c.until ? `until ${escapeHtml(c.until.slice(0, 19).replace('T', ' '))}` : 'until your Blixit administrator lifts it'}</li>`).join('')}</ul>`
      : '<p class="muted">No client is suspended.</p>';
    const rows = s.recent.map(
      (d) => `<tr class="risk-row"><td data-label="Time"><time datetime="${escapeHtml(d.at)}">${escapeHtml(d.at.slice(0, 19).replace('T', ' '))}</time></td>
<td data-label="Decision">${escapeHtml(ACTION_LABELS[d.action ?? ''] ?? d.event)}${d.action === 'allow' ? '' : ' <span class="badge bad">risk</span>'}</td>
<td data-label="Who"><span class="mono">${escapeHtml(d.subject ?? d.client ?? '')}</span></td>
<td data-label="Score">${d.score ?? ''}</td>
<td data-label="Why">${d.rules.length ? d.rules.map((r) => `<code>${escapeHtml(r.rule)}</code> (+${r.weight}): ${escapeHtml(r.reason)}`).join('<br>') : '<span class="muted">no rule fired</span>'}</td>
<td data-label="From"><span class="mono">${escapeHtml(d.ip ?? '')}</span>${'country' in d && d.country ? ` (${escapeHtml(String(d.country))})` : ''}</td></tr>`,
    );
    req.render(
      'Risk',
      `${declared ? '' : '<p class="muted">Your organization declares no risk rules.</p>'}<p>Sign-ins and token requests scored by your organization's risk rules since ${escapeHtml(s.since.slice(0, 10))}.</p>
<dl class="facts card">${counts}</dl>
${rules ? `<h2>Rules that fired</h2><ul>${rules}</ul>` : ''}
<h2>Suspended clients</h2>${suspended}
<h2>Latest decisions</h2>${rows.length ? `<table class="stack"><thead><tr><th>Time (UTC)</th><th>Decision</th><th>Who</th><th>Score</th><th>Why</th><th>From</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>` : '<p class="muted">None yet.</p>'}`,
    );
  },
});
