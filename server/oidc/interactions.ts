import { createHash } from 'node:crypto';
import type { BlockList } from 'node:net';
import { signalsOf } from '../risk/signals.ts';
import { organizationChain } from '../../api/index.ts';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { MIN_PASSWORD_LENGTH, hashPassword, verifyPassword } from '../users/passwords.ts';
import { readForm } from './forms.ts';
import { escapeHtml, page } from './html.ts';
import { brandingOf, usesDirectory, type IssuerSnapshot } from './snapshot.ts';
import { ACR } from './acr.ts';
import { standingOf } from './standing.ts';
import type { UserAdmission } from './admission.ts';
import { emailDomain, ownerOf } from '../governance/domains.ts';
import { accessRequestPage } from './access-request-page.ts';
import { RESET_PURPOSE, forgotPassword, type RecoveryContext } from '../users/recovery.ts';
import { endUserTokens } from '../governance/token-ends.ts';
import { enqueueForUser, iso } from '../notifications/outbox.ts';
import { accountPassword } from './account-password.ts';
import { homeLink, loginTs } from './account.ts';

export interface InteractionContext {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  limiter: LoginLimiter;
  /** PUBLIC_URL: where a workspace user's portal is (the access-request message to a workspace approver links there). */
  publicUrl: () => string;
  /** Proxies whose X-Forwarded-For is believed when recording where a sign-in came from. */
  trustedProxies?: BlockList | undefined;
  /** At the shared issuer: the user's organization's networks and rate (server/oidc/admission.ts). */
  admitUser?: UserAdmission;
  /** The browser's device digest at this issuer (server/risk/device.ts), for the sign-in's signals. */
  device?: (ctx: Context) => string | undefined;
  /** Finishes a successful sign-in (the broker's MFA step-up); without it, the login is finished here. */
  complete?: (ctx: Context, user: UserRecord, login: { amr: string[]; acr: string }) => Promise<void>;
  /** After a password is set (an invitation accepted): the form that adds a passkey too, or '' (the broker's). */
  passkeyOffer?: (ctx: Context, namespace: string, userId: string) => Promise<string>;
  /** Self-service password reset (`/password/forgot`); without it the page is not offered. */
  recovery?: Omit<RecoveryContext, 'store' | 'clock' | 'audit' | 'trustedProxies'>;
}

/** Slows down password guessing: after `max` failures for one address in `windowMs`, further attempts are refused until the window passes. */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly clock: Clock;

  constructor(clock: Clock, max = 5, windowMs = 15 * 60 * 1000) {
    this.clock = clock;
    this.max = max;
    this.windowMs = windowMs;
  }

  private recent(key: string): number[] {
    const now = this.clock.now();
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    this.failures.set(key, list);
    return list;
  }

  blocked(key: string): boolean {
    return this.recent(key).length >= this.max;
  }

  fail(key: string): void {
    this.recent(key).push(this.clock.now());
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}

/** The password page; `organization`: the one the address routed to at the shared issuer, whose branding it wears. */
export function loginForm(snapshot: IssuerSnapshot, uid: string, email: string, error?: string, organization?: string): string {
  return page(
    brandingOf(snapshot, organization),
    'Sign in',
    `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(`${snapshot.path}/interaction/${uid}/login`)}" autocomplete="on">
<label for="email">Email</label><input id="email" name="email" type="email" required value="${escapeHtml(email)}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>
<p><a id="forgot-password" href="${escapeHtml(`${snapshot.path}/password/forgot`)}">Forgot password?</a></p>`,
  );
}

/**
 * The pages of an issuer that oidc-provider leaves to us: the sign-in form of directory
 * users and the one-time link that sets a password. Returns false when the path is not one of them.
 */
