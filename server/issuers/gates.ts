import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { Context, Next } from 'koa';
import { issuerPath } from '../../api/index.ts';
import type { RefusalAudit } from '../audit/refusals.ts';
import type { AuditAction } from '../audit/actions.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';
import { signalsOf } from '../risk/signals.ts';
import { admissionRules, admits, admitsCountry, clientAddress, RateLimiter, type AdmissionRules, type UserAdmission, type UserRefusal } from '../oidc/admission.ts';
import type { RiskEngine } from '../risk/engine.ts';
import type { GeoLocator } from '../risk/geo.ts';
import { escapeHtml, page } from '../oidc/html.ts';
import { brandingOf, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { standingOf, type Standing } from '../oidc/standing.ts';
import { CONFIDENTIAL_ONLY } from '../oidc/token-access.ts';
import { exchangeOf, refusalOf, TOKEN_EXCHANGE } from '../oidc/token-exchange.ts';
import { AccessTokenHooks } from './access-token-hooks.ts';
import { displayName, type Issuer, type IssuerOrigin } from './issuer.ts';
import { RiskGates } from './risk-gates.ts';
import type { AfterGate, Gate, IssuerRoute, StandingAnswer } from './routes.ts';

/** A check before the handler; true when it answered the request (the handler is not reached). */
export type BeforeGate = (ctx: Context, issuer: Issuer, rest: string) => boolean | Promise<boolean>;
/**
 * What the gates after a handler read of the request it answered: oidc-provider's `ctx.oidc`,
 * or the same facts set by an answer of our own (a cached document, the client_credentials grant).
 */
export interface Answered {
  /** The route's name (`IssuerRoute.name`): a CORS preflight at the same path is another route. */
  route: string;
  client?: { clientId: string; clientAuthMethod: string; redirectUriAllowed?(redirectUri: string): boolean } | undefined;
  params?: Record<string, unknown> | undefined;
  entities: object;
}

/** Runs once the handler has answered the route; true when nothing after it may run. */
export type AfterHook = (ctx: Context, issuer: Issuer, oidc: Answered) => boolean | Promise<boolean>;

/** A route's gates as functions, made once per route (not per request) from the route table. */
export interface Pipeline {
  route: IssuerRoute;
  before: readonly BeforeGate[];
  after: readonly AfterHook[];
}

export interface GateOptions {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  /** Proxies whose X-Forwarded-For is believed when an organization's networks are checked. */
  trustedProxies?: BlockList | undefined;
  /** Where refused bearer tokens (userinfo) and unregistered redirect URIs are audited, rate-limited per source. */
  refusals?: RefusalAudit | undefined;
  /** Places client addresses in countries, for `network.allowedCountries` / `deniedCountries`. */
  geo?: GeoLocator | undefined;
  /** Scores grants and keeps the suspended clients (the `risk` gates). */
  risk?: RiskEngine | undefined;
}

/**
 * The gates of ISSUER_ROUTES. `pipeline(route)` composes a route's, and `before`/`run` run one
 * alike on the server's Koa app (pages) and inside the provider (the mounted and the direct
 * paths both reach it), as oidc-provider runs an action's middleware list.
 */
export class IssuerGates {
  readonly rates = new RateLimiter();
  /** Requests a rate gate already counted (a page route may reach the provider's middleware too). */
  private readonly admitted = new WeakSet<IncomingMessage>();
  private readonly options: GateOptions;
  /** The after-hooks that read JWT access tokens (introspect-jwt, revoke-jwt, audit-refusal). */
  private readonly accessTokens: AccessTokenHooks;
  /** The risk gates: suspended clients before the token endpoint, the verdict on a grant after it. */
  private readonly riskGates: RiskGates;

  constructor(options: GateOptions) {
    this.options = options;
    this.accessTokens = new AccessTokenHooks(options);
    this.riskGates = new RiskGates(options);
  }

  pipeline(route: IssuerRoute): Pipeline {
    return { route, before: route.gates.map((gate) => this.beforeGate(gate, route)), after: (route.after ?? []).map((gate) => this.afterHook(gate)) };
  }

  /** A route's gates before its handler; true when one answered. */
  async before(ctx: Context, issuer: Issuer, rest: string, pipeline: Pipeline): Promise<boolean> {
    const { before } = pipeline;
    for (let i = 0; i < before.length; i++) {
      const answered = before[i]!(ctx, issuer, rest);
      if (answered === true || (answered !== false && (await answered))) return true;
    }
    return false;
  }

  /**
   * A route's whole pipeline around its handler (the provider, or an answer of our own, which
   * sets `ctx.oidc` as the provider would). `rest`: the path relative to the issuer.
   */
  async run(ctx: Context, next: Next, issuer: Issuer, pipeline: Pipeline, rest: string = ctx.path): Promise<void> {
    // `before`'s loop inline: the token hot path passes here, and a nested async call is another promise per request.
    const { before } = pipeline;
    for (let i = 0; i < before.length; i++) {
      const answered = before[i]!(ctx, issuer, rest);
      if (answered === true || (answered !== false && (await answered))) return;
    }
    await next();
    const { after } = pipeline;
    if (after.length === 0) return;
    const oidc: Answered | undefined = ctx.oidc;
    // A CORS preflight at the same path is another of the provider's routes (`cors.token`).
    if (!oidc || oidc.route !== pipeline.route.name) return;
    for (let i = 0; i < after.length; i++) {
      const done = after[i]!(ctx, issuer, oidc);
      if (done === true || (done !== false && (await done))) return;
    }
  }

  private beforeGate(gate: Gate, route: IssuerRoute): BeforeGate {
    switch (gate) {
      case 'standing': {
        const answer = route.standing;
        if (!answer) throw new Error(`issuer route ${route.path}: the standing gate needs a standing answer`);
        return (ctx, issuer, rest) => {
          const standing = this.standing(issuer);
          return !standing.active && this.refuse(ctx, issuer, rest, standing, answer);
        };
      }
      case 'network':
        return (ctx, issuer, rest) => this.network(ctx, issuer, rest, route);
      case 'rate':
        return (ctx, issuer, rest) => this.rate(ctx, issuer, rest, route);
      case 'risk':
        return (ctx, issuer) => {
          const { risk } = this.options;
          if (!risk || ctx.method !== 'POST') return false;
          const reading = risk.whenRead();
          return reading ? reading.then(() => this.riskGates.suspendedBasic(ctx, issuer, risk)) : this.riskGates.suspendedBasic(ctx, issuer, risk);
        };
      case 'origin':
        return (ctx, issuer) => {
          pinOrigin(ctx, issuer.origin);
          return false;
        };
    }
  }

  private afterHook(gate: AfterGate): AfterHook {
    switch (gate) {
      case 'confidential-only':
        return (ctx, _issuer, oidc) => {
          if (oidc.client?.clientAuthMethod !== 'none') return false;
          // A public client's client_id proves nothing: what it asked was neither answered nor done (the policies refused it).
          ctx.status = 401;
          ctx.set('WWW-Authenticate', 'Basic realm="token"');
          ctx.set('Cache-Control', 'no-store');
          ctx.body = { error: 'invalid_client', error_description: CONFIDENTIAL_ONLY };
          return true;
        };
      case 'cache-public':
        return (ctx) => {
          if (ctx.status === 200) ctx.set('Cache-Control', 'public, max-age=300');
          return false;
        };
      case 'introspect-jwt':
        return async (ctx, issuer, oidc) => {
          await this.accessTokens.introspect(ctx, issuer, oidc);
          return false;
        };
      case 'revoke-jwt':
        return async (ctx, issuer) => {
          await this.accessTokens.revokeJwt(ctx, issuer);
          return false;
        };
      case 'risk':
        return (ctx, issuer, oidc) => this.riskGates.assessGrant(ctx, issuer, oidc);
      case 'audit-token':
        return async (ctx, issuer) => {
          await this.auditToken(ctx, issuer);
          return false;
        };
      case 'audit-refusal':
        return async (ctx, issuer, oidc) => {
          if (this.options.refusals) await this.accessTokens.auditRefusal(ctx, issuer, oidc, this.options.refusals);
          return false;
        };
    }
  }

  /** The issuer's organization's standing now (a namespace's shared issuer always stands). */
  private standing(issuer: Issuer): Standing {
    const { snapshot } = issuer;
    return snapshot.organization ? standingOf(snapshot.chain, this.options.clock.now(), snapshot.workspace?.spec.lifecycle) : { active: true };
  }

  /** What an organization that stands no more gets at a route; false lets the request through. */
  private async refuse(ctx: Context, issuer: Issuer, rest: string, standing: Extract<Standing, { active: false }>, answer: StandingAnswer): Promise<boolean> {
    const { snapshot } = issuer;
    const audit = (action: AuditAction) => this.options.audit.append({ action, actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null, outcome: 'refused', data: { reason: standing.reason, path: rest, signals: signalsOf(ctx.req, this.options.trustedProxies) } });
    switch (answer) {
      case 'token':
        if (ctx.method !== 'POST') return false;
        await audit('token.refused');
        ctx.status = 400;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'invalid_grant', error_description: standing.detail };
        return true;
      case 'introspection':
        if (ctx.method !== 'POST') return false;
        await audit('token.introspected-inactive');
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { active: false };
        return true;
      case 'bearer':
        ctx.status = 401;
        ctx.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${standing.detail.replace(/"/g, "'")}"`);
        ctx.body = { error: 'invalid_token', error_description: standing.detail };
        return true;
      case 'scim':
        await audit('scim.refused');
        ctx.status = 403;
        ctx.set('Cache-Control', 'no-store');
        ctx.type = 'application/scim+json';
        ctx.body = JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '403', detail: standing.detail });
        return true;
      case 'page':
        await audit('login.refused');
        ctx.status = 403;
        ctx.type = 'html';
        ctx.body = page(brandingOf(snapshot), 'Access has ended', `<p class="error">${escapeHtml(standing.detail)}.</p><p>Contact your Blixit partner manager.</p>`);
        return true;
    }
  }

  /** The organization's `network`: a request from outside its networks or countries gets 403, audited. */
  private network(ctx: Context, issuer: Issuer, rest: string, route: IssuerRoute): boolean | Promise<boolean> {
    const { networks, countries } = issuer.admission;
    // Already counted by the rate gate on the page path: the same request is not judged twice.
    if ((!networks && !countries) || this.admitted.has(ctx.req)) return false;
    const address = clientAddress(ctx.req, this.options.trustedProxies);
    if (!admits(networks, address)) {
      return this.record(issuer, 'access.refused-network', address, rest, {}).then(() => {
        this.turnedAway(ctx, issuer, route, 403, 'access_denied', `requests from ${address} are outside the networks ${displayName(issuer.snapshot)} signs in from`);
        return true;
      });
    }
    const country = countries ? this.options.geo?.country(address) : undefined;
    if (admitsCountry(countries, country)) return false;
    return this.record(issuer, 'access.refused-country', address, rest, { country: country ?? null }).then(() => {
      this.turnedAway(ctx, issuer, route, 403, 'access_denied', `requests from ${address} (${country ?? 'no known country'}) are outside the countries ${displayName(issuer.snapshot)} signs in from`);
      return true;
    });
  }

  /** The organization's `limits`: beyond its rate a request gets 429 with Retry-After, a run of them audited once. */
  private rate(ctx: Context, issuer: Issuer, rest: string, route: IssuerRoute): boolean | Promise<boolean> {
    const { requestsPerMinute } = issuer.admission;
    if (requestsPerMinute === undefined || this.admitted.has(ctx.req)) return false;
    this.admitted.add(ctx.req);
    const taken = this.rates.take(issuer.snapshot.path, requestsPerMinute, this.options.clock.now());
    if (taken.ok) return false;
    const answer = () => {
      ctx.set('Retry-After', String(taken.retryAfterSeconds));
      this.turnedAway(ctx, issuer, route, 429, 'too_many_requests', `${displayName(issuer.snapshot)} may make ${requestsPerMinute} requests a minute; try again in ${taken.retryAfterSeconds} s`);
      return true;
    };
    if (!taken.first) return answer();
    return this.record(issuer, 'access.rate-limited', clientAddress(ctx.req, this.options.trustedProxies), rest, { requestsPerMinute }).then(answer);
  }

  private record(issuer: Issuer, action: AuditAction, address: string, path: string, data: Record<string, unknown>): Promise<unknown> {
    const { snapshot } = issuer;
    return this.options.audit.append({ action, actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null, outcome: 'refused', data: { address, path, ...data } });
  }

  /** A refusal as the endpoint's callers read them: a page for browsers, OAuth-style JSON for the rest. */
  private turnedAway(ctx: Context, issuer: Issuer, route: IssuerRoute, status: number, error: string, detail: string): void {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    if (route.refusal === 'page') {
      ctx.type = 'html';
      ctx.body = page(brandingOf(issuer.snapshot), status === 429 ? 'Too many requests' : 'Not from this network', `<p class="error">${escapeHtml(detail)}.</p>`);
      return;
    }
    if (route.refusal === 'scim') {
      ctx.type = 'application/scim+json';
      ctx.body = JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: String(status), ...(status === 429 ? { scimType: 'tooMany' } : {}), detail });
      return;
    }
    ctx.body = { error, error_description: detail };
  }

  /**
   * At a namespace's shared issuer, a user's own organization's `network` and `limits`, as its
   * own issuer applies them: the shared issuer serves every organization's users and must not
   * be a way around either. The rate is counted in the organization's own bucket (one limit
   * for the partner, whichever issuer it calls). Each request is judged once, and audited like
   * a refusal at the organization's issuer.
   */
  userAdmission(snapshot: IssuerSnapshot): UserAdmission {
    const rules = new Map<string, AdmissionRules>();
    const judged = new WeakMap<IncomingMessage, Map<string, UserRefusal | undefined>>();
    return async (organization, req, path) => {
      const seen = judged.get(req) ?? new Map<string, UserRefusal | undefined>();
      judged.set(req, seen);
      if (seen.has(organization)) return seen.get(organization);
      let r = rules.get(organization);
      if (!r) {
        r = admissionRules(snapshot.settingsOf(organization));
        rules.set(organization, r);
      }
      const address = clientAddress(req, this.options.trustedProxies);
      const name = snapshot.organizations.get(organization)?.spec.displayName ?? organization;
      const record = (action: AuditAction, data: Record<string, unknown>) => this.options.audit.append({ action, actor: 'anonymous', namespace: snapshot.namespace, organization, outcome: 'refused', data: { address, path, issuer: snapshot.path, ...data } });
      let refusal: UserRefusal | undefined;
      const country = r.countries ? this.options.geo?.country(address) : undefined;
      if (!admits(r.networks, address)) {
        await record('access.refused-network', {});
        refusal = { status: 403, error: 'access_denied', heading: 'Not from this network', detail: `${name} allows sign-ins only from its own networks, and ${address} is not one of them. Connect from your organization's network (or its VPN) and try again` };
      } else if (!admitsCountry(r.countries, country)) {
        await record('access.refused-country', { country: country ?? null });
        refusal = { status: 403, error: 'access_denied', heading: 'Not from this country', detail: `${name} allows sign-ins only from the countries it declares, and ${address} (${country ?? 'no known country'}) is not in one of them` };
      } else if (r.requestsPerMinute !== undefined) {
        const taken = this.rates.take(issuerPath(snapshot.namespace, organization), r.requestsPerMinute, this.options.clock.now());
        if (!taken.ok) {
          if (taken.first) await record('access.rate-limited', { requestsPerMinute: r.requestsPerMinute });
          refusal = { status: 429, error: 'too_many_requests', heading: 'Too many requests', detail: `${name} may make ${r.requestsPerMinute} requests a minute; try again in ${taken.retryAfterSeconds} s`, retryAfterSeconds: taken.retryAfterSeconds };
        }
      }
      seen.set(organization, refusal);
      return refusal;
    };
  }

  private async auditToken(ctx: Context, issuer: Issuer): Promise<void> {
    const oidc: Answered = ctx.oidc;
    const grantType = String(oidc.params?.grant_type ?? '');
    const clientId = oidc.client?.clientId ?? String(oidc.params?.client_id ?? '');
    const body = ctx.body as { error?: string; scope?: string } | undefined;
    const entities = oidc.entities as { RefreshToken?: { consumed?: unknown }; Account?: { accountId: string }; AccessToken?: { accountId?: string } };
    const subject = entities.Account?.accountId ?? entities.AccessToken?.accountId ?? null;
    const signals = signalsOf(ctx.req, this.options.trustedProxies);
    const base = { namespace: issuer.snapshot.namespace, organization: issuer.snapshot.organization ?? this.riskGates.sharedRefusal(ctx.req) ?? null, client: clientId, subject, actor: subject ?? clientId ?? 'anonymous' };
    if (grantType === TOKEN_EXCHANGE) {
      const exchange = exchangeOf(ctx);
      if (ctx.status === 200 && exchange) {
        await this.options.audit.append({ ...base, action: 'token.exchanged', data: { grant: grantType, ...exchange, signals } });
      } else {
        const failure = ctx.body as { error?: string; error_description?: string } | undefined;
        await this.options.audit.append({ ...base, action: 'token.refused', outcome: 'refused', data: { grant: grantType, error: failure?.error ?? String(ctx.status), reason: refusalOf(ctx) ?? failure?.error_description ?? '', signals } });
      }
      return;
    }
    if (ctx.status === 200) {
      // Scopes asked for but not granted (no policy allows them, or they need a second factor): the audit says which.
      const granted = new Set((body?.scope ?? '').split(' '));
      const dropped = String(oidc.params?.scope ?? '')
        .split(' ')
        .filter((scope) => scope && !granted.has(scope));
      await this.options.audit.append({ ...base, action: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued', data: { grant: grantType, scope: body?.scope ?? '', ...(dropped.length ? { dropped } : {}), signals } });
    } else {
      const reuse = grantType === 'refresh_token' && entities.RefreshToken?.consumed !== undefined && body?.error === 'invalid_grant';
      await this.options.audit.append({ ...base, action: reuse ? 'token.refresh-reuse-detected' : 'token.refused', outcome: 'refused', data: { grant: grantType, error: body?.error ?? String(ctx.status), ...(reuse ? { effect: 'grant revoked' } : {}), signals } });
    }
  }
}

/**
 * oidc-provider writes its endpoint URLs from the request's Host and scheme: pinned to the
 * issuer's own origin (PUBLIC_URL's, or the declared vanity host's), a forged Host header
 * never reaches discovery, redirects or form actions.
 */
export function pinOrigin(ctx: Context, origin: IssuerOrigin): void {
  const { host, scheme } = origin;
  if (ctx.req.headers.host !== host) ctx.req.headers.host = host;
  if (ctx.protocol !== scheme) Object.defineProperty(ctx.request, 'protocol', { value: scheme, configurable: true });
}
