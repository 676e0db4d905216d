import { Problem } from '../../errors.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { assignableRoles, type Role } from '../../governance/policy.ts';
import { principalOf } from '../../governance/guard.ts';
import type { presentUser } from '../../governance/present.ts';
import { portalPage, type PortalRequest } from '../page.ts';

type ShownUser = ReturnType<typeof presentUser>;

const ROLES: readonly Role[] = ['organization-admin', 'admin', 'user-manager', 'auditor'];
const ROLE_TEXT: Record<Role, string> = {
  'organization-admin': 'Organization admin — everything in the portal',
  admin: 'Admin — users, applications and activity',
  'user-manager': 'User manager — users only',
  auditor: 'Auditor — reads, changes nothing',
};

const when = (iso: string | null) => (iso ? `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(0, 16).replace('T', ' '))} UTC</time>` : '<span class="muted">never</span>');

function userRow(req: PortalRequest, u: ShownUser, assignable: ReadonlySet<Role>, mayWrite: boolean): string {
  const self = u.id === req.principal.subject;
  const action = (op: string, label: string, cls = 'secondary', confirm?: string) =>
    `<form class="inline" method="post" action="${escapeHtml(req.url(`users/${encodeURIComponent(u.id)}/${op}`))}"${confirm ? ` data-confirm="${escapeHtml(confirm)}"` : ''}>${req.csrfField}<button type="submit" class="${cls}">${escapeHtml(label)}</button></form>`;
  const manageable = mayWrite && !self && u.roles.every((r) => assignable.has(r as Role));
  const actions = !manageable
    ? `<span class="muted">${self ? 'you' : u.managed ? 'declared in git' : '—'}</span>`
    : [
        !u.managed ? (u.active ? action('deactivate', 'Deactivate', 'danger', `Deactivate ${u.email}? Their sessions end now.`) : action('reactivate', 'Reactivate')) : '',
        u.mfaEnrolled ? action('reset-mfa', 'Reset 2-step', 'secondary', `Reset two-step verification of ${u.email}?`) : '',
        action('password-link', 'Password link'),
        !u.managed ? action('erase', 'Remove and erase', 'danger') : '',
        !u.managed
          ? `<details><summary>Roles</summary><form method="post" action="${escapeHtml(req.url(`users/${encodeURIComponent(u.id)}/roles`))}">${req.csrfField}<fieldset><legend class="muted">Roles of ${escapeHtml(u.email)}</legend>${ROLES.filter((r) => assignable.has(r))
              .map((r) => `<label><input type="checkbox" name="roles" value="${r}"${u.roles.includes(r) ? ' checked' : ''}> ${escapeHtml(r)}</label>`)
              .join('')}</fieldset><button type="submit">Save roles</button></form></details>`
          : '',
      ].join('');
  return `<tr class="user-row" data-user="${escapeHtml(u.id)}">
<td data-label="User"><strong>${escapeHtml(u.displayName ?? u.email)}</strong><br><span class="mono">${escapeHtml(u.email)}</span></td>
<td data-label="Roles">${u.roles.length ? u.roles.map((r) => escapeHtml(r)).join(', ') : '<span class="muted">none</span>'}</td>
<td data-label="Status">${u.active ? '<span class="badge ok">active</span>' : '<span class="badge bad">deactivated</span>'} ${u.mfaEnrolled ? '<span class="badge ok">2-step</span>' : ''}</td>
<td data-label="Last sign-in">${when(u.lastLoginAt)}</td>
<td data-label="Actions">${actions}</td></tr>`;
}

async function list(req: PortalRequest, extra: { notice?: string; error?: string; status?: number; shown?: string } = {}) {
  const { ctx, principal, services } = req;
  const users = await services.governance.listUsers(ctx, principal.namespace, principal.organization);
  const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().toLowerCase() : '';
  const shown = q ? users.filter((u) => `${u.email} ${u.displayName ?? ''} ${u.id} ${u.roles.join(' ')}`.toLowerCase().includes(q)) : users;
  const assignable = assignableRoles(principalOf(ctx));
  const mayWrite = principal.roles.some((r) => r !== 'auditor');
  const invite = mayWrite
    ? `<h2>Invite a user</h2><form method="post" action="${escapeHtml(req.url('users'))}" class="card">${req.csrfField}
<label for="invite-email">Work email</label><input id="invite-email" name="email" type="email" required autocomplete="off">
<label for="invite-name">Name (optional)</label><input id="invite-name" name="displayName" type="text" maxlength="200">
${
  assignable.size
    ? `<fieldset><legend>Roles (optional)</legend>${ROLES.filter((r) => assignable.has(r))
        .map((r) => `<label><input type="checkbox" name="roles" value="${r}"> ${escapeHtml(ROLE_TEXT[r])}</label>`)
        .join('')}</fieldset>`
    : ''
}
<button type="submit">Invite</button></form>`
    : '';
  req.render(
    'Users',
    `${extra.shown ?? ''}<form method="get" action="${escapeHtml(req.url('users'))}" role="search"><label for="q">Search users</label><input id="q" name="q" type="search" value="${escapeHtml(q)}" data-filter="tr.user-row"> <button type="submit" class="secondary">Search</button></form>
<p class="muted">${shown.length} of ${users.length} user${users.length === 1 ? '' : 's'}</p>
<table class="stack"><thead><tr><th>User</th><th>Roles</th><th>Status</th><th>Last sign-in</th><th>Actions</th></tr></thead><tbody>
${shown.map((u) => userRow(req, u, assignable, mayWrite)).join('\n')}</tbody></table>${invite}`,
    extra,
  );
}

