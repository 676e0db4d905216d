import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import { enqueueForUser, pseudonym } from '../notifications/outbox.ts';
import { clientAddress } from '../oidc/admission.ts';
import { readForm } from '../oidc/forms.ts';
import { escapeHtml, page } from '../oidc/html.ts';
import { brandingOf, usesDirectory, type IssuerSnapshot } from '../oidc/snapshot.ts';
import type { Store } from '../store/index.ts';
import type { BlockList } from 'node:net';

/** A reset link works once, for fifteen minutes. */
export const RESET_LINK_MS = 15 * 60 * 1000;
export const RESET_PURPOSE = 'reset-password';

/** A counter of requests in a window (LoginLimiter). */
export interface Limiter {
  blocked(key: string): boolean;
  fail(key: string): void;
}

export interface RecoveryContext {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  /** Requests per email address (3 in 15 minutes) and per client address (20 in 15 minutes); counted whether or not the account exists. */
  perAddress: Limiter;
  perClient: Limiter;
  trustedProxies?: BlockList | undefined;
  /** Keys the address in the audit of a request for an unknown account. */
  pseudonymKey: string;
}

const ANSWER = 'If an account with a password exists for this address, we have sent it a link to choose a new password. The link works once, for 15 minutes.';

function forgotForm(snapshot: IssuerSnapshot, email: string, notice?: string, error?: string): string {
  return page(
    brandingOf(snapshot),
    'Forgot your password?',
    `${notice ? `<p id="notice">${escapeHtml(notice)}</p>` : ''}${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(`${snapshot.path}/password/forgot`)}">
<label for="email">Your email address</label><input id="email" name="email" type="email" required autocomplete="username" value="${escapeHtml(email)}" autofocus>
<button type="submit">Send me a link</button></form>`,
  );
}

/**
 * `GET|POST {issuer}/password/forgot`: self-service password reset for directory users. The
 * answer (page and status) is the same whether or not the address has an account, and so is
 * the work: a token is made and hashed and one transaction runs either way; the email goes out
 * through the outbox, after the answer. The link is stored hashed, works once, for 15 minutes.
 */
export async function forgotPassword(ctx: Context, provider: Provider, snapshot: IssuerSnapshot, deps: RecoveryContext): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'html';
  // An organization whose users sign in at their own IdP has no passwords here to reset.
  if (snapshot.organization && !usesDirectory(snapshot, snapshot.organization)) {
    ctx.status = 404;
    ctx.body = page(brandingOf(snapshot), 'Not available', `<p class="error">${escapeHtml(snapshot.chain[0]?.spec.displayName ?? 'This organization')} signs in with its own identity provider: reset your password there.</p>`);
    return;
  }
  if (ctx.method !== 'POST') {
    ctx.body = forgotForm(snapshot, '');
    return;
  }
  const email = ((await readForm(ctx)).get('email') ?? '').trim().toLowerCase().slice(0, 320);
  const client = clientAddress(ctx.req, deps.trustedProxies);
  const addressKey = `${snapshot.namespace}/${email}`;
  if (deps.perAddress.blocked(addressKey) || deps.perClient.blocked(client)) {
    ctx.status = 429;
    ctx.set('Retry-After', '900');
    ctx.body = forgotForm(snapshot, email, undefined, 'Too many requests. Try again in 15 minutes.');
    await deps.audit.append({ action: 'user.password-reset-requested', actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null, outcome: 'refused', data: { reason: 'rate-limited', address: pseudonym(deps.pseudonymKey, email) } });
    return;
  }
  deps.perAddress.fail(addressKey);
  deps.perClient.fail(client);
  const now = deps.clock.now();
  const token = randomBytes(32).toString('base64url');
  const tokenHash = createHash('sha256').update(token).digest('hex');
  const link = `${provider.issuer.replace(/\/+$/, '')}/account/password?token=${token}`;
  await deps.store.transaction(async (repo) => {
    const candidates = email.includes('@') ? (await repo.users.findByEmail(snapshot.namespace, email, snapshot.organization)).filter((u) => u.connection === 'directory') : [];
    const user = candidates.length === 1 ? candidates[0] : undefined;
    const target = user?.active && usesDirectory(snapshot, user.organization) ? user : undefined;
    // The same statements either way (the retirement matches nothing for an unknown account).
    await repo.users.retireLinks(snapshot.namespace, target ? target.id : `unknown:${tokenHash}`, RESET_PURPOSE, now);
    if (target) {
      await repo.users.putLink(tokenHash, snapshot.namespace, target.id, RESET_PURPOSE, now + RESET_LINK_MS);
      await enqueueForUser(repo, target, 'password-reset', { link, expiresInMinutes: String(RESET_LINK_MS / 60_000) }, now);
    }
    await repo.audit.append(
      {
        action: 'user.password-reset-requested',
        actor: target ? target.id : 'anonymous',
        namespace: snapshot.namespace,
        organization: target ? target.organization || null : (snapshot.organization ?? null),
        ...(target ? { subject: target.id } : {}),
        outcome: target ? 'success' : 'refused',
        data: target ? { expiresAt: new Date(now + RESET_LINK_MS).toISOString() } : { reason: user ? 'not-eligible' : 'unknown-address', address: pseudonym(deps.pseudonymKey, email) },
      },
      now,
    );
  });
  ctx.status = 200;
  ctx.body = forgotForm(snapshot, '', ANSWER);
}
