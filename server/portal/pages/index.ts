/**
 * The portal's pages, in one list. How to add a page:
 *
 *   1. Write a module under server/portal/pages/ exporting
 *        export const myPage = portalPage({
 *          path: 'my-page',                          // served at …/portal/my-page[/…]
 *          nav: { label: 'My page', order: 60 },     // in the navigation (omit: link only)
 *          roles: ['organization-admin', 'admin'],   // who may open it (omit: every portal role)
 *          async get(req) { req.render('My page', `<p>${escapeHtml(req.organization.spec.displayName)}</p>`); },
 *          async post(req) { … req.form.get('field') …; req.redirect('my-page', 'notice-key'); },
 *        });
 *      `portalPage` and the types (`PortalRequest`, `PortalPrincipal`) are in ../page.ts.
 *   2. Add it to PORTAL_PAGES below.
 *
 * What a page gets for free: the principal (`req.principal`: namespace, organization,
 * subject, roles) is a signed-in user of this organization with an administrator role,
 * resolved again on every request exactly as the admin API resolves its token (and set as
 * `ctx.state.principal`, so `req.services.guard.require(ctx, permission, target)` and the
 * governance service hold the admin API's guardrails); a POST reaches `post` only with the
 * session's CSRF token (every form must include `req.csrfField`); the branded layout, the
 * security headers (CSP: no inline script or style — put behaviour in layout.ts's PORTAL_JS
 * and styles in PORTAL_CSS) and navigation are added by `req.render`. Escape everything
 * interpolated with `escapeHtml` (server/oidc/html.ts). A `Problem` thrown by a service
 * becomes a branded error page with its status.
 */
import type { PortalPage } from '../page.ts';
import { accessRequestsPage } from './access-requests.ts';
import { accountPage } from './account.ts';
import { applicationsPage } from './applications.ts';
import { auditPage } from './audit.ts';
import { contractPage } from './contract.ts';
import { homePage } from './home.ts';
import { riskPage } from './risk.ts';
import { signInSetupPage } from './sign-in-setup.ts';
import { usersPage } from './users.ts';

export const PORTAL_PAGES: readonly PortalPage[] = [homePage, usersPage, accessRequestsPage, applicationsPage, auditPage, riskPage, contractPage, signInSetupPage, accountPage];
