import { randomBytes } from 'node:crypto';
import type { BlockList } from 'node:net';
import { signalsOf } from '../risk/signals.ts';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import { z } from 'zod';
import { organizationChain, type IdPConnectionObject } from '../../api/index.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { UserAdmission } from '../oidc/admission.ts';
import { readForm } from '../oidc/forms.ts';
import { escapeHtml, type PageBranding } from '../oidc/html.ts';
import { LoginLimiter, loginForm } from '../oidc/interactions.ts';
import { brandingOf, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { standingOf } from '../oidc/standing.ts';
import { ACR } from '../oidc/acr.ts';
import { methodsFor, mfaLevel, reaches, type MfaLevel } from '../oidc/step-up.ts';
import { allowOwnScripts } from '../oidc/html.ts';
import { Passkeys, REFUSAL_MESSAGES, parseResponse, passkeyAuthentication } from '../passkeys/service.ts';
import { PasskeyPages, rpOf } from './passkey-pages.ts';
import { accountHome } from './account-pages.ts';
import { loginTs } from '../oidc/account.ts';
import { assetBase, passkeyForm } from '../passkeys/pages.ts';
import { upstreamLogin } from './upstream-mfa.ts';
import type { Sealer } from '../secrets/sealer.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { TotpFactors } from './mfa.ts';
import { enqueueForUser, iso } from '../notifications/outbox.ts';
import { connectionEndpoints } from './endpoints.ts';
import { emailForm, refusal, render, totpQr } from './pages.ts';
import { provisionUser, type UpstreamIdentity } from './provision.ts';
import { routeEmail, type Route } from './routing.ts';
import type { UpstreamSecrets } from './secrets.ts';
import { createUpstreams, isUpstreamType, type UpstreamFailure, type UpstreamResult, type Upstreams, type UpstreamType } from './upstreams/index.ts';
import { OidcExpected } from './upstreams/oidc.ts';
import { MALFORMED_SAML, SamlExpected } from './upstreams/saml.ts';
import type { AuditAction } from '../audit/actions.ts';
import type { FetchGuardOptions } from './upstreams/fetch-guard.ts';
import type { DeviceCookies } from '../risk/device.ts';
import { DECISION_ACTIONS, type RiskDecision, type RiskEngine } from '../risk/engine.ts';

const REQUEST_TTL_MS = 10 * 60 * 1000;
const SAML_FORM_LIMIT = 512 * 1024;

/** A sign-in waiting on the partner's IdP, or on the second factor; kept in the store so any replica can finish it. */
const Pending = z.object({
  stage: z.enum(['upstream', 'verified', 'mfa']),
  uid: z.string(),
  /** The issuer the client started at (`/{ns}` or `/{ns}/{org}`): the sign-in finishes there. */
  issuerPath: z.string(),
  /**
   * The issuer identifier the sign-in started at, when it is a vanity domain's origin: the
   * upstream answers at the canonical callback (the redirect URI registered with it), and the
   * browser is sent back to that host, where the interaction cookie lives.
   */
  vanityIssuer: z.string().optional(),
  namespace: z.string(),
  connection: z.string(),
  clientId: z.string(),
  /** What the upstream's answer is checked against, under its type (`Upstream.start`'s `expected`). */
  oidc: OidcExpected.optional(),
  saml: SamlExpected.optional(),
  identity: z.object({ subject: z.string(), claims: z.record(z.string(), z.unknown()) }).optional(),
  login: z.object({ accountId: z.string(), amr: z.array(z.string()), acr: z.string() }).optional(),
  /** What the risk engine learns once the second factor is passed (a step-up it asked for, or policy's). */
  learn: z.object({ device: z.string().optional(), country: z.string().optional() }).optional(),
  /** The second-factor level the sign-in must reach (step-up.ts). */
  level: z.enum(['none', 'mfa', 'phishing-resistant']).optional(),
  /** Set once the first code of a new enrolment was good, while the recovery codes are on screen. */
  mfaVerified: z.boolean().optional(),
  /** A test sign-in through a draft connection (federation setup): nobody is signed in or provisioned. */
  test: z.object({ organization: z.string(), revision: z.number() }).optional(),
});
type Pending = z.infer<typeof Pending>;

/** A vanity issuer is a bare origin (`https://sso.partner.example`); canonical issuers have a path. */
function vanityOf(issuer: BrokerIssuer): { vanityIssuer?: string } {
  return new URL(issuer.url).pathname === '/' ? { vanityIssuer: issuer.url } : {};
}

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

const token = () => randomBytes(32).toString('base64url');

/** An answer that names no sign-in in progress, per type (each protocol names its correlation differently). */
const UNMATCHED: Record<UpstreamType, UpstreamFailure> = {
  oidc: { reason: 'state-mismatch', message: 'This sign-in response does not match a sign-in in progress (unknown or reused state). Start again from the application.' },
  saml: { reason: 'unknown-relay-state', message: 'This SAML response does not match a sign-in in progress (unknown or reused RelayState). Start again from the application.' },
};

/** How a failure to reach the partner's IdP is shown. */
function startRefusal(failure: UpstreamFailure): { status: number; heading: string } {
  if (failure.reason === 'secret-missing') return { status: 503, heading: 'Sign-in is not configured' };
  if (failure.reason === 'metadata-unreachable') return { status: 502, heading: 'IdP metadata could not be fetched' };
  return { status: 502, heading: 'Your identity provider cannot be reached' };
}

/**
 * The federation broker's stage machine: the email-first sign-in page and home-realm
 * discovery, then for a federated address `Upstream.start` (the round trip to the partner's
 * IdP, kept as a pending sign-in in the store), `Upstream.finish` on its answer,
 * just-in-time provisioning, TOTP step-up, and back to the client. The protocols live in
 * upstreams/. A directory address gets oidc-provider's password form (interactions.ts),
 * which rejoins here at `complete`. It answers some paths of an issuer before oidc-provider sees them.
 */
export class Broker {
  readonly upstreams: Upstreams;
  readonly totp: TotpFactors;
  readonly passkeys: Passkeys;
  /** Passwordless sign-in, the account page and enrolment at invitation acceptance. */
  private readonly passkeyPages: PasskeyPages;
  private readonly options: BrokerOptions;
  private readonly otpLimiter: LoginLimiter;
  /** Set by the federation setup when the server has one. */
  drafts: DraftConnections | undefined;

  constructor(options: BrokerOptions) {
    this.options = options;
    this.upstreams = createUpstreams(options);
    this.totp = new TotpFactors(options);
    this.passkeys = new Passkeys({ store: options.store, clock: options.clock, audit: options.audit });
    this.passkeyPages = new PasskeyPages({ options, passkeys: this.passkeys, audit: (snapshot, action, fields) => this.audit(snapshot, action, fields), complete: (...args) => this.complete(...args), device: (ctx, snapshot) => this.device(ctx, snapshot) });
    this.otpLimiter = new LoginLimiter(options.clock, 5, 15 * 60 * 1000);
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
      await this.federated(ctx, issuer, m[1]!);
      return true;
    }
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)\/mfa\/passkey$/.exec(rest)) && ctx.method === 'POST') {
      await this.mfaPasskey(ctx, issuer, m[1]!);
      return true;
    }
    if ((m = /^\/interaction\/([A-Za-z0-9_-]+)\/mfa(\/continue)?$/.exec(rest))) {
      await this.mfa(ctx, issuer, m[1]!, Boolean(m[2]));
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
      await this.oidcCallback(ctx, issuer, m[1]!);
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
        await this.samlAcs(ctx, issuer, connection);
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

  // ── back from the partner's IdP ─────────────────────────────────────

  private async take(id: string): Promise<Pending | undefined> {
    const raw = await this.options.store.broker.takeRequest(id, this.options.clock.now());
    return raw ? Pending.parse(JSON.parse(raw)) : undefined;
  }

  private async oidcCallback(ctx: Context, issuer: BrokerIssuer, connectionName: string): Promise<void> {
    const params = new URLSearchParams(ctx.querystring);
    await this.finishUpstream(ctx, issuer, 'oidc', connectionName, params.get('state') ?? '', params);
  }

  private async samlAcs(ctx: Context, issuer: BrokerIssuer, connection: IdPConnectionObject): Promise<void> {
    let form: URLSearchParams;
    try {
      form = await readForm(ctx, SAML_FORM_LIMIT);
    } catch (error) {
      if ((error as { status?: number }).status !== 413) throw error;
      await this.refuse(ctx, issuer.snapshot, 413, brandingOf(issuer.snapshot), 'Sign-in failed', `The SAML response is larger than ${SAML_FORM_LIMIT / 1024} KiB, which is never accepted.`, { reason: 'malformed-response', connection: connection.metadata.name });
      return;
    }
    // The interaction cookie is SameSite=lax and does not come with this cross-site POST: RelayState names the sign-in.
    await this.finishUpstream(ctx, issuer, 'saml', connection.metadata.name, form.get('RelayState') ?? '', form);
  }

  /** The IdP's answer: it must name a sign-in in progress for this connection, then its upstream checks it. */
  private async finishUpstream(ctx: Context, issuer: BrokerIssuer, type: UpstreamType, connectionName: string, correlation: string, params: URLSearchParams): Promise<void> {
    const { snapshot } = issuer;
    const branding = brandingOf(snapshot);
    const pending = correlation ? await this.take(`${type}:${correlation}`) : undefined;
    const test = pending?.test && pending.test.organization === snapshot.organization ? pending.test : undefined;
    // A test answers for the draft it was started for; anything else for a declared (or enabled) connection only.
    const connection = test ? await this.drafts?.connection(snapshot.namespace, test.organization, connectionName) : this.connection(snapshot, connectionName);
    const expected = pending?.[type];
    // A test started at another organization's issuer never becomes a sign-in here.
    if (!connection || connection.spec.type !== type || !pending || !expected || pending.connection !== connectionName || (pending.test && !test)) {
      await this.refuse(ctx, snapshot, 400, branding, 'Sign-in failed', UNMATCHED[type].message, { reason: UNMATCHED[type].reason, connection: connectionName });
      return;
    }
    const result = await this.upstreams[type].finish({ connection, namespace: snapshot.namespace, endpoints: this.endpoints(snapshot.namespace, connection), expected, params });
    if (test) {
      ctx.set('Cache-Control', 'no-store');
      await this.drafts!.finished(ctx, { namespace: snapshot.namespace, organization: test.organization, connection: connectionName, revision: test.revision }, result);
      return;
    }
    if (!result.ok) {
      const { reason, message, code } = result.failure;
      await this.refuse(ctx, snapshot, MALFORMED_SAML.has(reason) ? 400 : 401, branding, 'Sign-in failed', message, { reason, ...(code ? { code } : {}), connection: connectionName, client: pending.clientId });
      return;
    }
    await this.verified(ctx, snapshot, pending, result.value, ['fed']);
  }

  /** The IdP's word is checked: hand it to the issuer the client started at, under its interaction path (where its cookie is sent). */
  private async verified(ctx: Context, snapshot: IssuerSnapshot, pending: Pending, identity: UpstreamIdentity, amr: string[]): Promise<void> {
    const id = token();
    // What the partner's IdP asserted about how the user signed in (a second factor or not): upstreamMfa reads it.
    const asserted = upstreamLogin(identity.claims);
    const next: Pending = { ...pending, stage: 'verified', identity, login: { accountId: '', amr: [...new Set([...amr, ...asserted.amr])], acr: asserted.acr }, oidc: undefined, saml: undefined };
    await this.options.store.broker.putRequest(`verified:${id}`, snapshot.namespace, JSON.stringify(next), this.options.clock.now() + REQUEST_TTL_MS);
    ctx.status = 303;
    ctx.redirect(`${pending.vanityIssuer ?? ''}${pending.issuerPath}/interaction/${pending.uid}/federated?r=${id}`);
  }

  private async federated(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<void> {
    const { provider, snapshot } = issuer;
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const id = typeof ctx.query.r === 'string' ? ctx.query.r : '';
    const pending = id ? await this.take(`verified:${id}`) : undefined;
    if (details.uid !== uid || !pending?.identity || pending.uid !== uid || pending.issuerPath !== snapshot.path || pending.vanityIssuer !== vanityOf(issuer).vanityIssuer) {
      await this.refuse(ctx, snapshot, 400, brandingOf(snapshot), 'Sign-in failed', 'This sign-in does not belong to this browser session. Start again from the application.', { reason: 'interaction-mismatch' });
      return;
    }
    const connection = snapshot.connections.find((c) => c.metadata.name === pending.connection);
    const organization = connection ? snapshot.organizations.get(connection.spec.organizationRef.name) : undefined;
    if (!connection || !organization || (snapshot.organization && organization.metadata.name !== snapshot.organization)) {
      await this.refuse(ctx, snapshot, 400, brandingOf(snapshot), 'Sign-in failed', 'The identity provider of this sign-in is no longer configured.', { reason: 'connection-gone', connection: pending.connection });
      return;
    }
    const branding = brandingOf(snapshot, organization?.metadata.name);
    const now = this.options.clock.now();
    const result = await this.options.store.transaction((repo) => provisionUser(repo, snapshot, connection, organization, pending.identity!, now));
    const orgName = organization.metadata.name;
    if (!result.ok) {
      await this.refuse(ctx, snapshot, 403, branding, 'Sign-in refused', result.message, { reason: result.reason, organization: orgName, connection: connection.metadata.name, client: pending.clientId, ...(result.email ? { email: result.email } : {}), subject: null });
      return;
    }
    const { user } = result;
    if (result.created) await this.audit(snapshot, 'user.provisioned', { organization: orgName, subject: user.id, actor: `idp:${connection.metadata.name}`, data: { connection: connection.metadata.name, email: user.email, roles: user.roles } });
    await this.audit(snapshot, 'login.succeeded', { organization: orgName, client: pending.clientId, subject: user.id, data: { connection: connection.metadata.name, type: connection.spec.type, amr: pending.login!.amr, signals: signalsOf(ctx.req, this.options.trustedProxies, this.device(ctx, snapshot)) } });
    await this.complete(ctx, issuer, uid, user, { amr: pending.login!.amr, acr: pending.login!.acr }, pending.clientId, details.params);
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
    const declared = mfaLevel(snapshot, user, clientId, typeof params.scope === 'string' ? params.scope : '');
    // A risk step-up asks for a Gatehouse factor even where the first factor (an upstream IdP's MFA) would have done.
    const stepUp = assessed?.decision.action === 'stepUp';
    const level = stepUp && declared === 'none' ? 'mfa' : declared;
    if (stepUp || !reaches(snapshot, user, level, login)) {
      const pending: Pending = { stage: 'mfa', uid, issuerPath: snapshot.path, namespace: snapshot.namespace, connection: user.connection, clientId, login: { accountId: user.id, ...login }, level, ...(learn ? { learn } : {}) };
      await this.options.store.broker.putRequest(`mfa:${snapshot.path}:${uid}`, snapshot.namespace, JSON.stringify(pending), this.options.clock.now() + REQUEST_TTL_MS);
      ctx.status = 303;
      ctx.redirect(`${snapshot.path}/interaction/${uid}/mfa`);
      return;
    }
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

  /** The sign-in waiting for its second factor in this browser, and its user; refused (and answered) otherwise. */
  private async waiting(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<{ key: string; pending: Pending & { login: NonNullable<Pending['login']> }; user: UserRecord; branding: PageBranding; level: MfaLevel } | undefined> {
    const { provider, snapshot } = issuer;
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const key = `mfa:${snapshot.path}:${uid}`;
    const raw = await this.options.store.broker.peekRequest(key, this.options.clock.now());
    const pending = raw ? Pending.parse(JSON.parse(raw)) : undefined;
    if (details.uid !== uid || !pending?.login) {
      await this.refuse(ctx, snapshot, 400, brandingOf(snapshot), 'Sign-in failed', 'There is no sign-in waiting for a second factor in this browser. Start again from the application.', { reason: 'mfa-without-login' });
      return undefined;
    }
    const user = await this.options.store.users.find(snapshot.namespace, pending.login.accountId);
    const organization = user ? snapshot.organizations.get(user.organization) : undefined;
    const branding = brandingOf(snapshot, organization?.metadata.name);
    if (!user?.active) {
      await this.refuse(ctx, snapshot, 403, branding, 'Sign-in refused', 'This account is deactivated.', { reason: 'deactivated', organization: user?.organization ?? null, subject: pending.login.accountId, client: pending.clientId });
      return undefined;
    }
    return { key, pending: pending as Pending & { login: NonNullable<Pending['login']> }, user, branding, level: pending.level ?? 'mfa' };
  }

  /** Ends the step-up: the first factor's amr with the second's, and the ACR the second factor earns. */
  private async finishMfa(ctx: Context, issuer: BrokerIssuer, w: { key: string; pending: Pending & { login: NonNullable<Pending['login']> }; user: UserRecord }, method: string, second: { amr: string[]; acr: string }): Promise<void> {
    const { provider, snapshot } = issuer;
    const { user, pending } = w;
    await this.options.store.broker.takeRequest(w.key, this.options.clock.now());
    const amr = [...new Set([...pending.login.amr, ...second.amr, 'mfa'])];
    await this.audit(snapshot, 'login.mfa-verified', { organization: user.organization, client: pending.clientId, subject: user.id, data: { method, amr } });
    if (pending.learn) await this.options.risk?.learn(snapshot.namespace, user.id, pending.learn);
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id, amr, acr: second.acr, ts: loginTs(this.options.clock) } }, { mergeWithLastSubmission: false });
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
    const assets = assetBase(issuer.url, this.options.publicUrl());
    allowOwnScripts(ctx);
    const mine = (await this.options.store.passkeys.list(user.namespace, user.id)).filter((p) => p.rpId === rp.id);
    if (mine.length > 0) {
      return `<h2>Use your passkey</h2>${passkeyForm({ action, mode: 'authenticate', options: await this.passkeys.authenticationOptions(rp, user.namespace, user), label: 'Use my passkey', assets, hidden: { ceremony: 'authenticate' } })}`;
    }
    return `<h2>Add a passkey</h2><p>A passkey on this device, or a security key, signs you in without codes and cannot be phished.</p>${passkeyForm({ action, mode: 'register', options: await this.passkeys.registrationOptions(rp, user), label: 'Add a passkey', assets, nameField: true, hidden: { ceremony: 'register' } })}`;
  }

  private async mfa(ctx: Context, issuer: BrokerIssuer, uid: string, isContinue: boolean): Promise<void> {
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
        await this.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: 'refused', data: { reason: 'method-not-allowed', method: 'totp', level } });
        render(ctx, 403, branding, 'Two-step verification', `<p class="error">Codes from an authenticator app are not accepted for this sign-in.</p>${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
        return;
      }
      render(ctx, 200, branding, 'Two-step verification', `${intro}${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
      return;
    }
    const enrolled = await this.totp.enrolled(ns, user.id);
    const limiterKey = `${ns}/${user.id}`;
    const codeForm = (error?: string) =>
      `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}<form method="post" action="${escapeHtml(action)}"><label for="code">Code from your authenticator app${enrolled ? ' (or a recovery code)' : ''}</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus><button type="submit">Verify</button></form>`;
    const enrolmentPage = async (error?: string) => {
      const { secret, uri } = await this.totp.beginEnrolment(ns, user.id, user.email, branding.title);
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
      await this.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: 'refused', data: { reason: 'rate-limited' } });
      render(ctx, 429, branding, 'Two-step verification', codeForm('Too many wrong codes. Wait a few minutes, then try again.'));
      return;
    }
    const result = await this.totp.verify(ns, user.id, code);
    if (!result.ok) {
      this.otpLimiter.fail(limiterKey);
      await this.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: 'failure', data: { reason: 'wrong-code' } });
      if (enrolled) render(ctx, 401, branding, 'Two-step verification', `${codeForm('That code is not correct.')}${await this.passkeyStep(ctx, issuer, uid, user, methods)}`);
      else await enrolmentPage('That code is not correct.');
      return;
    }
    this.otpLimiter.succeed(limiterKey);
    if (!enrolled) {
      const codes = await this.totp.confirm(ns, user.id, async (repo) => {
        await enqueueForUser(repo, user, 'mfa-enrolled', { method: 'authenticator app (TOTP)', enrolledAt: iso(this.options.clock.now()) }, this.options.clock.now());
      });
      await this.options.store.broker.putRequest(w.key, ns, JSON.stringify({ ...pending, mfaVerified: true }), this.options.clock.now() + REQUEST_TTL_MS);
      await this.audit(snapshot, 'user.mfa-enrolled', { organization: user.organization, subject: user.id, data: { factor: 'totp', recoveryCodes: codes.length } });
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
  private async mfaPasskey(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<void> {
    const { snapshot } = issuer;
    const w = await this.waiting(ctx, issuer, uid);
    if (!w) return;
    const { pending, user, branding, level } = w;
    const methods = methodsFor(snapshot, user.organization, level);
    const form = await readForm(ctx, 256 * 1024);
    const ceremony = form.get('ceremony') === 'register' ? 'register' : 'authenticate';
    const again = async (status: number, reason: string, message: string) => {
      await this.audit(snapshot, 'login.mfa-failed', { organization: user.organization, client: pending.clientId, subject: user.id, outcome: status === 403 ? 'refused' : 'failure', data: { reason, method: 'webauthn', ceremony } });
      render(ctx, status, branding, 'Two-step verification', `<p class="error">${escapeHtml(message)}</p>${await this.passkeyStep(ctx, issuer, uid, user, methods)}<p><a href="${escapeHtml(`${snapshot.path}/interaction/${uid}/mfa`)}">Other ways to verify</a></p>`);
    };
    if (!methods.includes('webauthn')) return again(403, 'method-not-allowed', 'Passkeys are not allowed for this sign-in.');
    const rp = rpOf(issuer, user.organization);
    if (ceremony === 'register') {
      const response = parseResponse(form.get('response') ?? '', 'register');
      if (!response) return again(400, 'malformed', REFUSAL_MESSAGES.malformed);
      const added = await this.passkeys.register(rp, user, response, form.get('name') ?? '');
      if (!added.ok) return again(added.reason === 'unknown-challenge' ? 400 : 401, added.reason, REFUSAL_MESSAGES[added.reason]);
      return this.finishMfa(ctx, issuer, w, 'passkey-enrolment', passkeyLoginOf(added.value.deviceType, false));
    }
    const response = parseResponse(form.get('response') ?? '', 'authenticate');
    if (!response) return again(400, 'malformed', REFUSAL_MESSAGES.malformed);
    const used = await this.passkeys.authenticate(rp, snapshot.namespace, response, { organization: user.organization, user });
    if (!used.ok) return again(used.reason === 'unknown-challenge' ? 400 : 401, used.reason, REFUSAL_MESSAGES[used.reason]);
    return this.finishMfa(ctx, issuer, w, 'passkey', { amr: used.value.amr, acr: used.value.acr });
  }
}

/** A passkey just enrolled, as a second factor: possession proven, user verification not asked of it. */
function passkeyLoginOf(deviceType: 'singleDevice' | 'multiDevice', userVerified: boolean): { amr: string[]; acr: string } {
  return passkeyAuthentication({ deviceType }, userVerified);
}
