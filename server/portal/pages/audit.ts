import type { ChainRecord } from '../../audit/chain.ts';
import { parseAuditFilters, scopedAuditQuery } from '../../governance/audit-routes.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { portalPage, type PortalRequest } from '../page.ts';

/** What the activity view needs: an organization's portal request, or the workspace overview's for one organization. */
export type AuditRequest = Pick<PortalRequest, 'ctx' | 'services' | 'url' | 'render' | 'rest'> & { namespace: string; organization: string };

const FIELDS = ['action', 'actor', 'subject', 'client', 'since', 'until'] as const;
const EXPORT_LIMIT = 10_000;
const PAGE = 50;

/** A date or date-time typed in the form (UTC, as the page says) as the admin API's RFC 3339. */
function instant(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return `${value}:00Z`;
  return value;
}

/**
 * The filters of the page's query, read by the admin API's own parser and narrowed by its
 * own scoping (so the portal shows exactly what GET /admin/v1/audit would), always to this
 * organization and its sub-organizations.
 */
async function query(req: AuditRequest) {
  const raw: Record<string, string> = { organization: req.organization };
  for (const f of FIELDS) {
    const v = req.ctx.query[f];
    if (typeof v === 'string' && v.trim()) raw[f] = f === 'since' || f === 'until' ? instant(v.trim()) : v.trim();
  }
  if (typeof req.ctx.query.before === 'string' && req.ctx.query.before) raw.before = req.ctx.query.before;
  const filters = parseAuditFilters(raw);
  return scopedAuditQuery(req.ctx, filters, { store: req.services.store, guard: req.services.guard });
}

const iso = (at: number) => new Date(at).toISOString();
const CSV_COLUMNS = ['seq', 'time', 'action', 'outcome', 'actor', 'organization', 'subject', 'client', 'kind', 'name', 'data'] as const;
/** RFC 4180 quoting, and a leading quote on what a spreadsheet would run as a formula. */
const csvCell = (value: unknown) => {
  let s = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const csvRow = (r: ChainRecord) => [r.seq, iso(r.at), r.action, r.outcome, r.actor, r.organization, r.subject, r.client, r.kind, r.name, JSON.stringify(r.data)].map(csvCell).join(',');

function describeData(r: ChainRecord): string {
  const entries = Object.entries(r.data)
    .filter(([k]) => k !== 'provenance')
    .slice(0, 6);
  return entries.map(([k, v]) => `${escapeHtml(k)}: <span class="mono">${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</span>`).join('<br>');
}

async function exportRecords(req: AuditRequest, format: 'csv' | 'json') {
  const q = await query(req);
  delete q.before;
  const records: ChainRecord[] = [];
  let after = 0;
  while (records.length < EXPORT_LIMIT) {
    const page = await req.services.store.audit.query({ ...q, after, ascending: true, limit: 500 });
    records.push(...page);
    if (page.length < 500) break;
    after = page[page.length - 1]!.seq;
  }
  const { ctx } = req;
  const name = `${req.namespace}-${req.organization}-audit`;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Disposition', `attachment; filename="${name}.${format}"`);
  if (format === 'csv') {
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = `${CSV_COLUMNS.join(',')}\r\n${records.map(csvRow).join('\r\n')}${records.length ? '\r\n' : ''}`;
  } else {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ items: records.slice(0, EXPORT_LIMIT), truncated: records.length >= EXPORT_LIMIT }, null, 2);
  }
}

export const auditPage = portalPage({
  path: 'audit',
  nav: { label: 'Activity', order: 30 },
  roles: ['organization-admin', 'admin', 'auditor'],
  get: (req) => auditView({ ...req, namespace: req.principal.namespace, organization: req.principal.organization }),
});

/** The activity of one organization (and its sub-organizations): filters, newest first, CSV and JSON export. */
export async function auditView(req: AuditRequest, keep: Record<string, string> = {}): Promise<void> {
  if (req.rest[0] === 'export.csv' || req.rest[0] === 'export.json') return exportRecords(req, req.rest[0] === 'export.csv' ? 'csv' : 'json');
  if (req.rest.length) return req.render('Not found', '<p>There is no such page.</p>', { status: 404 });
  const q = await query(req);
  const items = await req.services.store.audit.query({ ...q, limit: PAGE });
  const params = new URLSearchParams(keep);
  for (const f of FIELDS) {
    const v = req.ctx.query[f];
    if (typeof v === 'string' && v) params.set(f, v);
  }
  const value = (f: string) => escapeHtml(typeof req.ctx.query[f] === 'string' ? (req.ctx.query[f] as string) : '');
  const filters = `<form method="get" action="${escapeHtml(req.url('audit'))}" class="filters card">
<div><label for="f-action">Action</label><input id="f-action" name="action" type="text" value="${value('action')}" placeholder="login.* or user.invited"></div>
<div><label for="f-actor">Actor</label><input id="f-actor" name="actor" type="text" value="${value('actor')}"></div>
<div><label for="f-subject">User (subject)</label><input id="f-subject" name="subject" type="text" value="${value('subject')}"></div>
<div><label for="f-since">From (UTC)</label><input id="f-since" name="since" type="datetime-local" value="${value('since')}"></div>
<div><label for="f-until">Until (UTC)</label><input id="f-until" name="until" type="datetime-local" value="${value('until')}"></div>
${Object.entries(keep)
  .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
  .join('')}<div><button type="submit">Filter</button></div></form>`;
  const exportQs = params.toString() ? `?${params}` : '';
  const rows = items.map(
    (r) => `<tr class="audit-row"><td data-label="Time"><time datetime="${iso(r.at)}">${iso(r.at).slice(0, 19).replace('T', ' ')}</time></td>
<td data-label="Action"><code>${escapeHtml(r.action)}</code>${r.outcome !== 'success' ? ` <span class="badge bad">${escapeHtml(r.outcome)}</span>` : ''}</td>
<td data-label="Actor"><span class="mono">${escapeHtml(r.actor)}</span></td><td data-label="User">${r.subject ? `<span class="mono">${escapeHtml(r.subject)}</span>` : ''}</td><td data-label="Details">${describeData(r)}</td></tr>`,
  );
  const next = items.length === PAGE ? `<p><a href="${escapeHtml(req.url(`audit?${new URLSearchParams({ ...Object.fromEntries(params), before: String(items[items.length - 1]!.seq) })}`))}">Older records</a></p>` : '';
  req.render(
    'Activity',
    `${filters}<p>Export what the filters select: <a href="${escapeHtml(req.url(`audit/export.csv${exportQs}`))}" download>CSV</a> · <a href="${escapeHtml(req.url(`audit/export.json${exportQs}`))}" download>JSON</a></p>
${items.length ? `<table class="stack"><thead><tr><th>Time (UTC)</th><th>Action</th><th>Actor</th><th>User</th><th>Details</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>${next}` : '<p class="muted">No records match.</p>'}`,
  );
}
