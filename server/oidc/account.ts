import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { ClientMetadata, Provider } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { escapeHtml } from './html.ts';
import type { IssuerSnapshot } from './snapshot.ts';
import type { UserAdmission } from './admission.ts';
import { standingOf } from './standing.ts';
import { organizationChain } from '../../api/index.ts';

/**
 * The issuer's own client behind the account pages (`{issuer}/account`, `/account/passkeys`,
 * `/account/password`). It asks for nothing (`response_type=none`): an authorization through
 * it only opens, or renews, the issuer's session, which the pages then read. No declared
 * client can have this id (theirs are `name.namespace`).
 */
export const ACCOUNT_CLIENT_ID = 'gatehouse-account';

/** How recent a sign-in must be for a change on the account pages (a passkey added or removed, a password changed). */
export const RECENT_SIGN_IN_SECONDS = 10 * 60;

/** The account pages an authorization can come back to: the `state` it carries. */
export const ACCOUNT_PAGES = { account: '/account', passkeys: '/account/passkeys', password: '/account/password' } as const;
export type AccountPage = keyof typeof ACCOUNT_PAGES;

export const isAccountPage = (s: unknown): s is AccountPage => typeof s === 'string' && Object.hasOwn(ACCOUNT_PAGES, s);

/** The account client's registration at an issuer: its one redirect URI is `{issuer}/account`. */
export function accountClient(issuer: string): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'Your account',
    scope: 'openid',
    response_types: ['none'],
    grant_types: [],
    redirect_uris: [`${issuer.replace(/\/+$/, '')}${ACCOUNT_PAGES.account}`],
    token_endpoint_auth_method: 'none',
  };
}

/** The signed-in user of the issuer's session, when there is one and the user may still be here. */
export interface AccountSession {
  user: UserRecord;
  /** The session's id (`jti`): each page's form token is derived from it. */
  id: string;
  /** When the user signed in, in seconds (loginTs: stamped from the server's clock). */
  loginTs: number | undefined;
}

/** What the account pages judge a session by beyond the user: the time, and at the shared issuer the user's organization's networks and rate. */
export interface AccountChecks {
  now: number;
  admitUser?: UserAdmission | undefined;
}

/**
 * The user the issuer's session cookie names: active, and at an organization's issuer one of
 * its users. At the shared issuer the user's own organization must still stand and admit the
 * request (its networks and rate), as at its own issuer, whose gates do that for every page:
 * otherwise the pages serve nobody, and the sign-in they send the browser through refuses.
 */
export async function accountSession(ctx: Context, provider: Provider, snapshot: IssuerSnapshot, store: Store, checks: AccountChecks): Promise<AccountSession | undefined> {
  const session = await provider.Session.get(ctx);
  const user = session.accountId ? await store.users.find(snapshot.namespace, session.accountId) : undefined;
  if (!user?.active || (snapshot.organization && user.organization !== snapshot.organization)) return undefined;
  if (!snapshot.organization && user.organization) {
    if (!standingOf(organizationChain(snapshot.organizations, user.organization), checks.now, snapshot.workspace?.spec.lifecycle).active) return undefined;
    if (await checks.admitUser?.(user.organization, ctx.req, ctx.path)) return undefined;
  }
  return { user, id: session.jti, loginTs: session.loginTs };
}

/**
 * A sign-in's time as a login result's `ts` (oidc-provider's session `loginTs`, seconds): from
 * the server's clock, which the session lifetime and these pages judge it by (oidc-provider
 * would stamp the system's).
 */
export function loginTs(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

/** Whether the session's sign-in is recent enough for a change (RECENT_SIGN_IN_SECONDS). */
export function signedInRecently(session: AccountSession, now: number): boolean {
  return session.loginTs !== undefined && Math.floor(now / 1000) - session.loginTs <= RECENT_SIGN_IN_SECONDS;
}

/**
 * Where the browser goes through the issuer's sign-in and back to `page`: an authorization
 * through the account client. `fresh`: the user signs in again even with a live session
 * (prompt=login), from the email-first page, where a passkey is offered too.
 */
export function signInUrl(provider: Provider, page: AccountPage, options: { fresh?: boolean } = {}): string {
  const issuer = provider.issuer.replace(/\/+$/, '');
  const params = new URLSearchParams({ client_id: ACCOUNT_CLIENT_ID, response_type: 'none', scope: 'openid', redirect_uri: `${issuer}${ACCOUNT_PAGES.account}`, state: page });
  if (options.fresh) params.set('prompt', 'login');
  return `${issuer}/auth?${params}`;
}

/** Sends the browser through the issuer's sign-in and back to `page` (signInUrl). */
export function sendToSignIn(ctx: Context, provider: Provider, page: AccountPage, options: { fresh?: boolean } = {}): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(signInUrl(provider, page, options));
}

/** A form token of an account page: derived from the session's id, which no other site can read. */
export function formToken(page: AccountPage, session: AccountSession): string {
  return createHash('sha256').update(`${page} ${session.id}`).digest('base64url');
}

/** Whether a posted form token is the page's, compared in constant time. */
export function formTokenMatches(page: AccountPage, session: AccountSession, presented: string | null | undefined): boolean {
  const expected = Buffer.from(formToken(page, session));
  const given = Buffer.from(presented ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The link back to the account's home, for the pages below it (`path`: the issuer's path). */
export function homeLink(path: string): string {
  return `<p><a id="account-home" href="${escapeHtml(`${path}${ACCOUNT_PAGES.account}`)}">Your account</a></p>`;
}
