import { escapeHtml } from '../../oidc/html.ts';
import { portalPage } from '../page.ts';

export const homePage = portalPage({
  path: '',
  nav: { label: 'Overview', order: 0 },
  async get(req) {
    const org = req.organization;
    const links = [
      ['users', 'Users', 'Invite people, deactivate accounts, reset two-step verification, change roles.'],
      ['applications', 'Applications', 'The applications your organization may use, and what each may do.'],
      ['audit', 'Activity', 'Sign-ins and changes in your organization; export them.'],
      ['contract', 'Contract', 'Your contract and its certification.'],
      ['sso', 'Sign-in setup', 'How your people sign in.'],
    ];
    req.render(
      org.spec.displayName ?? org.metadata.name,
      `<p>Signed in as <strong>${escapeHtml(req.principal.subject)}</strong> (${escapeHtml(req.principal.roles.join(', '))}).</p>
<ul>${links.map(([path, label, text]) => `<li><a href="${escapeHtml(req.url(path))}">${escapeHtml(label)}</a> — ${escapeHtml(text)}</li>`).join('')}</ul>`,
    );
  },
});
