import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { Context, Middleware, Next } from 'koa';
import mount from 'koa-mount';
import { issuerPath } from '../../api/index.ts';
import { withProblems } from '../http/problems.ts';
import type { RefusalAudit } from '../audit/refusals.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Broker } from '../broker/broker.ts';
import type { ClientSecrets } from '../clients/secrets.ts';
import type { Clock } from '../clock.ts';
import type { ConfigEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { ScimService } from '../scim/service.ts';
import type { Store } from '../store/index.ts';
import { admissionRules } from '../oidc/admission.ts';
import { allowFormSchemes, nativeSchemes, setApiHeaders, setPageHeaders } from '../oidc/html.ts';
import { handleInteraction, LoginLimiter } from '../oidc/interactions.ts';
import type { SigningKeys } from '../oidc/keys.ts';
import { buildProvider } from '../oidc/provider.ts';
import { snapshotOf } from '../oidc/snapshot.ts';
import { ApiAuthorizer } from './authorize.ts';
import { IssuerCache } from './cache.ts';
import Koa from 'koa';
import { IssuerGates, pinOrigin, type Pipeline } from './gates.ts';
import { Issuer, ProviderPool, type ProviderHalf } from './issuer.ts';
import { answerDocument, IssuerMetadata } from './metadata.ts';
import { replayOf } from '../http/replay.ts';
import { ClientCredentialsGrant, isClientCredentials, readTokenBody, type TokenRequest } from '../oidc/client-credentials.ts';
import type { ClaimsDropped } from '../oidc/machine.ts';
import { IssuerResolution } from './resolution.ts';
import { NamespaceViews } from './views.ts';
import type { GeoLocator } from '../risk/geo.ts';
import type { RiskEngine } from '../risk/engine.ts';
import { directRoutes, ISSUER_ROUTES, RouteIndex, type PageHandler } from './routes.ts';

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
  /**
   * Issuers kept at once (what their gates read; their providers apart, below); the least
   * recently used is dropped beyond this (bench/README.md, "Issuers at scale").
   */
  maxIssuers?: number;
  /**
   * Issuers whose oidc-provider is kept live at once; beyond this the least recently used one
   * lets its provider go, to be built again (~0.6 ms) when a request needs it. One costs ~60–90 KiB.
   */
  maxProviders?: number;
  /** How often other replicas' changes are looked for in the store. */
  pollMs?: number;
  /** The federation broker: email-first sign-in, upstream IdPs, step-up. */
  broker?: Broker;
  /** SCIM provisioning at `{issuer}/scim/v2/`. */
  scim?: ScimService;
  /** Proxies whose X-Forwarded-For is believed when an organization's networks are checked. */
  trustedProxies?: BlockList;
  /** Where refused bearer tokens (userinfo) and unregistered redirect URIs are audited, rate-limited per source. */
  refusals?: RefusalAudit;
  /** Places client addresses in countries (geo-fencing). */
  geo?: GeoLocator;
  /** Scores grants, keeps suspended clients (server/risk/engine.ts). */
  risk?: RiskEngine;
  /** Keys addresses in the audit of self-service password resets; without it `/password/forgot` is not offered. */
  recoveryKey?: string;
}

/** The issuer and route of a request handed to the registry's own app (a property, not a WeakMap entry per request). */
const HANDED = Symbol('gatehouse.handed');
type Handed = IncomingMessage & { [HANDED]?: { issuer: Issuer; pipeline: Pipeline; rest: string } };

/** The server's own routes, never an issuer's. */
const SERVER_ROUTE = /^\/(admin\/|healthz$|readyz$)/;
/** The direct path's endpoints (see IssuerRegistry.direct), from the route table. */
const DIRECT_ROUTES = directRoutes();

/**
 * Serves one OpenID Connect issuer per organization (`/{namespace}/{organization}`) and one
 * per namespace for shared applications (`/{namespace}`): each an oidc-provider built on
 * first use from the store, kept in a bounded cache, and rebuilt when its namespace's
 * configuration version moves (a change here, or on another replica) or its keys rotate.
 *
 * A request goes: resolution (path or vanity Host → issuer, resolution.ts), the issuer cache
 * (cache.ts), then its route's pipeline from the route table (routes.ts): the gates before
 * the handler, the handler (a page, or the provider), the gates after it (gates.ts). Token
 * endpoints may skip the Koa app (`direct`); the provider runs the same pipeline either way.
 */
