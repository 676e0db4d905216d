import type { Context } from 'koa';
import type { AuditAction } from '../audit/actions.ts';
import { ACR } from '../oidc/acr.ts';
import { loginTs } from '../oidc/account.ts';
import { readForm } from '../oidc/forms.ts';
import { allowOwnScripts, escapeHtml, type PageBranding } from '../oidc/html.ts';
import { LoginLimiter } from '../oidc/interactions.ts';
import { brandingOf, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { methodsFor, mfaLevel, reaches, type MfaLevel } from '../oidc/step-up.ts';
import { enqueueForUser, iso } from '../notifications/outbox.ts';
import { assetBase, passkeyForm } from '../passkeys/pages.ts';
import { REFUSAL_MESSAGES, parseResponse, passkeyAuthentication, type Passkeys } from '../passkeys/service.ts';
import type { UserRecord } from '../store/index.ts';
import type { Broker, BrokerAuditFields, BrokerIssuer, BrokerOptions } from './broker.ts';
import type { TotpFactors } from './mfa.ts';
import { render, totpQr } from './pages.ts';
import { rpOf } from './passkey-pages.ts';
import { Pending, REQUEST_TTL_MS } from './pending.ts';

export interface SecondFactorDeps {
  options: BrokerOptions;
  totp: TotpFactors;
  passkeys: Passkeys;
  audit: (snapshot: IssuerSnapshot, action: AuditAction, fields: BrokerAuditFields) => Promise<void>;
  /** The broker's refusal: audited as a refused sign-in, then shown. */
  refuse: Broker['refuse'];
}

/**
 * The broker's second-factor step: whether a first factor is enough (the level its client,
 * scopes and a risk step-up ask for, step-up.ts), and if not the `mfa` stage it waits in:
 * TOTP with its enrolment and recovery codes, or a passkey (one of the user's, or added now).
 */
export class SecondFactor {
  private readonly deps: SecondFactorDeps;
  private readonly otpLimiter: LoginLimiter;

  constructor(deps: SecondFactorDeps) {
    this.deps = deps;
    this.otpLimiter = new LoginLimiter(deps.options.clock, 5, 15 * 60 * 1000);
  }

  /**
   * The level the sign-in must reach; when its first factor does not reach it (or the risk
   * engine asked for a step-up), the sign-in waits for its second factor and the browser is
   * sent to that page: true. False: the first factor is enough.
   */
  async required(ctx: Context, snapshot: IssuerSnapshot, uid: string, user: UserRecord, login: { amr: string[]; acr: string }, clientId: string, params: Record<string, unknown>, stepUp: boolean, learn: Pending['learn']): Promise<boolean> {
    const declared = mfaLevel(snapshot, user, clientId, typeof params.scope === 'string' ? params.scope : '');
    // A risk step-up asks for a Gatehouse factor even where the first factor (an upstream IdP's MFA) would have done.
    const level = stepUp && declared === 'none' ? 'mfa' : declared;
    if (!stepUp && reaches(snapshot, user, level, login)) return false;
    const pending: Pending = { stage: 'mfa', uid, issuerPath: snapshot.path, namespace: snapshot.namespace, connection: user.connection, clientId, login: { accountId: user.id, ...login }, level, ...(learn ? { learn } : {}) };
    await this.deps.options.store.broker.putRequest(`mfa:${snapshot.path}:${uid}`, snapshot.namespace, JSON.stringify(pending), this.deps.options.clock.now() + REQUEST_TTL_MS);
    ctx.status = 303;
    ctx.redirect(`${snapshot.path}/interaction/${uid}/mfa`);
    return true;
  }

  /** The sign-in waiting for its second factor in this browser, and its user; refused (and answered) otherwise. */
  private async waiting(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<{ key: string; pending: Pending & { login: NonNullable<Pending['login']> }; user: UserRecord; branding: PageBranding; level: MfaLevel } | undefined> {
    const { provider, snapshot } = issuer;
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const key = `mfa:${snapshot.path}:${uid}`;
    const raw = await this.deps.options.store.broker.peekRequest(key, this.deps.options.clock.now());
    const pending = raw ? Pending.parse(JSON.parse(raw)) : undefined;
    if (details.uid !== uid || !pending?.login) {
      await this.deps.refuse(ctx, snapshot, 400, brandingOf(snapshot), 'Sign-in failed', 'There is no sign-in waiting for a second factor in this browser. Start again from the application.', { reason: 'mfa-without-login' });
      return undefined;
    }
    const user = await this.deps.options.store.users.find(snapshot.namespace, pending.login.accountId);
    const organization = user ? snapshot.organizations.get(user.organization) : undefined;
    const branding = brandingOf(snapshot, organization?.metadata.name);
    if (!user?.active) {
      await this.deps.refuse(ctx, snapshot, 403, branding, 'Sign-in refused', 'This account is deactivated.', { reason: 'deactivated', organization: user?.organization ?? null, subject: pending.login.accountId, client: pending.clientId });
      return undefined;
    }
    return { key, pending: pending as Pending & { login: NonNullable<Pending['login']> }, user, branding, level: pending.level ?? 'mfa' };
  }

  /** Ends the step-up: the first factor's amr with the second's, and the ACR the second factor earns. */
  private async finishMfa(ctx: Context, issuer: BrokerIssuer, w: { key: string; pending: Pending & { login: NonNullable<Pending['login']> }; user: UserRecord }, method: string, second: { amr: string[]; acr: string }): Promise<void> {
    const { provider, snapshot } = issuer;
    const { user, pending } = w;
    await this.deps.options.store.broker.takeRequest(w.key, this.deps.options.clock.now());
    const amr = [...new Set([...pending.login.amr, ...second.amr, 'mfa'])];
    await this.deps.audit(snapshot, 'login.mfa-verified', { organization: user.organization, client: pending.clientId, subject: user.id, data: { method, amr } });
    if (pending.learn) await this.deps.options.risk?.learn(snapshot.namespace, user.id, pending.learn);
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr, acr: second.acr, ts: loginTs(this.deps.options.clock) } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  }

  /**
   * The passkey part of the second-factor page, where the policy allows passkeys: sign in with
   * one of the user's, or add one (when the user has none for this issuer's host).
   */
  private async passkeyStep(ctx: Context, issuer: BrokerIssuer, uid: string, user: UserRecord, methods: readonly string[]): Promise<string> {
    if (!methods.includes('webauthn')) return '';
    const rp = rpOf(issuer, user.organization);
    const action = `${issuer.snapshot.path}/interaction/${uid}/mfa/passkey`;
    const assets = assetBase(issuer.url, this.deps.options.publicUrl());
    allowOwnScripts(ctx);
    const mine = (await this.deps.options.store.passkeys.list(user.namespace, user.id)).filter((p) => p.rpId === rp.id);
    if (mine.length > 0) {
      return `<h2>Use your passkey</h2>${passkeyForm({ action, mode: 'authenticate', options: await this.deps.passkeys.authenticationOptions(rp, user.namespace, user), label: 'Use my passkey', assets, hidden: { ceremony: 'authenticate' } })}`;
    }
    return `<h2>Add a passkey</h2><p>A passkey on this device, or a security key, signs you in without codes and cannot be phished.</p>${passkeyForm({ action, mode: 'register', options: await this.deps.passkeys.registrationOptions(rp, user), label: 'Add a passkey', assets, nameField: true, hidden: { ceremony: 'register' } })}`;
  }

  async mfa(ctx: Context, issuer: BrokerIssuer, uid: string, isContinue: boolean): Promise<void> {
    const { snapshot } = issuer;
    const w = await this.waiting(ctx, issuer, uid);
    if (!w) return;
    const { pending, user, branding, level } = w;
    const ns = snapshot.namespace;
    const action = `${snapshot.path}/interaction/${uid}/mfa`;
    const methods = methodsFor(snapshot, user.organization, level);
    if (isContinue) {
      if (ctx.method === 'POST' && pending.mfaVerified) return this.finishMfa(ctx, issuer, w, 'otp-enrolment', { amr: ['otp'], acr: ACR.mfa });
      ctx.status = 303;
      ctx.redirect(action);
      return;
    }
    const intro = level === 'phishing-resistant' ? '<p>This sign-in needs a passkey: codes from an authenticator app are not accepted here.</p>' : '';
    if (!methods.includes('totp')) {
      if (ctx.method === 'POST') {
        await this.deps.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: 'refused', data: { reason: 'method-not-allowed', method: 'totp', level } });
        render(ctx, 403, branding, 'Two-step verification', `<p class="error">Codes from an authenticator app are not accepted for this sign-in.</p>${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
        return;
      }
      render(ctx, 200, branding, 'Two-step verification', `${intro}${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
      return;
    }
    const enrolled = await this.deps.totp.enrolled(ns, user.id);
    const limiterKey = `${ns}/${user.id}`;
    const codeForm = (error?: string) =>
      `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}<form method="post" action="${escapeHtml(action)}"><label for="code">Code from your authenticator app${enrolled ? ' (or a recovery code)' : ''}</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus><button type="submit">Verify</button></form>`;
    const enrolmentPage = async (error?: string) => {
      const { secret, uri } = await this.deps.totp.beginEnrolment(ns, user.id, user.email, branding.title);
      render(
        ctx,
        error ? 401 : 200,
        branding,
        'Set up two-step verification',
        `<p>Your organization requires a second factor. Scan this code with your authenticator app, then enter the code it shows.</p>
${totpQr(uri)}
<p>Or type this key: <code id="totp-secret">${escapeHtml(secret.replace(/(.{4})/g, '$1 ').trim())}</code></p><p><small>Or open: <a href="${escapeHtml(uri)}" id="totp-uri">${escapeHtml(uri)}</a></small></p>${codeForm(error)}${await this.passkeyStep(ctx, issuer, uid, user, methods)}`,
      );
    };
    if (ctx.method !== 'POST') {
      if (enrolled) render(ctx, 200, branding, 'Two-step verification', `${codeForm()}${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
      else await enrolmentPage();
      return;
    }
    const code = ((await readForm(ctx)).get('code') ?? '').trim();
    if (this.otpLimiter.blocked(limiterKey)) {
      await this.deps.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: 'refused', data: { reason: 'rate-limited' } });
      render(ctx, 429, branding, 'Two-step verification', codeForm('Too many wrong codes. Wait a few minutes, then try again.'));
      return;
    }
    const result = await this.deps.totp.verify(ns, user.id, code);
    if (!result.ok) {
      this.otpLimiter.fail(limiterKey);
      await this.deps.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: 'failure', data: { reason: 'wrong-code' } });
      if (enrolled) render(ctx, 401, branding, 'Two-step verification', `${codeForm('That code is not correct.')}${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
      else await enrolmentPage('That code is not correct.');
      return;
    }
    this.otpLimiter.succeed(limiterKey);
    if (!enrolled) {
      const codes = await this.deps.totp.confirm(ns, user.id, async (repo) => {
        await enqueueForUser(repo, user, 'mfa-enrolled', { method: 'authenticator app (TOTP)', enrolledAt: iso(this.deps.options.clock.now()) }, this.deps.options.clock.now());
      });
      await this.deps.options.store.broker.putRequest(w.key, ns, JSON.stringify({ ...pending, mfaVerified: true }), this.deps.options.clock.now() + REQUEST_TTL_MS);
      await this.deps.audit(snapshot, 'user.mfa-enrolled', { organization: user.organization, subject: user.id, data: { factor: 'totp', recoveryCodes: codes.length } });
      render(
        ctx,
        200,
        branding,
        'Save your recovery codes',
        `<p>Each code signs you in once if you lose your authenticator. They are shown only now.</p><ul id="recovery-codes">${codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('')}</ul>
<form method="post" action="${escapeHtml(`${action}/continue`)}"><button type="submit">Continue</button></form>`,
      );
      return;
    }
    await this.finishMfa(ctx, issuer, w, result.method, { amr: ['otp'], acr: ACR.mfa });
  }

  /** The second factor by passkey: one of the user's (verified), or a new one enrolled now (its enrolment is the proof of possession). */
  async mfaPasskey(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<void> {
    const { snapshot } = issuer;
    const w = await this.waiting(ctx, issuer, uid);
    if (!w) return;
    const { pending, user, branding, level } = w;
    const methods = methodsFor(snapshot, user.organization, level);
    const form = await readForm(ctx, 256 * 1024);
    const ceremony = form.get('ceremony') === 'register' ? 'register' : 'authenticate';
    const again = async (status: number, reason: string, message: string) => {
      await this.deps.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: status === 403 ? 'refused' : 'failure', data: { reason, method: 'webauthn', ceremony } });
      render(ctx, status, branding, 'Two-step verification', `<p class="error">${escapeHtml(message)}</p>${await this.passkeyStep(ctx, issuer, uid, user, methods)}<p><a href="${escapeHtml(`${snapshot.path}/interaction/${uid}/mfa`)}">Other ways to verify</a></p>`);
    };
    if (!methods.includes('webauthn')) return again(403, 'method-not-allowed', 'Passkeys are not allowed for this sign-in.');
    const rp = rpOf(issuer, user.organization);
    if (ceremony === 'register') {
      const response = parseResponse(form.get('response') ?? '', 'register');
      if (!response) return again(400, 'malformed', REFUSAL_MESSAGES.malformed);
      const added = await this.deps.passkeys.register(rp, user, response, form.get('name') ?? '');
      if (!added.ok) return again(added.reason === 'unknown-challenge' ? 400 : 401, added.reason, REFUSAL_MESSAGES[added.reason]);
      return this.finishMfa(ctx, issuer, w, 'passkey-enrolment', passkeyLoginOf(added.value.deviceType, false));
    }
    const response = parseResponse(form.get('response') ?? '', 'authenticate');
    if (!response) return again(400, 'malformed', REFUSAL_MESSAGES.malformed);
    const used = await this.deps.passkeys.authenticate(rp, snapshot.namespace, response, { organization: user.organization, user });
    if (!used.ok) return again(used.reason === 'unknown-challenge' ? 400 : 401, used.reason, REFUSAL_MESSAGES[used.reason]);
    return this.finishMfa(ctx, issuer, w, 'passkey', { amr: used.value.amr, acr: used.value.acr });
  }
}

/** A passkey just enrolled, as a second factor: possession proven, user verification not asked of it. */
function passkeyLoginOf(deviceType: 'singleDevice' | 'multiDevice', userVerified: boolean): { amr: string[]; acr: string } {
  return passkeyAuthentication({ deviceType }, userVerified);
}
