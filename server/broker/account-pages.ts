import type { Context } from 'koa';
import { ACCOUNT_PAGES, accountSession, isAccountPage, sendToSignIn } from '../oidc/account.ts';
import { escapeHtml } from '../oidc/html.ts';
import { brandingOf, usesDirectory } from '../oidc/snapshot.ts';
import type { BrokerIssuer, BrokerOptions } from './broker.ts';
import { render } from './pages.ts';

/**
 * `{issuer}/account`: the home of the issuer's account pages, for whoever its session cookie
 * names (every user, not only administrators, who have the portal). It says who is signed in,
 * and links to the passkey page, the password page (directory users: theirs is the only
 * password Gatehouse holds) and sign-out. Without a session it sends the browser through the
 * issuer's sign-in (the account client, server/oidc/account.ts), which comes back here with
 * the page to return to in `state`.
 */
export async function accountHome(ctx: Context, issuer: BrokerIssuer, options: BrokerOptions): Promise<void> {
  const { provider, snapshot } = issuer;
  ctx.set('Cache-Control', 'no-store');
  const state = ctx.query.state;
  const back = isAccountPage(state);
  const signedIn = await accountSession(ctx, provider, snapshot, options.store, { now: options.clock.now(), admitUser: issuer.admitUser });
  if (!signedIn) {
    // Back from a sign-in that did not end in a session (refused, cancelled): say so, never loop.
    if (back || ctx.query.error !== undefined) {
      const code = typeof ctx.query.error === 'string' && /^[a-z_]{1,40}$/.test(ctx.query.error) ? ` (${ctx.query.error})` : '';
      render(ctx, 401, brandingOf(snapshot), 'Your account', `<p class="error" role="alert">You are not signed in here${code}.</p><p><a class="button" id="sign-in" href="${escapeHtml(`${snapshot.path}${ACCOUNT_PAGES.account}`)}">Sign in</a></p>`);
      return;
    }
    sendToSignIn(ctx, provider, 'account');
    return;
  }
  if (back && state !== 'account') {
    ctx.status = 303;
    ctx.redirect(`${snapshot.path}${ACCOUNT_PAGES[state]}`);
    return;
  }
  const { user } = signedIn;
  const organization = user.organization ? snapshot.organizations.get(user.organization) : undefined;
  const links = [`<li><a id="passkeys" href="${escapeHtml(`${snapshot.path}${ACCOUNT_PAGES.passkeys}`)}">Your passkeys</a></li>`];
  if (user.connection === 'directory' && usesDirectory(snapshot, user.organization)) links.push(`<li><a id="password" href="${escapeHtml(`${snapshot.path}${ACCOUNT_PAGES.password}`)}">Change your password</a></li>`);
  // Administrators also have the portal of this issuer's organization (or the workspace's, at the shared issuer).
  if (user.roles.length > 0 && (snapshot.organization || !user.organization)) links.push(`<li><a id="portal" href="${escapeHtml(`${issuer.url.replace(/\/+$/, '')}/portal`)}">The partner portal</a></li>`);
  const name = user.profile.name ? `${escapeHtml(user.profile.name)} (${escapeHtml(user.email)})` : escapeHtml(user.email);
  render(
    ctx,
    200,
    brandingOf(snapshot, user.organization || undefined),
    'Your account',
    `<p id="signed-in-as">Signed in as <strong>${name}</strong>${organization ? ` of ${escapeHtml(organization.spec.displayName ?? organization.metadata.name)}` : ''}.</p>
<ul id="account-links">${links.join('')}</ul>
<p><a class="button" id="sign-out" href="${escapeHtml(`${snapshot.path}/session/end`)}">Sign out</a></p>`,
  );
}
