import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import { endUserTokens } from '../governance/token-ends.ts';
import { enqueueForUser, iso } from '../notifications/outbox.ts';
import type { Store } from '../store/index.ts';
import { MIN_PASSWORD_LENGTH, hashPassword } from '../users/passwords.ts';
import { ACCOUNT_PAGES, accountSession, formToken, formTokenMatches, homeLink, sendToSignIn, signedInRecently } from './account.ts';
import { readForm } from './forms.ts';
import type { UserAdmission } from './admission.ts';
import { escapeHtml, page } from './html.ts';
import { brandingOf, usesDirectory, type IssuerSnapshot } from './snapshot.ts';

export interface AccountPasswordContext {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  /** At the shared issuer: the user's organization's networks and rate. */
  admitUser?: UserAdmission | undefined;
}

/**
 * `{issuer}/account/password` without a link's token: the signed-in directory user changes
 * the password (nobody signed in: through the issuer's sign-in and back; signed in more than ten
 * minutes ago: through it again, RECENT_SIGN_IN_SECONDS). The form carries a
 * token derived from the session's id. A changed password ends every session, grant and
 * refresh token of the user, this browser's too, and the user is told by message, as a reset does.
 */
export async function accountPassword(ctx: Context, provider: Provider, snapshot: IssuerSnapshot, deps: AccountPasswordContext): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  const signedIn = await accountSession(ctx, provider, snapshot, deps.store, { now: deps.clock.now(), admitUser: deps.admitUser });
  if (!signedIn) return sendToSignIn(ctx, provider, 'password');
  const { user } = signedIn;
  const branding = brandingOf(snapshot, user.organization || undefined);
  const answer = (status: number, heading: string, body: string) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = page(branding, heading, `${body}${homeLink(snapshot.path)}`);
  };
  // Only a directory user's password is Gatehouse's: a federated user's is the partner IdP's.
  if (user.connection !== 'directory' || !usesDirectory(snapshot, user.organization)) {
    answer(403, 'Your password', '<p class="error">Your password is your organization\'s: change it at your organization\'s own identity provider.</p>');
    return;
  }
  // A change needs a recent sign-in: a session left open elsewhere changes nothing. The page is
  // only for the change, so even showing it sends the user through the sign-in again.
  if (!signedInRecently(signedIn, deps.clock.now())) {
    if (ctx.method === 'POST') await deps.audit.append({ action: 'user.password-refused', actor: user.id, namespace: snapshot.namespace, organization: user.organization || null, subject: user.id, outcome: 'refused', data: { reason: 'sign-in-not-recent' } });
    return sendToSignIn(ctx, provider, 'password', { fresh: true });
  }
  const self = `${snapshot.path}${ACCOUNT_PAGES.password}`;
  const form = (error?: string) =>
    answer(
      error ? 400 : 200,
      'Change your password',
      `${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}<p>Signed in as ${escapeHtml(user.email)}.</p><form method="post" action="${escapeHtml(self)}"><input type="hidden" name="csrf" value="${formToken('password', signedIn)}">
<label for="password">New password (at least ${MIN_PASSWORD_LENGTH} characters)</label><input id="password" name="password" type="password" minlength="${MIN_PASSWORD_LENGTH}" autocomplete="new-password" required>
<button type="submit">Change password</button></form><p>Every session of yours ends with the change, this one too: you sign in again with the new password.</p>`,
    );
  if (ctx.method !== 'POST') return form();
  const posted = await readForm(ctx);
  if (!formTokenMatches('password', signedIn, posted.get('csrf'))) {
    await deps.audit.append({ action: 'user.password-refused', actor: user.id, namespace: snapshot.namespace, organization: user.organization || null, subject: user.id, outcome: 'refused', data: { reason: 'cross-site-form', origin: ctx.get('Origin') || null } });
    answer(403, 'Change your password', '<p class="error" role="alert">This change did not come from this page. Try again.</p>');
    return;
  }
  const password = posted.get('password') ?? '';
  if (password.length < MIN_PASSWORD_LENGTH) return form(`The password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
  const hash = await hashPassword(password);
  const now = deps.clock.now();
  await deps.store.transaction(async (repo) => {
    await repo.users.setPassword(user.namespace, user.id, hash, now);
    const ended = await endUserTokens(repo, user.namespace, [user]);
    await enqueueForUser(repo, user, 'password-changed', { changedAt: iso(now) }, now);
    await repo.audit.append({ action: 'user.password-set', actor: user.id, namespace: user.namespace, organization: user.organization || null, subject: user.id, data: { via: 'account page', replaced: user.passwordHash !== null, revoked: ended } }, now);
  });
  answer(200, 'Password changed', '<p id="notice" role="status">Your password is changed. Every session of yours has ended, this one too: sign in again with your new password.</p>');
}
