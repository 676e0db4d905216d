import type { BlockList } from 'node:net';
import { signalsOf } from '../risk/signals.ts';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import { organizationChain, type IdPConnectionObject } from '../../api/index.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { UserAdmission } from '../oidc/admission.ts';
import { readForm } from '../oidc/forms.ts';
import type { PageBranding } from '../oidc/html.ts';
import { loginForm } from '../oidc/interactions.ts';
import { brandingOf, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { standingOf } from '../oidc/standing.ts';
import { Passkeys } from '../passkeys/service.ts';
import { PasskeyPages } from './passkey-pages.ts';
import { accountHome } from './account-pages.ts';
import { loginTs } from '../oidc/account.ts';
import { Pending, REQUEST_TTL_MS, vanityOf } from './pending.ts';
import { UpstreamAnswer } from './upstream-answer.ts';
import { SecondFactor } from './second-factor.ts';
import type { Sealer } from '../secrets/sealer.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { TotpFactors } from './mfa.ts';
import { connectionEndpoints } from './endpoints.ts';
import { emailForm, refusal, render } from './pages.ts';
import type { UpstreamIdentity } from './provision.ts';
import { routeEmail, type Route } from './routing.ts';
import type { UpstreamSecrets } from './secrets.ts';
import { createUpstreams, isUpstreamType, type UpstreamFailure, type UpstreamResult, type Upstreams, type UpstreamType } from './upstreams/index.ts';
import type { AuditAction } from '../audit/actions.ts';
import type { FetchGuardOptions } from './upstreams/fetch-guard.ts';
import type { DeviceCookies } from '../risk/device.ts';
import { DECISION_ACTIONS, type RiskDecision, type RiskEngine } from '../risk/engine.ts';

export interface BrokerOptions {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  sealer: Sealer;
  secrets: UpstreamSecrets;
  publicUrl: () => string;
  /** Fetches SAML IdP metadata from a `metadataUrl` (tests replace it). */
  fetchMetadata?: (url: string) => Promise<string>;
  /** How URLs of connections set up in the portal are fetched (the private-address guard's settings). */
  untrusted?: FetchGuardOptions;
  /** Proxies whose X-Forwarded-For is believed when recording where a sign-in came from. */
  trustedProxies?: BlockList | undefined;
  /** Adaptive access: scores each sign-in (server/risk/engine.ts). */
  risk?: RiskEngine;
  /** The browser's device cookie, per issuer (server/risk/device.ts). */
  devices?: DeviceCookies;
}

/**
 * Draft connections a partner administrator is testing (server/federation-setup/). The broker
 * answers their callback, ACS and SP metadata, but only a test sign-in started for the draft
 * finishes through one, and it ends at `finished`, never in a session or a provisioned user.
 */
export interface DraftConnections {
  connection(namespace: string, organization: string, name: string): Promise<IdPConnectionObject | undefined>;
  finished(ctx: Context, test: { namespace: string; organization: string; connection: string; revision: number }, result: UpstreamResult<UpstreamIdentity>): Promise<void>;
}

/** What a broker audit record says beyond the issuer's namespace and organization. */
export interface BrokerAuditFields {
  organization?: string | null;
  client?: string;
  subject?: string | null;
  actor?: string;
  outcome?: string;
  data: Record<string, unknown>;
}

export interface BrokerIssuer {
  provider: Provider;
  snapshot: IssuerSnapshot;
  url: string;
  /** At the shared issuer: the user's organization's networks and rate. */
  admitUser?: UserAdmission;
}

/** How a failure to reach the partner's IdP is shown. */
function startRefusal(failure: UpstreamFailure): { status: number; heading: string } {
  if (failure.reason === 'secret-missing') return { status: 503, heading: 'Sign-in is not configured' };
  if (failure.reason === 'metadata-unreachable') return { status: 502, heading: 'IdP metadata could not be fetched' };
  return { status: 502, heading: 'Your identity provider cannot be reached' };
}

/**
 * The federation broker's stage machine: the email-first sign-in page and home-realm
 * discovery, then for a federated address `Upstream.start` (the round trip to the partner's
 * IdP, kept as a pending sign-in in the store), `Upstream.finish` on its answer and
 * just-in-time provisioning (upstream-answer.ts), the second factor when one is needed
 * (second-factor.ts), and back to the client. The protocols live in upstreams/. A directory address gets oidc-provider's password form (interactions.ts),
 * which rejoins here at `complete`. It answers some paths of an issuer before oidc-provider sees them.
 */
export class Broker {
  readonly upstreams: Upstreams;
  readonly totp: TotpFactors;
  readonly passkeys: Passkeys;
  /** Passwordless sign-in, the account page and enrolment at invitation acceptance. */
  private readonly passkeyPages: PasskeyPages;
  /** The second-factor step (TOTP, passkey, recovery codes) a first factor may have to pass. */
  private readonly secondFactor: SecondFactor;
  /** The partner IdP's answer, on to just-in-time provisioning and `complete`. */
  private readonly upstreamAnswer: UpstreamAnswer;
  private readonly options: BrokerOptions;
  /** Set by the federation setup when the server has one. */
  drafts: DraftConnections | undefined;

  constructor(options: BrokerOptions) {
    this.options = options;
    this.upstreams = createUpstreams(options);
    this.totp = new TotpFactors(options);
    this.passkeys = new Passkeys({ store: options.store, clock: options.clock, audit: options.audit });
    this.passkeyPages = new PasskeyPages({ options, passkeys: this.passkeys, audit: (snapshot, action, fields) => this.audit(snapshot, action, fields), complete: (...args) => this.complete(...args), device: (ctx, snapshot) => this.device(ctx, snapshot) });
    this.secondFactor = new SecondFactor({ options, totp: this.totp, passkeys: this.passkeys, audit: (snapshot, action, fields) => this.audit(snapshot, action, fields), refuse: (...args) => this.refuse(...args) });
    this.upstreamAnswer = new UpstreamAnswer({
      options,
      upstreams: this.upstreams,
      drafts: () => this.drafts,
      connection: (snapshot, name) => this.connection(snapshot, name),
      endpoints: (namespace, connection) => this.endpoints(namespace, connection),
      audit: (snapshot, action, fields) => this.audit(snapshot, action, fields),
      refuse: (...args) => this.refuse(...args),
      complete: (...args) => this.complete(...args),
      device: (ctx, snapshot) => this.device(ctx, snapshot),
    });
  }

  endpoints(namespace: string, connection: IdPConnectionObject): { redirectUri: string; acsUrl: string; metadataUrl: string } {
    return connectionEndpoints(this.options.publicUrl(), namespace, connection);
  }

  /** Returns false when the path is not the broker's. */
  async handle(ctx: Context, rest: string, issuer: BrokerIssuer): Promise<boolean> {
    const { snapshot } = issuer;
    let m: RegExpExecArray | null;
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(rest))) {
      return this.signInPage(ctx, issuer, m[1]!, Boolean(m[2]));
    }
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)\/federated$/.exec(rest)) && ctx.method === 'GET') {
      await this.upstreamAnswer.federated(ctx, issuer, m[1]!);
      return true;
    }
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)\/mfa\/passkey$/.exec(rest)) && ctx.method === 'POST') {
      await this.secondFactor.mfaPasskey(ctx, issuer, m[1]!);
      return true;
    }
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)\/mfa(\/continue)?$/.exec(rest))) {
      await this.secondFactor.mfa(ctx, issuer, m[1]!, Boolean(m[2]));
      return true;
    }
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)\/passkey$/.exec(rest)) && ctx.method === 'POST') {
      await this.passkeyPages.passwordless(ctx, issuer, m[1]!);
      return true;
    }
    if (rest === '/account' && ctx.method === 'GET') {
      await accountHome(ctx, issuer, this.options);
      return true;
    }
    if (rest === '/account/passkeys') {
      await this.passkeyPages.account(ctx, issuer);
      return true;
    }
    if (!snapshot.organization) return false;
    if ((m = /^\/broker\/([a-z0-9-]+)\/callback$/.exec(rest)) && ctx.method === 'GET') {
      await this.upstreamAnswer.oidcCallback(ctx, issuer, m[1]!);
      return true;
    }
    if ((m = /^\/saml\/([a-z0-9-]+)\/(acs|metadata)$/.exec(rest))) {
      // A draft's SP metadata and ACS answer too: its test sign-in needs both. Only a test finishes through a draft (finishUpstream).
      const connection = this.connection(snapshot, m[1]!) ?? (await this.drafts?.connection(snapshot.namespace, snapshot.organization!, m[1]!));
      if (connection?.spec.type !== 'saml') return false;
      if (m[2] === 'metadata' && ctx.method === 'GET') {
        ctx.type = 'application/samlmetadata+xml';
        const e = this.endpoints(snapshot.namespace, connection);
        ctx.body = this.upstreams.saml.spMetadata(connection, { entityId: e.metadataUrl, acsUrl: e.acsUrl });
        return true;
      }
      if (m[2] === 'acs' && ctx.method === 'POST') {
        await this.upstreamAnswer.samlAcs(ctx, issuer, connection);
        return true;
      }
    }
    return false;
  }

  private connection(snapshot: IssuerSnapshot, name: string): IdPConnectionObject | undefined {
    return snapshot.connections.find((c) => c.metadata.name === name && c.spec.organizationRef.name === snapshot.organization);
  }

  private async audit(snapshot: IssuerSnapshot, action: AuditAction, fields: BrokerAuditFields): Promise<void> {
    await this.options.audit.append({
      action,
      actor: fields.actor ?? fields.subject ?? 'anonymous',
      namespace: snapshot.namespace,
      organization: fields.organization ?? snapshot.organization ?? null,
      client: fields.client ?? null,
      subject: fields.subject ?? null,
      outcome: fields.outcome ?? 'success',
      data: fields.data,
    });
  }

  private async refuse(ctx: Context, snapshot: IssuerSnapshot, status: number, branding: PageBranding, heading: string, message: string, audit: { reason: string; code?: string; organization?: string | null; connection?: string; client?: string; email?: string; subject?: string | null }): Promise<void> {
    await this.audit(snapshot, 'login.refused', {
      organization: audit.organization ?? null,
      client: audit.client ?? '',
      subject: audit.subject ?? null,
      actor: audit.email ?? audit.subject ?? 'anonymous',
      outcome: 'refused',
      data: { reason: audit.reason, ...(audit.code ? { code: audit.code } : {}), ...(audit.connection ? { connection: audit.connection } : {}), ...(audit.email ? { email: audit.email } : {}), signals: signalsOf(ctx.req, this.options.trustedProxies) },
    });
    refusal(ctx, status, branding, heading, message);
  }

  // ── email first ─────────────────────────────────────────────────────

  private async signInPage(ctx: Context, issuer: BrokerIssuer, uid: string, isLogin: boolean): Promise<boolean> {
    const { provider, snapshot } = issuer;
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid || details.prompt.name !== 'login') return false; // consent and mismatches stay with interactions.ts
    const clientId = String(details.params.client_id ?? '');
    const action = `${snapshot.path}/interaction/${uid}/login`;
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint.trim().toLowerCase() : '';
    let email = hint;
    if (isLogin && ctx.method === 'POST') {
      const form = await readForm(ctx);
      email = (form.get('email') ?? '').trim().toLowerCase();
      // A password for a federated address must not bypass the partner's IdP: route it like any other.
      // An unknown address with a password gets the password form's own answer, which reveals nothing.
      if (form.has('password') && (routeEmail(snapshot, email)?.type ?? 'directory') === 'directory') return false;
    } else if (!hint) {
      render(ctx, 200, brandingOf(snapshot), 'Sign in', emailForm(action, '', undefined, await this.passkeyPages.passwordlessForm(ctx, issuer, uid)));
      return true;
    }
    const route = routeEmail(snapshot, email);
    // The workspace's own administrators (directory users of no organization) sign in at the
    // shared issuer with a password: their domain is nobody's partner domain. The answer differs
    // from an unknown address's, so whether a workspace account exists for an address is visible here.
    if (!route && !snapshot.organization && email.includes('@') && (await this.options.store.users.findByEmail(snapshot.namespace, email)).some((u) => !u.organization && u.connection === 'directory')) {
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = loginForm(snapshot, uid, email);
      return true;
    }
    if (!route) {
      await this.audit(snapshot, 'login.unknown-domain', { client: clientId, actor: email || 'anonymous', outcome: 'refused', data: { email } });
      render(
        ctx,
        400,
        brandingOf(snapshot),
        'Sign in',
        emailForm(action, email, email.includes('@') ? `No organization signs in with ${email.slice(email.lastIndexOf('@') + 1)} addresses here. Check the address, or ask your Blixit partner manager.` : 'Enter your work email address.', await this.passkeyPages.passwordlessForm(ctx, issuer, uid)),
      );
      return true;
    }
    const branding = brandingOf(snapshot, route.organization.metadata.name);
    if (!snapshot.organization) {
      const standing = standingOf(organizationChain(snapshot.organizations, route.organization.metadata.name), this.options.clock.now(), snapshot.workspace?.spec.lifecycle);
      if (!standing.active) {
        await this.refuse(ctx, snapshot, 403, branding, 'Access has ended', `${standing.detail}.`, { reason: standing.reason, organization: route.organization.metadata.name, client: clientId, email });
        return true;
      }
      // Its networks and rate, before it is sent to its IdP or shown its password form (audited there).
      const refused = await issuer.admitUser?.(route.organization.metadata.name, ctx.req, `/interaction/${uid}/login`);
      if (refused) {
        if (refused.retryAfterSeconds) ctx.set('Retry-After', String(refused.retryAfterSeconds));
        refusal(ctx, refused.status, branding, refused.heading, `${refused.detail}.`);
        return true;
      }
    }
    if (route.type === 'directory') {
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = loginForm(snapshot, uid, email, undefined, route.organization.metadata.name);
      return true;
    }
    await this.startUpstream(ctx, issuer, uid, clientId, email, route, route.type);
    return true;
  }

  private async startUpstream(ctx: Context, issuer: BrokerIssuer, uid: string, clientId: string, email: string, route: Route, type: UpstreamType): Promise<void> {
    const { snapshot } = issuer;
    const connection = route.connection!;
    const organization = route.organization.metadata.name;
    const started = await this.upstreams[type].start({ connection, namespace: snapshot.namespace, endpoints: this.endpoints(snapshot.namespace, connection), loginHint: email });
    if (!started.ok) {
      const { status, heading } = startRefusal(started.failure);
      await this.refuse(ctx, snapshot, status, brandingOf(snapshot, route.organization.metadata.name), heading, started.failure.message, { reason: started.failure.reason, ...(started.failure.code ? { code: started.failure.code } : {}), organization, connection: connection.metadata.name, client: clientId, email });
      return;
    }
    const { url, correlation, expected } = started.value;
    const pending = Pending.parse({ stage: 'upstream', uid, issuerPath: snapshot.path, ...vanityOf(issuer), namespace: snapshot.namespace, connection: connection.metadata.name, clientId, [type]: expected });
    await this.options.store.broker.putRequest(`${type}:${correlation}`, snapshot.namespace, JSON.stringify(pending), this.options.clock.now() + REQUEST_TTL_MS);
    ctx.redirect(url);
    ctx.set('Cache-Control', 'no-store');
    await this.audit(snapshot, 'login.upstream-started', { organization, client: clientId, actor: email, data: { connection: connection.metadata.name, type } });
  }

  /**
   * Sends a partner administrator's browser to the IdP of a draft connection, as a sign-in
   * would, and remembers the test; the answer comes back to the draft's own callback or ACS
   * (the endpoints the enabled connection will have), so the IdP's registration is tested too.
   */
  async startTest(namespace: string, connection: IdPConnectionObject, revision: number, loginHint = ''): Promise<{ ok: true; url: string } | { ok: false; failure: UpstreamFailure }> {
    const type = connection.spec.type;
    if (!isUpstreamType(type)) throw new Error(`a ${type} connection has no IdP to test`);
    const organization = connection.spec.organizationRef.name;
    const started = await this.upstreams[type].start({ connection, namespace, endpoints: this.endpoints(namespace, connection), loginHint });
    if (!started.ok) return started;
    const { url, correlation, expected } = started.value;
    const pending = Pending.parse({ stage: 'upstream', uid: '', issuerPath: `/${namespace}/${organization}`, namespace, connection: connection.metadata.name, clientId: '', [type]: expected, test: { organization, revision } });
    await this.options.store.broker.putRequest(`${type}:${correlation}`, namespace, JSON.stringify(pending), this.options.clock.now() + REQUEST_TTL_MS);
    return { ok: true, url };
  }

  // ── step-up ─────────────────────────────────────────────────────────

  /** The browser's device digest at this issuer, giving it a device cookie when it has none (undefined without device cookies). */
  device(ctx: Context, snapshot: IssuerSnapshot): string | undefined {
    return this.options.devices?.ensure(ctx, snapshot.path);
  }

  /** The risk engine's verdict on a sign-in, audited; undefined when the user's organization declares no `risk`. */
  private async assess(ctx: Context, snapshot: IssuerSnapshot, user: UserRecord, clientId: string): Promise<{ decision: RiskDecision; device: string | undefined } | undefined> {
    const { risk } = this.options;
    if (!risk || !user.organization) return undefined;
    const device = this.device(ctx, snapshot);
    const signals = signalsOf(ctx.req, this.options.trustedProxies, device);
    const decision = await risk.signIn({ namespace: snapshot.namespace, organization: user.organization, settings: snapshot.settingsOf(user.organization), user: user.id, email: user.email, client: clientId, ip: signals.ip, device });
    if (!decision) return undefined;
    await this.audit(snapshot, DECISION_ACTIONS[decision.action], {
      organization: user.organization,
      client: clientId,
      subject: user.id,
      ...(decision.action === 'deny' ? { outcome: 'refused' } : {}),
      data: { stage: 'sign-in', score: decision.score, action: decision.action, rules: decision.fired, ...(decision.country ? { country: decision.country } : {}), signals },
    });
    return { decision, device };
  }

  /** The end of every first factor: the risk engine's verdict, then straight back to the client, or through a second factor first. */
  async complete(ctx: Context, issuer: BrokerIssuer, uid: string, user: UserRecord, login: { amr: string[]; acr: string }, clientId: string, params: Record<string, unknown>): Promise<void> {
    const { provider, snapshot } = issuer;
    const assessed = await this.assess(ctx, snapshot, user, clientId);
    if (assessed?.decision.action === 'deny') {
      ctx.set('Cache-Control', 'no-store');
      refusal(ctx, 403, brandingOf(snapshot, user.organization), 'Sign-in refused', 'This sign-in looks unusual for your account and was refused. Try again from your usual device and network, or contact your administrator.');
      return;
    }
    const learn = assessed ? { ...(assessed.device ? { device: assessed.device } : {}), ...(assessed.decision.country ? { country: assessed.decision.country } : {}) } : undefined;
    if (await this.secondFactor.required(ctx, snapshot, uid, user, login, clientId, params, assessed?.decision.action === 'stepUp', learn)) return;
    if (learn) await this.options.risk!.learn(snapshot.namespace, user.id, learn);
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr: login.amr, acr: login.acr, ts: loginTs(this.options.clock) } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  }

  /** For interactions.ts: after an invitation's password is set, a form to add a passkey too (PasskeyPages.passkeyOffer). */
  passkeyOffer(issuer: BrokerIssuer): (ctx: Context, namespace: string, userId: string) => Promise<string> {
    return this.passkeyPages.passkeyOffer(issuer);
  }

  /** For interactions.ts: the password form's success goes through the same step-up. */
  completer(issuer: BrokerIssuer): (ctx: Context, user: UserRecord, login: { amr: string[]; acr: string }) => Promise<void> {
    return async (ctx, user, login) => {
      const details = await issuer.provider.interactionDetails(ctx.req, ctx.res);
      await this.complete(ctx, issuer, details.uid, user, login, String(details.params.client_id ?? ''), details.params);
    };
  }
}