export async function handleInteraction(ctx: Context, rest: string, provider: Provider, snapshot: IssuerSnapshot, deps: InteractionContext): Promise<boolean> {
  const login = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(rest);
  if (login) {
    const [, uid, isPost] = login;
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
    if (details.prompt.name === 'approval') {
      if (isPost) ctx.throw(404, 'not found');
      await accessRequestPage(ctx, provider, snapshot, details, deps);
      return true;
    }
    if (details.prompt.name !== 'login') {
      // Declared clients need no consent: the grant is created by loadExistingGrant.
      await provider.interactionFinished(ctx.req, ctx.res, { consent: {} }, { mergeWithLastSubmission: true });
      ctx.respond = false;
      return true;
    }
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
    if (!isPost || ctx.method !== 'POST') {
      ctx.type = 'html';
      ctx.body = loginForm(snapshot, uid!, hint);
      return true;
    }
    const form = await readForm(ctx);
    const email = (form.get('email') ?? '').trim().toLowerCase();
    const password = form.get('password') ?? '';
    const key = `${snapshot.namespace}/${email}`;
    const clientId = String(details.params.client_id ?? '');
    const refuse = async (message: string, reason: string, organization: string | null) => {
      await deps.audit.append({ action: 'login.failed', actor: email || 'anonymous', namespace: snapshot.namespace, organization, client: clientId, outcome: 'failure', data: { reason, connection: 'directory', signals: signalsOf(ctx.req, deps.trustedProxies) } });
      ctx.status = 401;
      ctx.type = 'html';
      // At the shared issuer the form came branded for the organization owning the address's
      // domain (the broker's routing): the answer keeps that branding, and tells no more than the address does.
      const owner = snapshot.organization ? undefined : ownerOf(snapshot.organizations, snapshot.templates, emailDomain(email) ?? '');
      ctx.body = loginForm(snapshot, uid!, email, message, owner?.metadata.name);
    };
    if (deps.limiter.blocked(key)) {
      await refuse('Too many failed attempts. Try again later.', 'rate-limited', snapshot.organization ?? null);
      return true;
    }
    const candidates = (await deps.store.users.findByEmail(snapshot.namespace, email, snapshot.organization)).filter((u) => u.connection === 'directory');
    const user = candidates.length === 1 ? candidates[0] : undefined;
    // At the shared issuer, before the password is tried: the organization owning the address's
    // domain (what anyone can tell from the address) and the account's own organization decide
    // whether this network may sign in, as their own issuers would.
    if (deps.admitUser) {
      const domainOwner = ownerOf(snapshot.organizations, snapshot.templates, emailDomain(email) ?? '')?.metadata.name;
      for (const organization of new Set([domainOwner, user?.organization].filter((o): o is string => Boolean(o)))) {
        const refused = await deps.admitUser(organization, ctx.req, rest);
        if (refused) {
          if (refused.retryAfterSeconds) ctx.set('Retry-After', String(refused.retryAfterSeconds));
          ctx.status = refused.status;
          ctx.type = 'html';
          ctx.body = page(brandingOf(snapshot, organization), refused.heading, `<p class="error">${escapeHtml(refused.detail)}.</p>`);
          return true;
        }
      }
    }
    const ok = await verifyPassword(password, user?.passwordHash);
    if (!user || !ok) {
      deps.limiter.fail(key);
      await refuse('The email or password is not correct.', user ? 'wrong-password' : 'unknown-user', user?.organization ?? snapshot.organization ?? null);
      return true;
    }
    if (!usesDirectory(snapshot, user.organization)) {
      await refuse("Sign in with your organization's own identity provider.", 'no-directory-connection', user.organization);
      return true;
    }
    if (!user.active) {
      await refuse('This account is deactivated.', 'deactivated', user.organization);
      return true;
    }
    // At the shared issuer, the user's own organization must still stand.
    const standing = !snapshot.organization && user.organization ? standingOf(organizationChain(snapshot.organizations, user.organization), deps.clock.now(), snapshot.workspace?.spec.lifecycle) : undefined;
    if (standing && !standing.active) {
      await refuse(`Access has ended: ${standing.detail}.`, standing.reason, user.organization);
      return true;
    }
    deps.limiter.succeed(key);
    const now = deps.clock.now();
    await deps.store.users.touchLogin(snapshot.namespace, user.id, now);
    await deps.audit.append({ action: 'login.succeeded', actor: user.id, namespace: snapshot.namespace, organization: user.organization, client: clientId, subject: user.id, data: { connection: 'directory', amr: ['pwd'], signals: signalsOf(ctx.req, deps.trustedProxies, deps.device?.(ctx)) } });
    if (deps.complete) {
      await deps.complete(ctx, user, { amr: ['pwd'], acr: ACR.password });
      return true;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr: ['pwd'], acr: ACR.password, ts: loginTs(deps.clock) } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
    return true;
  }

  if (rest === '/password/forgot' && deps.recovery) {
    await forgotPassword(ctx, provider, snapshot, { store: deps.store, clock: deps.clock, audit: deps.audit, trustedProxies: deps.trustedProxies, ...deps.recovery });
    return true;
  }

  if (rest === '/account/password') {
    ctx.set('Cache-Control', 'no-store');
    // No link's token: the signed-in user's own change (account-password.ts).
    if (ctx.query.token === undefined) {
      await accountPassword(ctx, provider, snapshot, deps);
      return true;
    }
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const tokenHash = createHash('sha256').update(token).digest('hex');
    const branding = brandingOf(snapshot);
    const form = (error?: string) =>
      page(
        branding,
        'Set your password',
        `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}<form method="post" action="?token=${escapeHtml(encodeURIComponent(token))}">
<label for="password">New password (at least ${MIN_PASSWORD_LENGTH} characters)</label><input id="password" name="password" type="password" minlength="${MIN_PASSWORD_LENGTH}" required>
<button type="submit">Set password</button></form>`,
      );
    ctx.type = 'html';
    // An invitation's (or an administrator's) link, or a self-service reset's.
    const purpose = (await deps.store.users.peekLink(tokenHash, RESET_PURPOSE, deps.clock.now())) ? RESET_PURPOSE : 'set-password';
    const link = await deps.store.users.peekLink(tokenHash, purpose, deps.clock.now());
    if (!link || link.namespace !== snapshot.namespace) {
      ctx.status = 410;
      ctx.body = page(branding, 'Link expired', '<p class="error">This link is invalid, expired or already used. Ask your administrator for a new one.</p>');
      return true;
    }
    if (ctx.method !== 'POST') {
      ctx.body = form();
      return true;
    }
    const password = (await readForm(ctx)).get('password') ?? '';
    if (password.length < MIN_PASSWORD_LENGTH) {
      ctx.status = 400;
      ctx.body = form(`The password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
      return true;
    }
    const hash = await hashPassword(password);
    const now = deps.clock.now();
    const used = await deps.store.transaction(async (repo) => {
      const claimed = await repo.users.useLink(tokenHash, purpose, now);
      if (!claimed) return undefined;
      const before = await repo.users.find(claimed.namespace, claimed.userId);
      await repo.users.setPassword(claimed.namespace, claimed.userId, hash, now);
      const user = await repo.users.find(claimed.namespace, claimed.userId);
      // A password replaced (not a first one): every session, grant and refresh token of the user ends, and the user is told.
      const replaced = before?.passwordHash !== null && before?.passwordHash !== undefined;
      const revoked = replaced && user ? await endUserTokens(repo, claimed.namespace, [user]) : 0;
      if (replaced && user) await enqueueForUser(repo, user, 'password-changed', { changedAt: iso(now) }, now);
      await repo.audit.append({ action: 'user.password-set', actor: claimed.userId, namespace: claimed.namespace, organization: user?.organization ?? null, subject: claimed.userId, data: { via: purpose === RESET_PURPOSE ? 'self-service reset link' : 'one-time link', ...(replaced ? { replaced, revoked } : {}) } }, now);
      return { ...claimed, administrator: (user?.roles.length ?? 0) > 0 };
    });
    ctx.status = used ? 200 : 410;
    // Relative, so it holds on the canonical path and on a vanity host alike: …/account/password → …/portal/.
    const next = used?.administrator ? '<p><a class="button" id="sign-in" href="../portal/">Sign in to the partner portal</a></p>' : '<p>Go back to the application that invited you and sign in there with your email and this password.</p>';
    const passkey = used && deps.passkeyOffer ? await deps.passkeyOffer(ctx, used.namespace, used.userId) : '';
    ctx.body = used ? page(branding, 'Password set', `<p>Your password is set. You can now sign in.</p>${passkey}${next}${homeLink(snapshot.path)}`) : page(branding, 'Link expired', '<p class="error">This link was already used.</p>');
    return true;
  }
  return false;
}