export class IssuerRegistry {
  private readonly options: Required<Omit<RegistryOptions, 'maxIssuers' | 'maxProviders' | 'pollMs' | 'broker' | 'scim' | 'trustedProxies' | 'refusals' | 'geo' | 'risk' | 'recoveryKey'>> & {
    maxIssuers: number;
    maxProviders: number;
    pollMs: number;
    broker?: Broker;
    scim?: ScimService;
    trustedProxies?: BlockList;
    refusals?: RefusalAudit;
    recoveryKey?: string;
  };
  private readonly resolution: IssuerResolution;
  private readonly issuers: IssuerCache<Issuer>;
  /** Each namespace's declarations, read once per version for all its issuers. */
  private readonly views: NamespaceViews;
  private readonly limiter: LoginLimiter;
  /** Self-service password resets: 3 per address and 20 per client address in 15 minutes (this replica's count). */
  private readonly recovery: { perAddress: LoginLimiter; perClient: LoginLimiter; pseudonymKey: string } | undefined;
  private readonly gates: IssuerGates;
  private readonly authorizer: ApiAuthorizer;
  /** Each route's gates, composed once. */
  private readonly routes: RouteIndex<Pipeline>;
  /** The issuers whose provider is live. */
  private readonly pool: ProviderPool;
  private readonly metadata = new IssuerMetadata();
  private built = 0;
  private issuersMade = 0;
  /** Answers the direct path's requests that no provider answers (`own` rows), as `own()` does on the server's app. */
  private readonly ownApp = new Koa();
  private readonly ownCallback: (req: IncomingMessage, res: ServerResponse) => Promise<void>;

  constructor(options: RegistryOptions) {
    this.options = { maxIssuers: 20_000, maxProviders: 1_000, pollMs: 1000, ...options };
    this.pool = new ProviderPool(this.options.maxProviders);
    this.limiter = new LoginLimiter(options.clock);
    this.recovery = options.recoveryKey ? { perAddress: new LoginLimiter(options.clock, 3), perClient: new LoginLimiter(options.clock, 20), pseudonymKey: options.recoveryKey } : undefined;
    this.gates = new IssuerGates({ store: options.store, clock: options.clock, audit: options.audit, trustedProxies: options.trustedProxies, refusals: options.refusals, geo: options.geo, risk: options.risk });
    this.authorizer = new ApiAuthorizer({ store: options.store, clock: options.clock, audit: options.audit, trustedProxies: options.trustedProxies, refusals: options.refusals, geo: options.geo });
    this.routes = new RouteIndex(ISSUER_ROUTES, (route) => this.gates.pipeline(route));
    this.views = new NamespaceViews(options.store);
    this.resolution = new IssuerResolution({ store: options.store, publicUrl: options.publicUrl, pollMs: this.options.pollMs, organizations: async (namespace, version) => (await this.views.get(namespace, version)).organizations });
    this.issuers = new IssuerCache<Issuer>({
      maxIssuers: this.options.maxIssuers,
      version: (namespace) => this.resolution.version(namespace),
      now: () => options.clock.now(),
      build: (namespace, organization, vanity) => this.build(namespace, organization, vanity),
      carry: (issuer) => this.carry(issuer),
      dropped: (issuer) => issuer.release(),
    });
    options.events.on('changed', () => this.resolution.expire());
    this.ownApp.proxy = false;
    this.ownApp.use(async (ctx) => {
      const { issuer, pipeline, rest } = (ctx.req as Handed)[HANDED]!;
      if (await this.own(ctx, issuer, pipeline, rest)) return;
      // Not ours after all (another grant, a document not kept yet): the provider answers it, from what was read of it.
      ctx.respond = false;
      providerFor(issuer, pipeline).direct(ctx.req, ctx.res);
    });
    this.ownApp.on('error', (error: Error, ctx?: Context) => this.options.logger.debug(`${ctx?.method} ${ctx?.path}: ${error.message}`));
    this.ownCallback = this.ownApp.callback();
  }

