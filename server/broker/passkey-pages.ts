import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { organizationChain } from '../../api/index.ts';
import type { AuditAction } from '../audit/actions.ts';
import { ACCOUNT_PAGES, RECENT_SIGN_IN_SECONDS, accountSession, formToken, formTokenMatches, homeLink, sendToSignIn, signInUrl, signedInRecently } from '../oidc/account.ts';
import { readForm } from '../oidc/forms.ts';
import { allowOwnScripts, escapeHtml } from '../oidc/html.ts';
import { brandingOf, usesDirectory, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { standingOf } from '../oidc/standing.ts';
import { settingsFor } from '../oidc/step-up.ts';
import { ACCOUNT_NOTICES, accountChange, assetBase, passkeyForm, passkeyList } from '../passkeys/pages.ts';
import { REFUSAL_MESSAGES, parseResponse, relyingPartyOf, type Passkeys, type RelyingParty } from '../passkeys/service.ts';
import { signalsOf } from '../risk/signals.ts';
import type { Broker, BrokerAuditFields, BrokerIssuer, BrokerOptions } from './broker.ts';
import { emailForm, refusal, render } from './pages.ts';

const TICKET_TTL_MS = 10 * 60 * 1000;

/** The relying party of an issuer's passkeys: its host, its origin, its organization's name. */
export function rpOf(issuer: BrokerIssuer, organization?: string): RelyingParty {
  return relyingPartyOf(issuer.url, brandingOf(issuer.snapshot, organization).title);
}

export interface PasskeyPageDeps {
  options: BrokerOptions;
  passkeys: Passkeys;
  audit: (snapshot: IssuerSnapshot, action: AuditAction, fields: BrokerAuditFields) => Promise<void>;
  /** The broker's end of a first factor (risk, then the second factor or back to the client). */
  complete: Broker['complete'];
  /** The browser's device digest at the issuer (Broker.device), for the sign-in's signals. */
  device: Broker['device'];
}

/**
 * The broker's passkey pages beside the sign-in stages: passwordless sign-in from the
 * email-first page, a passkey offered at invitation acceptance, and `{issuer}/account/passkeys`.
 * The second-factor step's passkey is the second-factor step's (second-factor.ts).
 */
export class PasskeyPages {
  private readonly deps: PasskeyPageDeps;

  constructor(deps: PasskeyPageDeps) {
    this.deps = deps;
  }

  // ── passwordless ────────────────────────────────────────────────────

  /** Whether the issuer offers passwordless sign-in: it has directory users, and its policy allows passkeys. */
  private passwordlessOffered(snapshot: IssuerSnapshot): boolean {
    const organization = snapshot.organization ?? '';
    return usesDirectory(snapshot, organization) && settingsFor(snapshot, organization).mfaMethods.value.includes('webauthn');
  }

  /** The email-first page's passkey form (a fresh challenge, no user named), or nothing where passkeys are not offered. */
  async passwordlessForm(ctx: Context, issuer: BrokerIssuer, uid: string, autofill = true): Promise<string> {
    const { snapshot } = issuer;
    if (!this.passwordlessOffered(snapshot)) return '';
    allowOwnScripts(ctx);
    const options = await this.deps.passkeys.authenticationOptions(rpOf(issuer), snapshot.namespace);
    return passkeyForm({ action: `${snapshot.path}/interaction/${uid}/passkey`, mode: 'authenticate', options, autofill, label: 'Sign in with a passkey', assets: assetBase(issuer.url, this.deps.options.publicUrl()) });
  }

  /**
   * A directory user signs in with a discoverable passkey, no password typed: the credential
   * names the user; the authenticator must have verified the user (so the sign-in has two
   * factors); the user's organization must allow passkeys and still stand.
   */
  async passwordless(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<void> {
    const { provider, snapshot } = issuer;
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const clientId = String(details.params.client_id ?? '');
    const action = `${snapshot.path}/interaction/${uid}/login`;
    const fail = async (status: number, reason: string, message: string, who: { organization?: string | null; subject?: string | null } = {}) => {
      await this.deps.audit(snapshot, 'login.failed', {
        organization: who.organization ?? snapshot.organization ?? null,
        client: clientId,
        subject: who.subject ?? null,
        actor: who.subject ?? 'anonymous',
        outcome: 'failure',
        data: { reason, connection: 'directory', method: 'passkey', signals: signalsOf(ctx.req, this.deps.options.trustedProxies, this.deps.device(ctx, snapshot)) },
      });
      // After a refused passkey the page offers the button again, not the autofill: the user chooses to retry.
      render(ctx, status, brandingOf(snapshot, who.organization ?? undefined), 'Sign in', emailForm(action, '', message, await this.passwordlessForm(ctx, issuer, uid, false)));
    };
    if (details.uid !== uid || details.prompt.name !== 'login') return fail(400, 'interaction-mismatch', 'This sign-in does not belong to this browser session. Start again from the application.');
    if (!this.passwordlessOffered(snapshot)) return fail(403, 'method-not-allowed', 'Passkeys are not accepted here.');
    const response = parseResponse((await readForm(ctx, 256 * 1024)).get('response') ?? '', 'authenticate');
    if (!response) return fail(400, 'malformed', REFUSAL_MESSAGES.malformed);
    const used = await this.deps.passkeys.authenticate(rpOf(issuer), snapshot.namespace, response, { organization: snapshot.organization });
    if (!used.ok) return fail(used.reason === 'unknown-challenge' ? 400 : 401, used.reason, REFUSAL_MESSAGES[used.reason]);
    const { passkey } = used.value;
    const who = { organization: passkey.organization || null, subject: passkey.userId };
    const user = await this.deps.options.store.users.find(snapshot.namespace, passkey.userId);
    if (!user || user.organization !== passkey.organization) return fail(401, 'unknown-user', REFUSAL_MESSAGES['unknown-credential'], who);
    if (user.connection !== 'directory' || !usesDirectory(snapshot, user.organization)) return fail(403, 'no-directory-connection', "Sign in with your organization's own identity provider.", who);
    if (!user.active) return fail(403, 'deactivated', 'This account is deactivated.', who);
    if (!settingsFor(snapshot, user.organization).mfaMethods.value.includes('webauthn')) return fail(403, 'method-not-allowed', 'Your organization does not allow passkeys.', who);
    if (!snapshot.organization && user.organization) {
      const standing = standingOf(organizationChain(snapshot.organizations, user.organization), this.deps.options.clock.now(), snapshot.workspace?.spec.lifecycle);
      if (!standing.active) return fail(403, standing.reason, `Access has ended: ${standing.detail}.`, who);
      const refused = await issuer.admitUser?.(user.organization, ctx.req, `/interaction/${uid}/passkey`);
      if (refused) {
        if (refused.retryAfterSeconds) ctx.set('Retry-After', String(refused.retryAfterSeconds));
        refusal(ctx, refused.status, brandingOf(snapshot, user.organization), refused.heading, `${refused.detail}.`);
        return;
      }
    }
    await this.deps.options.store.users.touchLogin(snapshot.namespace, user.id, this.deps.options.clock.now());
    await this.deps.audit(snapshot, 'login.succeeded', {
      organization: user.organization || null,
      client: clientId,
      subject: user.id,
      data: { connection: 'directory', method: 'passkey', credential: passkey.id, amr: used.value.amr, signals: signalsOf(ctx.req, this.deps.options.trustedProxies, this.deps.device(ctx, snapshot)) },
    });
    await this.deps.complete(ctx, issuer, uid, user, { amr: used.value.amr, acr: used.value.acr }, clientId, details.params);
  }

  // ── at invitation acceptance ────────────────────────────────────────

  /**
   * For the password page (interactions.ts): once an invited user has set a password, a form to
   * add a passkey as well, where the organization allows passkeys. The user is not signed in:
   * a ticket (random, stored hashed for ten minutes, taken by the enrolment) stands for the
   * one-time link just used.
   */
  passkeyOffer(issuer: BrokerIssuer): (ctx: Context, namespace: string, userId: string) => Promise<string> {
    return async (ctx, namespace, userId) => {
      const { snapshot } = issuer;
      const user = await this.deps.options.store.users.find(namespace, userId);
      if (!user?.active || user.connection !== 'directory' || (snapshot.organization && user.organization !== snapshot.organization)) return '';
      if (!settingsFor(snapshot, user.organization).mfaMethods.value.includes('webauthn')) return '';
      const ticket = randomBytes(32).toString('base64url');
      await this.deps.options.store.broker.putRequest(ticketKey(ticket), namespace, JSON.stringify({ userId }), this.deps.options.clock.now() + TICKET_TTL_MS);
      allowOwnScripts(ctx);
      const options = await this.deps.passkeys.registrationOptions(rpOf(issuer, user.organization), user);
      return `<h2>Add a passkey</h2><p>Sign in next time with this device or a security key instead of your password.</p>${passkeyForm({ action: `${snapshot.path}/account/passkeys`, mode: 'register', options, label: 'Add a passkey', assets: assetBase(issuer.url, this.deps.options.publicUrl()), nameField: true, hidden: { op: 'register', ticket } })}`;
    };
  }

  /** The enrolment the password page offered: the ticket names the user; it is taken once the passkey is stored. */
  private async enrolWithTicket(ctx: Context, issuer: BrokerIssuer, ticket: string): Promise<void> {
    const { snapshot } = issuer;
    const raw = await this.deps.options.store.broker.peekRequest(ticketKey(ticket), this.deps.options.clock.now());
    const userId = raw ? z.object({ userId: z.string() }).parse(JSON.parse(raw)).userId : undefined;
    const user = userId ? await this.deps.options.store.users.find(snapshot.namespace, userId) : undefined;
    if (!user?.active || (snapshot.organization && user.organization !== snapshot.organization)) {
      render(ctx, 410, brandingOf(snapshot), 'Link expired', '<p class="error">This page expired. Sign in with your password; you can add a passkey at your next sign-in.</p>');
      return;
    }
    const branding = brandingOf(snapshot, user.organization || undefined);
    const form = await readForm(ctx, 256 * 1024);
    const changed = form.get('op') === 'register' ? await accountChange(this.deps.passkeys, rpOf(issuer, user.organization), user, form, settingsFor(snapshot, user.organization).mfaMethods.value.includes('webauthn')) : { status: 400, error: 'Unknown change.' };
    if ('error' in changed) {
      render(ctx, changed.status, branding, 'Passkey not added', `<p class="error" role="alert">${escapeHtml(changed.error)}</p><p>Your password is set: sign in with it, and add a passkey at your next sign-in.</p>`);
      return;
    }
    await this.deps.options.store.broker.takeRequest(ticketKey(ticket), this.deps.options.clock.now());
    render(ctx, 200, branding, 'Passkey added', '<p id="notice">Your passkey is added. Go back to the application that invited you and sign in with it: no password needed.</p>');
  }

  // ── the account page ────────────────────────────────────────────────

  /**
   * `{issuer}/account/passkeys`: the signed-in user's passkeys at this issuer (its session
   * cookie says who; nobody signed in: through the issuer's sign-in and back), to add, rename
   * and remove. Changes need a sign-in in the last ten minutes (else through the sign-in again,
   * and back). Changes are POSTs from this page only: each form carries a token derived from the session's id, which no other site can read (and the
   * session cookie is SameSite=lax); each change is audited.
   */
  async account(ctx: Context, issuer: BrokerIssuer): Promise<void> {
    const { provider, snapshot } = issuer;
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method === 'POST') {
      const ticket = (await readForm(ctx, 256 * 1024)).get('ticket');
      if (ticket) return this.enrolWithTicket(ctx, issuer, ticket);
    }
    const signedIn = await accountSession(ctx, provider, snapshot, this.deps.options.store, { now: this.deps.options.clock.now(), admitUser: issuer.admitUser });
    // Nobody signed in here: through the issuer's sign-in, and back to this page.
    if (!signedIn) return sendToSignIn(ctx, provider, 'passkeys');
    const { user } = signedIn;
    const branding = brandingOf(snapshot, user.organization || undefined);
    const rp = rpOf(issuer, user.organization);
    const methods = settingsFor(snapshot, user.organization).mfaMethods.value;
    const self = `${snapshot.path}${ACCOUNT_PAGES.passkeys}`;
    const token = `<input type="hidden" name="csrf" value="${formToken('passkeys', signedIn)}">`;
    // Changes need a recent sign-in: a session left open on a shared computer adds or removes nothing.
    const recent = signedInRecently(signedIn, this.deps.options.clock.now());
    const page = async (status: number, message?: { error?: string; notice?: string }) => {
      const mine = await this.deps.options.store.passkeys.list(snapshot.namespace, user.id);
      let add = '<p>Your organization does not allow passkeys.</p>';
      if (methods.includes('webauthn') && !recent) {
        add = `<h2>Add a passkey</h2><p id="sign-in-again">To add, rename or remove a passkey, sign in again first: your last sign-in here is more than ${RECENT_SIGN_IN_SECONDS / 60} minutes old.</p><p><a class="button" id="reauthenticate" href="${escapeHtml(signInUrl(provider, 'passkeys', { fresh: true }))}">Sign in again</a></p>`;
      } else if (methods.includes('webauthn')) {
        allowOwnScripts(ctx);
        add = `<h2>Add a passkey</h2>${passkeyForm({ action: self, mode: 'register', options: await this.deps.passkeys.registrationOptions(rp, user), label: 'Add a passkey', assets: assetBase(issuer.url, this.deps.options.publicUrl()), nameField: true, hidden: { op: 'register' }, extra: token })}`;
      }
      render(
        ctx,
        status,
        branding,
        'Your passkeys',
        `${message?.error ? `<p class="error" role="alert">${escapeHtml(message.error)}</p>` : ''}${message?.notice ? `<p role="status" id="notice">${escapeHtml(message.notice)}</p>` : ''}<p>Signed in as ${escapeHtml(user.email)}.</p>${passkeyList(mine, rp.id, self, token, !recent)}${add}${homeLink(snapshot.path)}`,
      );
    };
    if (ctx.method !== 'POST') return page(200, { notice: ACCOUNT_NOTICES[String(ctx.query.done ?? '')] ?? '' });
    const form = await readForm(ctx, 256 * 1024);
    if (!formTokenMatches('passkeys', signedIn, form.get('csrf'))) {
      await this.deps.audit(snapshot, 'passkey.refused', { organization: user.organization || null, subject: user.id, outcome: 'refused', data: { reason: 'cross-site-form', origin: ctx.get('Origin') || null } });
      return page(403, { error: 'This change did not come from this page. Try again.' });
    }
    if (!recent) {
      await this.deps.audit(snapshot, 'passkey.refused', { organization: user.organization || null, subject: user.id, outcome: 'refused', data: { reason: 'sign-in-not-recent', op: form.get('op') ?? '' } });
      return sendToSignIn(ctx, provider, 'passkeys', { fresh: true });
    }
    const changed = await accountChange(this.deps.passkeys, rp, user, form, methods.includes('webauthn'));
    if ('error' in changed) return page(changed.status, { error: changed.error });
    ctx.status = 303;
    ctx.redirect(`${self}?done=${changed.done}`);
  }
}

const ticketKey = (ticket: string) => `passkey-ticket:${createHash('sha256').update(ticket).digest('base64url')}`;