const linkCard = (heading: string, who: string, link: { url: string; expiresAt: string }) =>
  `<div class="card" id="password-link"><h2>${escapeHtml(heading)}</h2><p>Send this one-time link to ${escapeHtml(who)}; it sets their password and expires at ${escapeHtml(link.expiresAt)}. It is shown only now.</p><p><a class="mono" href="${escapeHtml(link.url)}">${escapeHtml(link.url)}</a></p></div>`;

export const usersPage = portalPage({
  path: 'users',
  nav: { label: 'Users', order: 10 },
  roles: ['organization-admin', 'admin', 'user-manager', 'auditor'],
  async get(req) {
    await list(req);
  },
  async post(req) {
    try {
      await change(req);
    } catch (error) {
      // A refusal or a bad address is shown on the list itself, with the status the admin API answers.
      if (!(error instanceof Problem)) throw error;
      await list(req, { status: error.status, error: error.message });
    }
  },
});

async function change(req: PortalRequest): Promise<void> {
  const { ctx, principal, services, form, rest } = req;
  const { namespace, organization } = principal;
  if (rest.length === 0) {
    const roles = form.getAll('roles');
    const displayName = form.get('displayName')?.trim();
    const invited = await services.governance.invite(ctx, namespace, organization, { email: (form.get('email') ?? '').trim(), ...(displayName ? { displayName } : {}), ...(roles.length ? { roles } : {}) });
    ctx.set('Cache-Control', 'no-store');
    return list(req, { status: 201, notice: `${invited.user.email} is invited.`, shown: linkCard('Password link', invited.user.email, invited.passwordLink) });
  }
  const [user, operation] = rest as [string, string | undefined];
  if (!user || !operation || rest.length !== 2) return req.render('Not found', '<p>There is no such action.</p>', { status: 404 });
  if (operation === 'roles') {
    await services.governance.setRoles(ctx, namespace, organization, user, { roles: form.getAll('roles') });
    return req.redirect('users', 'roles');
  }
  if (operation === 'erase') return erase(req, user);
  const done = await services.governance.operate(ctx, namespace, organization, user, operation);
  if ('link' in done) return list(req, { notice: 'A new password link is made.', shown: linkCard('Password link', user, done.link!) });
  req.redirect('users', ({ deactivate: 'deactivated', reactivate: 'reactivated', 'reset-mfa': 'mfa-reset' } as Record<string, string>)[operation]);
}

/**
 * Removing a user erases their personal data for good, so the first POST only asks again
 * (a page, not a script dialog: it holds without JavaScript); the erasure is the admin API's,
 * guardrails included, and a refusal shows on the list like any other.
 */
async function erase(req: PortalRequest, user: string): Promise<void> {
  const { ctx, principal, services, form } = req;
  if (form.get('confirm') !== 'erase') {
    const shown = (await services.governance.listUsers(ctx, principal.namespace, principal.organization)).find((u) => u.id === user);
    if (!shown) return req.render('Not found', '<p>There is no such user.</p>', { status: 404 });
    return req.render(
      'Remove and erase a user',
      `<div class="card" id="confirm-erase"><p>Remove <strong>${escapeHtml(shown.email)}</strong> and erase their personal data? Their sessions and tokens end; the activity log keeps only their id, which nothing maps back to them any more. This cannot be undone.</p>
<form method="post" action="${escapeHtml(req.url(`users/${encodeURIComponent(user)}/erase`))}">${req.csrfField}<input type="hidden" name="confirm" value="erase"><button type="submit" class="danger">Remove and erase</button> <a href="${escapeHtml(req.url('users'))}">Cancel</a></form></div>`,
    );
  }
  await services.governance.erase(ctx, principal.namespace, principal.organization, user);
  req.redirect('users', 'erased');
}