  middleware(): Middleware {
    return async (ctx, next) => {
      // Served first (token requests are the hot path), so the server's own routes are let through untouched.
      if (SERVER_ROUTE.test(ctx.path)) return next();
      const { resolution } = this;
      if (resolution.pollDue()) await this.poll();
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

  /**
   * The organization issuer whose declared vanity host a request came in on (its path and
   * origin), for the server's own pages served on those hosts (the portal).
   */
  async vanityOf(ctx: Context): Promise<{ path: string; origin: string } | undefined> {
    if (this.resolution.pollDue()) await this.poll();
    const vanity = await this.resolution.vanityOf(ctx);
    return vanity ? { path: vanity.path, origin: vanity.origin } : undefined;
  }

  /**
   * Polls the store's configuration versions. On a move, each namespace's view is advanced by
   * what changed, and each issuer left behind is carried to it when nothing it read changed, or
   * dropped at once (and built again when next asked for).
   */
  private async poll(): Promise<void> {
    if (!(await this.resolution.poll())) return;
    const { views, resolution } = this;
    // A view that cannot be read now leaves its issuers to be dropped, and built when asked for.
    await Promise.all(views.namespaces().map((namespace) => views.get(namespace, resolution.version(namespace)).catch(() => undefined)));
    this.issuers.prune((issuer) => {
      const view = views.settled(issuer.snapshot.namespace);
      return view !== undefined && views.carry(issuer.snapshot, view);
    });
  }

  /** Carries an issuer to its namespace's view at the version last polled, when nothing it read changed (carry.ts). */
  private async carry(issuer: Issuer): Promise<boolean> {
    const { namespace } = issuer.snapshot;
    return this.views.carry(issuer.snapshot, await this.views.get(namespace, this.resolution.version(namespace)));
  }

  /** Drops every built issuer (tests, and key rotation by hand). */
  invalidateAll(): void {
    this.issuers.clear();
    this.views.clear();
    this.resolution.expire();
  }

  /** Issuers cached (built or being built), for the issuer-cache gauge. */
  get cacheSize(): number {
    return this.issuers.size;
  }

  /** Issuers whose oidc-provider is live, for its gauge. */
  get liveProviders(): number {
    return this.pool.size;
  }

  /** oidc-providers built since the start (each issuer's first, and each one built again after the pool let it go). */
  get providersBuilt(): number {
    return this.built;
  }

  /** Issuers built since the start (each one's first build, and each build after its configuration changed). */
  get issuersBuilt(): number {
    return this.issuersMade;
  }

  /** The issuer of an organization (undefined: the namespace's shared one) on PUBLIC_URL, if it is built and current; nothing is built or read. */
  builtIssuer(namespace: string, organization: string | undefined): Issuer | undefined {
    return this.issuers.current(this.resolution.canonicalUrl(namespace, organization), namespace);
  }

  /** Issuers are cached by their identifier: an organization's canonical issuer and each of its vanity issuers apart. */
  private issuer(namespace: string, organization: string | undefined, vanity?: string): Promise<Issuer | undefined> {
    const key = vanity ?? this.resolution.canonicalUrl(namespace, organization);
    return this.issuers.get(key, namespace, organization, vanity);
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
    const issuer = this.issuers.current(resolution.canonicalUrl(resolved.namespace, resolved.organization), resolved.namespace);
    if (!issuer) return false;
    // The provider finds its mount path as Express's would be found: originalUrl less url.
    Object.assign(req, { originalUrl: url, url: url.slice(path.length - resolved.rest.length) });
    const pipeline = this.routes.match(resolved.rest);
    if (pipeline.route.own) {
      (req as Handed)[HANDED] = { issuer, pipeline, rest: resolved.rest };
      void this.ownCallback(req, res);
    } else issuer.direct(req, res);
    return true;
  }

  /**
   * Answers a request of an `own` row without the issuer's provider where it can, through the
   * route's gates as the provider's own middleware runs them; false leaves it to the provider
   * (`ctx.req` then perhaps a replay of what was read of the request).
   */
  private async own(ctx: Context, issuer: Issuer, pipeline: Pipeline, rest: string): Promise<boolean> {
    const { route } = pipeline;
    if (ctx.method !== route.methods[0]) return false;
    if (route.own === 'metadata') {
      const document = this.metadata.of(issuer, route.name);
      if (document === undefined) return false;
      await this.answerOwn(ctx, issuer, pipeline, rest, async () => {
        answerDocument(ctx, document);
        ctx.oidc = { route: route.name, entities: {} };
      });
      return true;
    }
    // The client_credentials grant, at an organization's issuer; any other grant is the provider's.
    if (issuer.snapshot.organization === undefined) return false;
    const body = await readTokenBody(ctx.req);
    const request: TokenRequest = { headers: ctx.req.headers, body };
    // Decided before any gate runs, so that the gates run once, here or in the provider. A body
    // that could not be read is refused here as the provider refuses it.
    if (body !== undefined && (!isClientCredentials(request) || this.grantOf(issuer).leaves(request))) {
      ctx.req = ctx.request.req = replayOf(ctx.req, body);
      return false;
    }
    const grant = this.grantOf(issuer);
    await this.answerOwn(ctx, issuer, pipeline, rest, async () => {
      const answered = await grant.answer(request);
      if (!answered) throw new Error('the client_credentials grant left a request it had taken');
      if (answered.error !== undefined) this.reportOwn(answered.error, ctx);
      for (const name in answered.headers) ctx.set(name, answered.headers[name]!);
      ctx.status = answered.status;
      ctx.body = answered.body;
      ctx.oidc = answered.oidc;
    });
    return true;
  }

  /** An answer of our own, under the API header policy, problem+json and the route's gates, as the provider's middleware runs them. */
  private answerOwn(ctx: Context, issuer: Issuer, pipeline: Pipeline, rest: string, answer: () => Promise<void>): Promise<void> {
    setApiHeaders(ctx.res);
    return withProblems(ctx, () => this.gates.run(ctx, answer, issuer, pipeline, rest), this.reportOwn);
  }

  private grantOf(issuer: Issuer): ClientCredentialsGrant {
    let { grant } = issuer;
    if (!grant) {
      const { clock } = this.options;
      grant = new ClientCredentialsGrant({ snapshot: issuer.snapshot, ring: issuer.ring, issuer: issuer.url, clock, onClaimsDropped: this.claimsDropped(issuer.snapshot.namespace) });
      issuer.grant = grant;
    }
    return grant;
  }

  /** A claim left out of a token because the Workspace's claimSchema does not admit its value: audited, never the value. */
  private claimsDropped(namespace: string): ClaimsDropped {
    return async ({ claims, client, subject, organization, token }) => {
      await this.options.audit.append({ action: 'token.claims-dropped', actor: subject ?? client, namespace, organization: organization ?? null, client, subject: subject ?? null, data: { claims, token, reason: "the value does not fit the Workspace's claimSchema" } });
    };
  }

  /** Logs a failure of an answer of our own (the request's URL as it came, whichever path it took). */
  private readonly reportOwn = (error: unknown, ctx: Context): void => this.options.logger.error(`${ctx.method} ${(ctx.req as { originalUrl?: string }).originalUrl ?? ctx.originalUrl} failed`, error);

  private report(issuer: Issuer): (error: unknown, ctx: Context) => void {
    return (error, ctx) => this.options.logger.error(`${ctx.method} ${issuer.snapshot.path}${ctx.path} failed`, error);
  }

  /** An issuer's parts, read from the store; its provider is built when a request first needs it (`provide`). */
  private async build(namespace: string, organization: string | undefined, vanity: string | undefined): Promise<Issuer | undefined> {
    const { secrets, keys, clock } = this.options;
    const view = await this.views.get(namespace, this.resolution.version(namespace));
    const snapshot = await snapshotOf(view, secrets, organization);
    if (!snapshot) return undefined;
    this.issuersMade++;
    const alg = snapshot.workspace?.spec.signingAlgorithm ?? 'ES256';
    // One ring per namespace: its keys are imported once, not once per organization.
    const ring = await this.views.keyRing(view, alg, () => keys.keyRing(namespace, alg), clock.now());
    const url = vanity ?? this.resolution.canonicalUrl(namespace, organization);
    const admission = admissionRules(snapshot.organization ? snapshot.effective : undefined);
    for (const problem of admission.problems) this.options.logger.error(`issuer ${snapshot.path}: ${problem}`);
    const parts = { snapshot, ring, url, admission, admitUser: this.gates.userAdmission(snapshot), formSchemes: nativeSchemes(snapshot.clients) };
    return new Issuer(parts, this.pool, (issuer) => this.provide(issuer));
  }

  /** An issuer's oidc-provider, with the route's gates inside it: the mounted and the direct paths answer alike. */
  private provide(issuer: Issuer): ProviderHalf {
    const { store, clock } = this.options;
    const { snapshot, ring, url } = issuer;
    const { namespace } = snapshot;
    this.built++;
    const provider = buildProvider(snapshot, ring, {
      store,
      clock,
      issuer: url,
      admitsUser: issuer.admitUser,
      cookieKeys: this.options.cookieKeys,
      onJwtIssued: (issuer, jti, grantId, expiresAt) => store.accessTokens.record(issuer, jti, grantId, expiresAt),
      onClaimsDropped: this.claimsDropped(namespace),
    });
    provider.on('server_error', (_ctx, error) => this.options.logger.error(`issuer ${snapshot.path}`, error));
    // The header policy, problem+json for errors, then the route's gates around the provider's
    // handler: one middleware, not three (each costs another async frame per request). A
    // metadata document it answers is kept, to be answered again without it.
    const report = this.report(issuer);
    const { gates, routes, metadata } = this;
    provider.use((ctx, next) => {
      const pipeline = routes.match(ctx.path);
      const { route } = pipeline;
      if (route.api) setApiHeaders(ctx.res);
      else setPageHeaders(ctx.res);
      const answered = withProblems(ctx, () => gates.run(ctx, next, issuer, pipeline), report);
      if (route.own !== 'metadata') return answered;
      return answered.then(() => {
        if (ctx.status === 200 && ctx.method === 'GET') metadata.remember(issuer, route.name, ctx);
      });
    });
    // Both copy the provider's middleware list: made after it is complete.
    return { provider, mounted: mount(snapshot.path, provider), direct: provider.callback() };
  }

  /** On the server's Koa app: a page's gates and the page, else the provider (whose own middleware runs the route's gates). */
  private async serve(ctx: Context, next: Next, issuer: Issuer, rest: string): Promise<void> {
    pinOrigin(ctx, issuer.origin);
    allowFormSchemes(ctx, issuer.formSchemes);
    const pipeline = this.routes.match(rest);
    if (pipeline.route.handler === 'page') {
      if (await this.gates.before(ctx, issuer, rest, pipeline)) return;
      if (await this.page(ctx, issuer, rest, pipeline.route.pages ?? [])) return;
    }
    if (pipeline.route.own && (await this.own(ctx, issuer, pipeline, rest))) return;
    await providerFor(issuer, pipeline).mounted(ctx, next);
  }

  /** The route's pages (the broker's, the sign-in and password pages); false when none answers `rest`. */
  private async page(ctx: Context, issuer: Issuer, rest: string, pages: readonly PageHandler[]): Promise<boolean> {
    const { snapshot } = issuer;
    const { broker, scim } = this.options;
    if (pages.includes('authorize')) return this.authorizer.handle(ctx, issuer, rest);
    if (scim && pages.includes('scim') && (await scim.handle(ctx, rest, snapshot, issuer.url))) return true;
    const admitUser = snapshot.organization ? undefined : issuer.admitUser;
    const brokered = { provider: issuer.provider, snapshot, url: issuer.url, ...(admitUser ? { admitUser } : {}) };
    if (broker && pages.includes('broker') && (await broker.handle(ctx, rest, brokered))) return true;
    if (!pages.includes('sign-in')) return false;
    return handleInteraction(ctx, rest, issuer.provider, snapshot, {
      store: this.options.store,
      clock: this.options.clock,
      audit: this.options.audit,
      limiter: this.limiter,
      publicUrl: this.options.publicUrl,
      trustedProxies: this.options.trustedProxies,
      ...(admitUser ? { admitUser } : {}),
      ...(broker ? { complete: broker.completer(brokered), passkeyOffer: broker.passkeyOffer(brokered), device: (c: Context) => broker.device(c, snapshot) } : {}),
      ...(this.recovery ? { recovery: this.recovery } : {}),
    });
  }
}

/**
 * Which provider answers what an `own` row left to it: a metadata document not kept yet is
 * answered by a passing provider (it is kept after), anything else by the issuer's pooled one.
 */
function providerFor(issuer: Issuer, pipeline: Pipeline): ProviderHalf | Issuer {
  return pipeline.route.own === 'metadata' ? issuer.passing() : issuer;
}
