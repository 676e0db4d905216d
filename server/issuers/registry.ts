import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import mount from 'koa-mount';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { fingerprint, isUnsignedJwt, refusedReason, type RefusalAudit, type RefusedReason } from '../audit/refusals.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { ClientSecrets } from '../clients/secrets.ts';
import type { Clock } from '../clock.ts';
import type { ConfigEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/index.ts';
import { handleInteraction, LoginLimiter } from '../oidc/interactions.ts';
import type { KeyRing, SigningAlg, SigningKeys } from '../oidc/keys.ts';
import { buildProvider } from '../oidc/provider.ts';
import { isJwt, verifyAccessJwt } from '../oidc/verify.ts';
import { exchangeOf, refusalOf, TOKEN_EXCHANGE } from '../oidc/token-exchange.ts';
import { loadSnapshot, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { standingOf, type Standing } from '../oidc/standing.ts';
import { allowFormSchemes, escapeHtml, page, pageHeaders } from '../oidc/html.ts';
import { issuerPath } from '../../api/index.ts';
import { IssuerCache } from './cache.ts';
import { IssuerResolution } from './resolution.ts';
import type { Broker } from '../broker/broker.ts';
import { problemMiddleware } from '../admin/problem.ts';
import type { BlockList } from 'node:net';
import { admissionRules, admits, clientAddress, RateLimiter, type AdmissionRules, type UserAdmission, type UserRefusal } from '../oidc/admission.ts';
import { CONFIDENTIAL_ONLY, mayIntrospect, mayRevoke, NOT_YOURS } from '../oidc/token-access.ts';
import type { AuditAction } from '../audit/actions.ts';

interface Issuer {
  snapshot: IssuerSnapshot;
  provider: Provider;
  /** The provider inside the server's Koa app (pages, and any request the direct path leaves). */
  mounted: Middleware;
  /** The provider as a plain request listener, for a request whose URL is already relative to the issuer. */
  direct: (req: IncomingMessage, res: ServerResponse) => void;
  ring: KeyRing;
  /** The issuer identifier: `{publicUrl}{path}`, or a vanity origin (`{scheme}://{host[:port]}`). */
  url: string;
  /** The organization's declared networks and rate (none at a namespace's shared issuer). */
  admission: AdmissionRules;
  /** Private-use URI schemes of its native clients' redirect URIs (`com.example.app:`), for pages' form-action. */
  formSchemes: string[];
  /** At the shared issuer: the signed-in user's organization's networks and rate. */
  admitUser: UserAdmission;
}

export interface RegistryOptions {
  store: Store;
  clock: Clock;
  keys: SigningKeys;
  secrets: ClientSecrets;
  audit: AuditWriter;
  events: ConfigEvents;
  logger: Logger;
  cookieKeys: string[];
  publicUrl: () => string;
  /** Issuers kept built at once; the least recently used is dropped beyond this. */
  maxIssuers?: number;
  /** How often other replicas' changes are looked for in the store. */
  pollMs?: number;
  /** The federation broker: email-first sign-in, upstream IdPs, step-up. */
  broker?: Broker;
  /** Proxies whose X-Forwarded-For is believed when an organization's networks are checked. */
  trustedProxies?: BlockList;
  /** Where refused bearer tokens (userinfo) and unregistered redirect URIs are audited, rate-limited per source. */
  refusals?: RefusalAudit;
}


/**
 * Serves one OpenID Connect issuer per organization (`/{namespace}/{organization}`) and one
 * per namespace for shared applications (`/{namespace}`): each an oidc-provider built on
 * first use from the store, kept in a bounded cache, and rebuilt when its namespace's
 * configuration version moves (a change here, or on another replica) or its keys rotate.
 */
const SERVER_ROUTE = /^\/(admin\/|healthz$|readyz$)/;
/** The pages the broker and the interaction handlers answer; nothing else need ask them. */
const PAGE_ROUTE = /^\/(interaction|broker|saml|account)\//;
/**
 * Endpoints outside an organization's `network` and `limits`: metadata that resource servers
 * fetch, introspection and revocation that they call on the partner's tokens, and sign-out,
 * which only ever ends access.
 */
const UNMETERED_ROUTE = /^\/(\.well-known\/openid-configuration|jwks|token\/introspection|token\/revocation|session\/end(\/.*)?)$/;
/**
 * Endpoints a resource server or machine client calls at volume, which the provider answers
 * on its own: they skip the server's Koa app (see IssuerRegistry.direct).
 */
const DIRECT_ROUTES = new Map([
  ['/token', 'POST'],
  ['/token/introspection', 'POST'],
  ['/token/revocation', 'POST'],
  ['/jwks', 'GET'],
  ['/.well-known/openid-configuration', 'GET'],
]);

export class IssuerRegistry {
  private readonly options: Required<Omit<RegistryOptions, 'maxIssuers' | 'pollMs' | 'broker' | 'trustedProxies' | 'refusals'>> & { maxIssuers: number; pollMs: number; broker?: Broker; trustedProxies?: BlockList; refusals?: RefusalAudit };
  private readonly resolution: IssuerResolution;
  private readonly issuers: IssuerCache<Issuer>;
  private readonly limiter: LoginLimiter;
  private readonly rates = new RateLimiter();
  /** Requests already let through by `turnAway` (a page route may reach the provider's middleware too). */
  private readonly admitted = new WeakSet<IncomingMessage>();

  constructor(options: RegistryOptions) {
    this.options = { maxIssuers: 1000, pollMs: 1000, ...options };
    this.limiter = new LoginLimiter(options.clock);
    this.resolution = new IssuerResolution({ store: options.store, publicUrl: options.publicUrl, pollMs: this.options.pollMs });
    this.issuers = new IssuerCache<Issuer>({ maxIssuers: this.options.maxIssuers, version: (namespace) => this.resolution.version(namespace), now: () => options.clock.now() });
    options.events.on('changed', () => this.resolution.expire());
  }

  middleware(): Middleware {
    return async (ctx, next) => {
      // Served first (token requests are the hot path), so the server's own routes are let through untouched.
      if (SERVER_ROUTE.test(ctx.path)) return next();
      const { resolution } = this;
      if (resolution.pollDue()) await resolution.poll();
      // A declared vanity host of an organization is an issuer of its own (its origin is the
      // issuer identifier), with the organization's endpoints under its path on that host.
      const vanity = await resolution.vanityOf(ctx);
      if (vanity) {
        if (ctx.path !== vanity.path && !ctx.path.startsWith(`${vanity.path}/`)) ctx.path = `${vanity.path}${ctx.path === '/' ? '' : ctx.path}`;
        // app.proxy is false: the scheme is PUBLIC_URL's, so endpoints and cookies agree with the issuer.
        Object.defineProperty(ctx.request, 'protocol', { value: vanity.scheme, configurable: true });
      }
      const resolved = await resolution.resolve(ctx.path);
      if (!resolved) return next();
      // Another organization's path on a vanity host is not served there.
      if (vanity && issuerPath(resolved.namespace, resolved.organization) !== vanity.path) return next();
      const issuer = await this.issuer(resolved.namespace, resolved.organization, vanity?.origin);
      if (!issuer) return next();
      await this.serve(ctx, next, issuer, resolved.rest);
    };
  }

  /** Drops every built issuer (tests, and key rotation by hand). */
  invalidateAll(): void {
    this.issuers.clear();
    this.resolution.expire();
  }

  /** Issuers cached (built or being built), for the issuer-cache gauge. */
  get cacheSize(): number {
    return this.issuers.size;
  }

  /** Issuers are cached by their identifier: an organization's canonical issuer and each of its vanity issuers apart. */
  private issuer(namespace: string, organization: string | undefined, vanity?: string): Promise<Issuer | undefined> {
    const key = vanity ?? this.resolution.canonicalUrl(namespace, organization);
    return this.issuers.get(key, namespace, () => this.build(namespace, organization, vanity));
  }

  /**
   * Answers a request for one of DIRECT_ROUTES at an issuer already built and current by
   * handing it to the provider as it is, and says whether it did. Mounted inside the server's
   * Koa app, the provider answered ~5 % fewer token requests on the same CPU. Anything
   * this cannot decide without waiting (a poll due, a namespace or issuer not loaded yet,
   * vanity hosts) is left to `middleware()`, which answers the same way.
   */
  direct(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const { resolution } = this;
    if (resolution.pollDue() || !resolution.noVanityHosts()) return false;
    const resolved = resolution.resolveKnown(path);
    if (!resolved || DIRECT_ROUTES.get(resolved.rest) !== req.method) return false;
    const built = this.issuers.current(resolution.canonicalUrl(resolved.namespace, resolved.organization), resolved.namespace);
    if (!built) return false;
    // The provider finds its mount path as Express's would be found: originalUrl less url.
    Object.assign(req, { originalUrl: url, url: url.slice(path.length - resolved.rest.length) });
    built.direct(req, res);
    return true;
  }

  private async build(namespace: string, organization: string | undefined, vanity: string | undefined): Promise<Issuer | undefined> {
    const { store, secrets, keys, clock } = this.options;
    const snapshot = await loadSnapshot(store, secrets, namespace, organization);
    if (!snapshot) return undefined;
    const alg = (snapshot.workspace?.spec.signingAlgorithm ?? 'ES256') as SigningAlg;
    const ring = await keys.keyRing(namespace, alg);
    const url = vanity ?? this.resolution.canonicalUrl(namespace, organization);
    const admitUser = this.userAdmission(snapshot);
    const provider = buildProvider(snapshot, ring, {
      store,
      clock,
      issuer: url,
      admitsUser: admitUser,
      cookieKeys: this.options.cookieKeys,
      onJwtIssued: (issuer, jti, grantId, expiresAt) => store.repo.recordAccessToken(issuer, jti, grantId, expiresAt),
    });
    provider.on('server_error', (_ctx, error) => this.options.logger.error(`issuer ${snapshot.path}`, error));
    // Inside the provider, so that the mounted and the direct paths answer alike.
    provider.use(pageHeaders());
    provider.use(problemMiddleware((error, ctx) => this.options.logger.error(`${ctx.method} ${snapshot.path}${ctx.path} failed`, error)));
    provider.use((ctx, next) => this.around(ctx, next, issuer));
    const admission = snapshot.organization ? admissionRules(snapshot.chain[0], snapshot.template) : { networks: undefined, requestsPerMinute: undefined, problems: [] };
    for (const problem of admission.problems) this.options.logger.error(`issuer ${snapshot.path}: ${problem}`);
    // Both copy the provider's middleware list: made after it is complete.
    const issuer: Issuer = { snapshot, provider, ring, url, admission, admitUser, formSchemes: nativeSchemes(snapshot), mounted: mount(snapshot.path, provider), direct: provider.callback() };
    return issuer;
  }

  private async serve(ctx: Context, next: Next, issuer: Issuer, rest: string): Promise<void> {
    pinOrigin(ctx, issuer.url);
    allowFormSchemes(ctx, issuer.formSchemes);
    if (PAGE_ROUTE.test(rest)) {
      const standing = this.standing(issuer);
      if (!standing.active && (await this.refuse(ctx, issuer, rest, standing))) return;
      if (await this.turnAway(ctx, issuer, rest)) return;
      if (await this.page(ctx, issuer, rest)) return;
    }
    await issuer.mounted(ctx, next);
  }

  /** The issuer's organization's standing now (a namespace's shared issuer always stands). */
  private standing(issuer: Issuer): Standing {
    const { snapshot } = issuer;
    return snapshot.organization ? standingOf(snapshot.chain, this.options.clock.now(), snapshot.workspace?.spec.lifecycle) : { active: true };
  }

  /**
   * Around every provider endpoint: an organization that stands no more is refused, JWT
   * access tokens are introspected and revoked here, and every token decision is audited.
   * `ctx.path` is relative to the issuer here.
   */
  private async around(ctx: Context, next: Next, issuer: Issuer): Promise<void> {
    const { snapshot } = issuer;
    const standing = this.standing(issuer);
    if (!standing.active && (await this.refuse(ctx, issuer, ctx.path, standing))) return;
    if (await this.turnAway(ctx, issuer, ctx.path)) return;
    pinOrigin(ctx, issuer.url);
    await next();
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc;
    if (!oidc) return;
    if ((oidc.route === 'introspection' || oidc.route === 'revocation') && oidc.client?.clientAuthMethod === 'none') {
      // A public client's client_id proves nothing: what it asked was neither answered nor done (the policies refused it).
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="token"');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_client', error_description: CONFIDENTIAL_ONLY };
      return;
    }
    if ((oidc.route === 'discovery' || oidc.route === 'jwks') && ctx.status === 200) ctx.set('Cache-Control', 'public, max-age=300');
    if (oidc.route === 'introspection') {
      await this.introspectJwt(ctx, issuer);
      if (ctx.status === 200 && (ctx.body as { active?: boolean } | undefined)?.active === false) {
        await this.options.audit.append({ action: 'token.introspected-inactive', actor: oidc.client?.clientId ?? 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null, client: oidc.client?.clientId ?? null, outcome: 'inactive', data: {} });
      }
    }
    if (oidc.route === 'revocation') await this.revokeJwt(ctx, issuer);
    if (oidc.route === 'token') await this.auditToken(ctx, issuer);
    if (this.options.refusals) await this.auditRefusal(ctx, issuer, oidc);
  }

  /**
   * A bearer token userinfo refused, and an authorization request whose redirect_uri its client
   * never registered (the provider answers it with an error page: it must not redirect there).
   */
  private async auditRefusal(ctx: Context, issuer: Issuer, oidc: KoaContextWithOIDC['oidc']): Promise<void> {
    const { snapshot } = issuer;
    const refusals = this.options.refusals!;
    const where = { actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null };
    if (oidc.route === 'userinfo' && ctx.status === 401) {
      const bearer = /^Bearer ([\x21-\x7E]+)$/i.exec(ctx.get('authorization'))?.[1];
      if (!bearer) return;
      const reason = await this.userinfoReason(issuer, bearer);
      await refusals.record('token', clientAddress(ctx.req, this.options.trustedProxies), { ...where, data: { method: ctx.method, path: ctx.path, reason, fingerprint: fingerprint(bearer) } });
      return;
    }

    if (oidc.route === 'authorization' && ctx.status === 400) {
      const redirectUri = oidc.params?.redirect_uri;
      const client = oidc.client;
      if (typeof redirectUri !== 'string' || !client || client.redirectUriAllowed(redirectUri)) return;
      await refusals.record('redirect-uri', clientAddress(ctx.req, this.options.trustedProxies), {
        ...where,
        client: client.clientId,
        // The URI is the attacker's own string, not a secret: kept, but bounded.
        data: { method: ctx.method, path: ctx.path, redirectUri: redirectUri.slice(0, 512) },
      });
    }
  }

  /** Why userinfo refused a token: a JWT is checked as this issuer's access tokens are, to say which way it fails. */
  private async userinfoReason(issuer: Issuer, token: string): Promise<RefusedReason> {
    if (isUnsignedJwt(token)) return 'alg-not-allowed';
    if (!isJwt(token)) return 'unknown';
    try {
      await jwtVerify(token, createLocalJWKSet({ keys: issuer.ring.publicJwks as never }), { issuer: issuer.url, currentDate: new Date(this.options.clock.now()) });
      // Signed by this issuer, yet refused: userinfo takes the opaque tokens it issued, not JWT access tokens.
      return 'not-accepted-here';
    } catch (error) {
      return refusedReason(error);
    }
  }

  /**
   * An organization's `network` and `limits` at the endpoints its partner calls: a request from
   * outside its networks gets 403, one beyond its rate 429 with Retry-After. Both are audited
   * (a run of rate refusals once, at its first). True when it answered.
   */
  private async turnAway(ctx: Context, issuer: Issuer, rest: string): Promise<boolean> {
    const { admission, snapshot } = issuer;
    if (!admission.networks && admission.requestsPerMinute === undefined) return false;
    if (UNMETERED_ROUTE.test(rest) || this.admitted.has(ctx.req)) return false;
    this.admitted.add(ctx.req);
    const address = clientAddress(ctx.req, this.options.trustedProxies);
    const record = (action: AuditAction, data: Record<string, unknown>) =>
      this.options.audit.append({ action, actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null, outcome: 'refused', data: { address, path: rest, ...data } });
    const org = snapshot.chain[0];
    const name = org?.spec.displayName ?? snapshot.organization ?? snapshot.namespace;
    if (!admits(admission.networks, address)) {
      await record('access.refused-network', {});
      this.turnedAway(ctx, issuer, rest, 403, 'access_denied', `requests from ${address} are outside the networks ${name} signs in from`);
      return true;
    }
    if (admission.requestsPerMinute !== undefined) {
      const taken = this.rates.take(snapshot.path, admission.requestsPerMinute, this.options.clock.now());
      if (!taken.ok) {
        if (taken.first) await record('access.rate-limited', { requestsPerMinute: admission.requestsPerMinute });
        ctx.set('Retry-After', String(taken.retryAfterSeconds));
        this.turnedAway(ctx, issuer, rest, 429, 'too_many_requests', `${name} may make ${admission.requestsPerMinute} requests a minute; try again in ${taken.retryAfterSeconds} s`);
        return true;
      }
    }
    return false;
  }

  /** A refusal as the endpoint's callers read them: a page for browsers, OAuth-style JSON for the rest. */
  private turnedAway(ctx: Context, issuer: Issuer, rest: string, status: number, error: string, detail: string): void {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    if (rest === '/auth' || PAGE_ROUTE.test(rest)) {
      ctx.type = 'html';
      ctx.body = page(pageBranding(issuer.snapshot), status === 429 ? 'Too many requests' : 'Not from this network', `<p class="error">${escapeHtml(detail)}.</p>`);
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
  private userAdmission(snapshot: IssuerSnapshot): UserAdmission {
    const rules = new Map<string, AdmissionRules>();
    const judged = new WeakMap<IncomingMessage, Map<string, UserRefusal | undefined>>();
    return async (organization, req, path) => {
      const seen = judged.get(req) ?? new Map<string, UserRefusal | undefined>();
      judged.set(req, seen);
      if (seen.has(organization)) return seen.get(organization);
      let r = rules.get(organization);
      if (!r) {
        const org = snapshot.organizations.get(organization);
        const templateName = org?.spec.templateRef?.name;
        r = admissionRules(org, templateName ? snapshot.templates.get(templateName) : undefined);
        rules.set(organization, r);
      }
      const address = clientAddress(req, this.options.trustedProxies);
      const name = snapshot.organizations.get(organization)?.spec.displayName ?? organization;
      const record = (action: AuditAction, data: Record<string, unknown>) =>
        this.options.audit.append({ action, actor: 'anonymous', namespace: snapshot.namespace, organization, outcome: 'refused', data: { address, path, issuer: snapshot.path, ...data } });
      let refusal: UserRefusal | undefined;
      if (!admits(r.networks, address)) {
        await record('access.refused-network', {});
        refusal = { status: 403, error: 'access_denied', heading: 'Not from this network', detail: `${name} allows sign-ins only from its own networks, and ${address} is not one of them. Connect from your organization's network (or its VPN) and try again` };
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

  /** The broker's pages and the sign-in and password pages; false when neither answers `rest`. */
  private async page(ctx: Context, issuer: Issuer, rest: string): Promise<boolean> {
    const { snapshot } = issuer;
    const { broker } = this.options;
    const admitUser = snapshot.organization ? undefined : issuer.admitUser;
    const brokered = { provider: issuer.provider, snapshot, url: issuer.url, ...(admitUser ? { admitUser } : {}) };
    if (broker && (await broker.handle(ctx, rest, brokered))) return true;
    return handleInteraction(ctx, rest, issuer.provider, snapshot, { store: this.options.store, clock: this.options.clock, audit: this.options.audit, limiter: this.limiter, ...(admitUser ? { admitUser } : {}), ...(broker ? { complete: broker.completer(brokered) } : {}) });
  }

  /** What an organization that stands no more gets, endpoint by endpoint; false lets the request through. */
  private async refuse(ctx: Context, issuer: Issuer, rest: string, standing: Extract<Standing, { active: false }>): Promise<boolean> {
    const { snapshot } = issuer;
    const audit = (action: AuditAction) =>
      this.options.audit.append({ action, actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null, outcome: 'refused', data: { reason: standing.reason, path: rest } });
    if (rest === '/token' && ctx.method === 'POST') {
      await audit('token.refused');
      ctx.status = 400;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'invalid_grant', error_description: standing.detail };
      return true;
    }
    if (rest === '/token/introspection' && ctx.method === 'POST') {
      await audit('token.introspected-inactive');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { active: false };
      return true;
    }
    if (rest === '/me') {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${standing.detail.replace(/"/g, "'")}"`);
      ctx.body = { error: 'invalid_token', error_description: standing.detail };
      return true;
    }
    if (rest === '/auth' || rest.startsWith('/interaction/') || rest === '/account/password' || rest.startsWith('/broker/') || rest.startsWith('/saml/')) {
      await audit('login.refused');
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = page(pageBranding(snapshot), 'Access has ended', `<p class="error">${escapeHtml(standing.detail)}.</p><p>Contact your Blixit partner manager.</p>`);
      return true;
    }
    return false;
  }

  /**
   * oidc-provider keeps no JWT access tokens and refuses them (`unsupported_token_type`)
   * after it has authenticated the calling client; we answer for them instead, under the
   * same rule as the provider's allowedPolicy (token-access.ts).
   */
  private async introspectJwt(ctx: Context, issuer: Issuer): Promise<void> {
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    const token = oidc.params?.token;
    if (!this.refusedAsStructured(ctx) || !oidc.client || !isJwt(token)) return;
    const claims = await this.verifyJwt(issuer, token);
    const allowed = claims && mayIntrospect(issuer.snapshot, oidc.client.clientId, { clientId: str(claims.client_id), aud: claims.aud });
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = allowed ? { ...claims, active: true, token_type: 'Bearer' } : { active: false };
  }

  private refusedAsStructured(ctx: Context): boolean {
    return ctx.status === 400 && (ctx.body as { error?: string } | undefined)?.error === 'unsupported_token_type';
  }

  private async revokeJwt(ctx: Context, issuer: Issuer): Promise<void> {
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    const token = oidc.params?.token;
    if (!this.refusedAsStructured(ctx) || !oidc.client || !isJwt(token)) return;
    const claims = await this.verifyJwt(issuer, token);
    if (claims && !mayRevoke(oidc.client.clientId, { clientId: str(claims.client_id), aud: claims.aud })) {
      // As oidc-provider's policy answers for the tokens it keeps (provider.ts).
      ctx.status = 400;
      ctx.body = { error: 'unauthorized_client', error_description: NOT_YOURS };
      return;
    }
    // RFC 7009: an unknown or invalid token is answered like a revoked one.
    ctx.status = 200;
    ctx.body = '';
    if (!claims || typeof claims.jti !== 'string') return;
    await this.options.store.repo.revokeAccessToken(issuer.snapshot.path, claims.jti, Number(claims.exp) * 1000, this.options.clock.now());
    await this.options.audit.append({ action: 'token.revoked', actor: String(claims.client_id ?? 'unknown'), namespace: issuer.snapshot.namespace, organization: issuer.snapshot.organization ?? null, client: String(claims.client_id ?? ''), subject: String(claims.sub ?? ''), data: { jti: claims.jti } });
  }

  private async verifyJwt(issuer: Issuer, token: string): Promise<Record<string, unknown> | undefined> {
    return verifyAccessJwt({ store: this.options.store, clock: this.options.clock, ring: issuer.ring, issuer: issuer.url, path: issuer.snapshot.path, provider: issuer.provider }, token);
  }

  private async auditToken(ctx: Context, issuer: Issuer): Promise<void> {
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    const grantType = String(oidc.params?.grant_type ?? '');
    const clientId = oidc.client?.clientId ?? String(oidc.params?.client_id ?? '');
    const body = ctx.body as { error?: string; scope?: string } | undefined;
    const entities = oidc.entities as { RefreshToken?: { consumed?: unknown }; Account?: { accountId: string }; AccessToken?: { accountId?: string } };
    const subject = entities.Account?.accountId ?? entities.AccessToken?.accountId ?? null;
    const base = { namespace: issuer.snapshot.namespace, organization: issuer.snapshot.organization ?? null, client: clientId, subject, actor: subject ?? clientId ?? 'anonymous' };
    if (grantType === TOKEN_EXCHANGE) {
      const exchange = exchangeOf(ctx);
      if (ctx.status === 200 && exchange) {
        await this.options.audit.append({ ...base, action: 'token.exchanged', data: { grant: grantType, ...exchange } });
      } else {
        const failure = ctx.body as { error?: string; error_description?: string } | undefined;
        await this.options.audit.append({ ...base, action: 'token.refused', outcome: 'refused', data: { grant: grantType, error: failure?.error ?? String(ctx.status), reason: refusalOf(ctx) ?? failure?.error_description ?? '' } });
      }
      return;
    }
    if (ctx.status === 200) {
      // Scopes asked for but not granted (no policy allows them, or they need a second factor): the audit says which.
      const granted = new Set((body?.scope ?? '').split(' '));
      const dropped = String(oidc.params?.scope ?? '').split(' ').filter((scope) => scope && !granted.has(scope));
      await this.options.audit.append({ ...base, action: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued', data: { grant: grantType, scope: body?.scope ?? '', ...(dropped.length ? { dropped } : {}) } });
    } else {
      const reuse = grantType === 'refresh_token' && entities.RefreshToken?.consumed !== undefined && body?.error === 'invalid_grant';
      await this.options.audit.append({ ...base, action: reuse ? 'token.refresh-reuse-detected' : 'token.refused', outcome: 'refused', data: { grant: grantType, error: body?.error ?? String(ctx.status), ...(reuse ? { effect: 'grant revoked' } : {}) } });
    }
  }
}

/** Already allowed (http, https), or never a place for a form to go (script and local content). */
const NOT_APP_SCHEMES = new Set(['http:', 'https:', 'javascript:', 'vbscript:', 'data:', 'blob:', 'filesystem:', 'file:', 'about:']);

/** `com.example.app:` for each native client's private-use redirect scheme. */
function nativeSchemes(snapshot: IssuerSnapshot): string[] {
  const schemes = new Set<string>();
  for (const c of snapshot.clients) {
    for (const uri of [...(c.object.spec.redirectUris ?? []), ...(c.object.spec.postLogoutRedirectUris ?? [])]) {
      const scheme = URL.canParse(uri) ? new URL(uri).protocol : '';
      if (/^[a-z][a-z0-9+.-]*:$/.test(scheme) && !NOT_APP_SCHEMES.has(scheme)) schemes.add(scheme);
    }
  }
  return [...schemes];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * oidc-provider writes its endpoint URLs from the request's Host and scheme: pinned to the
 * issuer's own origin (PUBLIC_URL's, or the declared vanity host's), a forged Host header
 * never reaches discovery, redirects or form actions.
 */
function pinOrigin(ctx: Context, issuerUrl: string): void {
  const { host, protocol } = new URL(issuerUrl);
  if (ctx.req.headers.host !== host) ctx.req.headers.host = host;
  const scheme = protocol.slice(0, -1);
  if (ctx.protocol !== scheme) Object.defineProperty(ctx.request, 'protocol', { value: scheme, configurable: true });
}

/** The title and colour of the server's own pages at an issuer: its organization's, else the namespace's name. */
function pageBranding(snapshot: IssuerSnapshot): { title: string; primaryColor: string | undefined } {
  const org = snapshot.chain[0];
  return { title: org?.spec.displayName ?? snapshot.namespace, primaryColor: org?.spec.branding?.primaryColor };
}
