import type { RequestListener } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { adminRouter } from './admin/routes.ts';
import { ObjectService } from './objects/service.ts';
import { problemMiddleware } from './http/problems.ts';
import { AdminTokenVerifier } from './governance/admin-tokens.ts';
import { RefusalAudit } from './audit/refusals.ts';
import { AuditWriter } from './audit/writer.ts';
import { auditAppender } from './audit/thread-appender.ts';
import { ClientSecrets } from './clients/secrets.ts';
import type { Clock } from './clock.ts';
import { ConfigEvents } from './events.ts';
import { passkeyAssets } from './passkeys/assets.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './observability/metrics.ts';
import { observeRequests } from './observability/requests.ts';
import { auditKey } from './audit/chain.ts';
import { checkpointHead } from './audit/head-checkpoint.ts';
import { SigningKeys } from './oidc/keys.ts';
import { rotateNamespaceKey } from './oidc/key-rotation.ts';
import { IssuerRegistry } from './issuers/registry.ts';
import { pageHeaders } from './oidc/html.ts';
import type { Sealer } from './secrets/sealer.ts';
import type { Store } from './store/index.ts';
import { createPasswordLink } from './users/links.ts';
import { Broker } from './broker/broker.ts';
import { UpstreamSecrets, secretRoutes } from './broker/secrets.ts';
import { BrokerSweeper } from './broker/sweeper.ts';
import { ScimService } from './scim/service.ts';
import { withScimStatus } from './scim/status.ts';
import { ScimTokens } from './scim/tokens.ts';
import { withConnectionStatus } from './broker/readiness.ts';
import { changeContext } from './http/provenance.ts';
import { AdminGuard } from './governance/guard.ts';
import type { BlockList } from 'node:net';
import { clientAddress, networksOf } from './oidc/admission.ts';
import { LifecycleMonitor } from './governance/lifecycle.ts';
import { PrincipalResolver } from './governance/principals.ts';
import { Readiness } from './readiness.ts';
import { FederationSetup } from './federation-setup/setup.ts';
import { federationSetupRoutes } from './federation-setup/routes.ts';
import { governanceService } from './governance/service.ts';
import { portalMiddleware } from './portal/portal.ts';
import { accessRequestService } from './governance/access-request-routes.ts';
import { GeoLocator } from './risk/geo.ts';
import { DeviceCookies } from './risk/device.ts';
import { RiskEngine } from './risk/engine.ts';
import { SmtpChannel } from './notifications/channels.ts';
import { NotificationDispatcher } from './notifications/dispatcher.ts';

export interface AppOptions {
  store: Store;
  clock: Clock;
  publicUrl: string;
  logger: Logger;
  sealer: Sealer;
  bodyLimit?: number;
  /** How often changes made by other replicas are looked for (ms). */
  pollMs?: number;
  /** Issuers kept at once (default 20,000; the benchmarks set it). */
  maxIssuers?: number;
  /** Issuers whose oidc-provider is kept live at once (default 1,000; the benchmarks set it). */
  maxProviders?: number;
  /** CIDR blocks of the reverse proxies in front of the server, whose X-Forwarded-For is believed (GATEHOUSE_TRUSTED_PROXIES). */
  trustedProxies?: readonly string[];
  /** Where token, sign-in, audit and store figures are counted (served by `serveMetrics`); none when unset. */
  metrics?: Metrics;
  /** Fetches SAML IdP metadata declared by URL (tests replace it). */
  fetchMetadata?: (url: string) => Promise<string>;
  /** What /readyz waits for besides the store (the embedded controller's first pass); one is made when not given. */
  readiness?: Readiness;
  /** The MaxMind-format country database (GATEHOUSE_GEOIP_DB); the shipped one when unset. */
  geoipDb?: string;
  /** Partner administrators' IdP setup: `allowLoopbackHttp` lets it read http IdPs on 127.0.0.1 (tests, the demo; never in production). */
  federationSetup?: { allowLoopbackHttp?: boolean };
  /** Delivery of the notification outbox (docs/notifications.md). */
  notifications?: {
    /** GATEHOUSE_SMTP_URL: `smtp://user:pass@host:port` or `smtps://…`; unset, messages are held (admin API, CLI, `onHeld`). */
    smtpUrl?: string | undefined;
    /** GATEHOUSE_MAIL_FROM. */
    from?: string | undefined;
    leaseMs?: number;
    backoffMs?: number;
    /** Where a held message's subject and link are printed (the console of `npm start`). */
    onHeld?: (line: string) => void;
    /** The webhook channel may POST to http on loopback (tests, the demo). */
    allowLoopbackHttp?: boolean;
  };
}

export interface GatehouseApp {
  app: Koa;
  /** What to serve: the Koa app, with the issuers' hot endpoints answered without it (IssuerRegistry.direct). */
  callback: RequestListener;
  objects: ObjectService;
  verifier: AdminTokenVerifier;
  clientSecrets: ClientSecrets;
  keys: SigningKeys;
  issuers: IssuerRegistry;
  audit: AuditWriter;
  /** Audits refused tokens and redirect URIs, rate-limited; `close()` it before `audit` to write pending counts. */
  refusals: RefusalAudit;
  broker: Broker;
  upstreamSecrets: UpstreamSecrets;
  /** Emits contract-ending, contract-ended and certification-overdue audit events once each; `start()` it in a long-running server. */
  lifecycle: LifecycleMonitor;
  /** Deletes expired pending broker sign-ins and SAML replay-cache rows; `start()` it in a long-running server, `await stop()` before closing the store. */
  sweeper: BrokerSweeper;
  /** /readyz answers 503 while it waits for something, and from `stop()` on. */
  readiness: Readiness;
  /** Guided IdP setup (portal and admin API): drafts, test sign-ins, enabling. */
  federationSetup: FederationSetup;
  /** Adaptive access: the risk engine and the clients it suspended. */
  risk: RiskEngine;
  /** Sends the notification outbox; `start()` it in a long-running server, `await stop()` before closing the store. */
  notifications: NotificationDispatcher;
}

export const DEFAULT_MAIL_FROM = 'Gatehouse <gatehouse@localhost>';

/** The trusted proxies as a BlockList; a block that cannot be read stops the server from starting. */
function trustedProxyList(cidrs: readonly string[]): BlockList {
  const { list, unreadable } = networksOf(cidrs);
  if (unreadable.length) throw new Error(`GATEHOUSE_TRUSTED_PROXIES: ${unreadable.map((c) => `"${c}"`).join(', ')} ${unreadable.length === 1 ? 'is not a CIDR block' : 'are not CIDR blocks'} such as "10.0.0.0/8"`);
  return list;
}

/** The Koa application: health, the admin API, and the OpenID Connect issuers. */
export function createApp(options: AppOptions): GatehouseApp {
  const { store, logger, clock, sealer, metrics } = options;
  const app = new Koa();
  app.proxy = false;
  // oidc-provider signs its cookies with the keys of the app it is mounted in.
  app.keys = [sealer.derive('cookie signing v1')];
  // Before anything appends: from its next record on, the audit chain is keyed.
  store.useAuditKey(auditKey((purpose) => sealer.derive(purpose)));
  const events = new ConfigEvents();
  const objects = new ObjectService({
    store,
    clock,
    events,
    get publicUrl() {
      return options.publicUrl;
    },
  });
  const verifier = new AdminTokenVerifier(store);
  const clientSecrets = new ClientSecrets({ store, sealer, clock, events });
  const keys = new SigningKeys({ store, sealer, clock, events });
  const audit = new AuditWriter({ store, clock, appender: auditAppender(store, logger), ...(metrics ? { metrics } : {}) });
  const refusals = new RefusalAudit({ append: (entry) => audit.append(entry), clock });
  const proxies = options.trustedProxies?.length ? trustedProxyList(options.trustedProxies) : undefined;
  const upstreamSecrets = new UpstreamSecrets({ store, sealer, clock });
  // Read at start: a GATEHOUSE_GEOIP_DB that cannot be read stops the server, not its first request.
  const geo = new GeoLocator(options.geoipDb).open();
  const risk = new RiskEngine({ store, clock, audit, geo, logger, ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}) });
  audit.onAppend((entry) => risk.observe(entry));
  const devices = new DeviceCookies(sealer.derive('device cookie v1'));
  const untrusted = { allowLoopbackHttp: options.federationSetup?.allowLoopbackHttp ?? false };
  const broker = new Broker({ store, clock, audit, sealer, secrets: upstreamSecrets, publicUrl: () => options.publicUrl, untrusted, trustedProxies: proxies, risk, devices, ...(options.fetchMetadata ? { fetchMetadata: options.fetchMetadata } : {}) });
  const federationSetup = new FederationSetup({ store, clock, objects, secrets: upstreamSecrets, audit, broker, publicUrl: () => options.publicUrl, fetch: untrusted });
  broker.drafts = federationSetup;
  const scimTokens = new ScimTokens({ store, clock, publicUrl: () => options.publicUrl });
  const scim = new ScimService({ store, clock, tokens: scimTokens, refusals, addressOf: (req) => clientAddress(req, proxies), metrics, logger });
  const issuers = new IssuerRegistry({
    broker,
    scim,
    store,
    clock,
    keys,
    secrets: clientSecrets,
    audit,
    events,
    logger,
    cookieKeys: app.keys,
    publicUrl: () => options.publicUrl,
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.maxIssuers !== undefined ? { maxIssuers: options.maxIssuers } : {}),
    ...(options.maxProviders !== undefined ? { maxProviders: options.maxProviders } : {}),
    refusals,
    ...(proxies ? { trustedProxies: proxies } : {}),
    geo,
    risk,
    recoveryKey: sealer.derive('notification recipient v1'),
  });

  const health = new Router();
  health.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  const readiness = options.readiness ?? new Readiness();
  health.get('/readyz', async (ctx) => {
    const state = readiness.state();
    if (state.stopping) {
      ctx.status = 503;
      ctx.body = { status: 'stopping', reason: 'the server is shutting down' };
      return;
    }
    if (!state.ready) {
      ctx.status = 503;
      ctx.body = { status: 'not ready', waitingFor: state.waitingFor };
      return;
    }
    try {
      await store.driver.all('SELECT 1 AS ok');
      ctx.body = { status: 'ready', store: store.driver.dialect };
    } catch {
      metrics?.storeErrors.inc({ operation: 'readiness' });
      ctx.status = 503;
      ctx.body = { status: 'not ready', reason: 'the store does not answer' };
    }
  });

  const publicUrl = () => options.publicUrl;
  const resolver = new PrincipalResolver({ store, clock, keys, verifier, publicUrl });
  const guard = new AdminGuard({ store, clock, resolver, refusals, addressOf: (req) => clientAddress(req, proxies) });
  const lifecycle = new LifecycleMonitor({ store, clock, logger });
  const sweeper = new BrokerSweeper({ store, clock, logger });
  const mail = options.notifications;
  const notifications = new NotificationDispatcher({
    store,
    clock,
    logger,
    smtp: mail?.smtpUrl ? new SmtpChannel(mail.smtpUrl, mail.from ?? DEFAULT_MAIL_FROM) : undefined,
    secret: (namespace, ref) => upstreamSecrets.value(namespace, ref),
    pseudonymKey: sealer.derive('notification recipient v1'),
    ...(mail?.leaseMs !== undefined ? { leaseMs: mail.leaseMs } : {}),
    ...(mail?.backoffMs !== undefined ? { backoffMs: mail.backoffMs } : {}),
    ...(mail?.onHeld ? { onHeld: mail.onHeld } : {}),
    fetch: { allowLoopbackHttp: mail?.allowLoopbackHttp ?? false },
  });
  const admin = adminRouter({
    store,
    objects,
    verifier,
    guard,
    clock,
    publicUrl,
    clientSecrets,
    connectionStatus: async (object) => withScimStatus(await withConnectionStatus(object, { secrets: upstreamSecrets, samlIdp: (c) => broker.upstreams.saml.idp(c), now: () => clock.now() }), store),
    scimTokens,
    rotateKeys: (namespace, publishAheadSeconds) => rotateNamespaceKey({ repo: store, keys }, namespace, publishAheadSeconds),
    auditCheckpoint: (namespace) => checkpointHead({ store, keys, clock }, namespace),
    passwordLink: (namespace, user, context) => createPasswordLink({ store, clock, publicUrl: options.publicUrl }, namespace, user, context),
    risk,
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
  });

  app.use(pageHeaders());
  app.use(
    problemMiddleware((error, ctx) => {
      metrics?.requestErrors.inc();
      logger.error(`${ctx.method} ${ctx.path} failed`, error);
    }),
  );
  metrics?.gauge('gatehouse_issuer_cache_size', 'Issuers cached in this process.', () => issuers.cacheSize);
  metrics?.gauge('gatehouse_issuer_providers_live', 'Issuers whose oidc-provider is live in this process.', () => issuers.liveProviders);
  const passwordLink = (namespace: string, user: string, context: Parameters<typeof createPasswordLink>[3]) => createPasswordLink({ store, clock, publicUrl: options.publicUrl }, namespace, user, context);
  // Before the issuers: the portal's paths sit under an organization's issuer path.
  app.use(
    portalMiddleware({
      store,
      clock,
      guard,
      resolver,
      sealer,
      clientSecrets,
      publicUrl,
      governance: governanceService({ store, clock, guard, objects, publicUrl, passwordLink }),
      federationSetup,
      passkeys: broker.passkeys,
      accessRequests: accessRequestService({ store, clock, guard }),
      vanityOf: (ctx) => issuers.vanityOf(ctx),
    }),
  );
  app.use(passkeyAssets(() => new URL(options.publicUrl).pathname.replace(/\/+$/, '')));
  app.use(issuers.middleware());
  app.use(health.routes());
  // Upstream secrets belong to the workspace: no partner administrator may read their names or attach one.
  const authenticate = guard.authenticate();
  const workspaceAdmin: Koa.Middleware = (ctx, next) =>
    authenticate(ctx, async () => {
      await guard.require(ctx, 'objects.write', { namespace: String(ctx.params?.namespace ?? ''), organization: null });
      await next();
    });
  const secrets = secretRoutes(upstreamSecrets, workspaceAdmin, changeContext, options.bodyLimit);
  app.use(secrets.routes());
  app.use(federationSetupRoutes(federationSetup, guard, options.bodyLimit).routes());
  app.use(admin.routes());
  app.use(admin.allowedMethods({ throw: false }));
  // Without a listener Koa prints the stack of an error met after the answer began (a client
  // gone mid-body: Node's "Parse Error") to stderr, outside the JSON log; the request's own log
  // line already says it was aborted.
  app.on('error', (error: Error & { code?: string }, ctx?: Koa.Context) => {
    if (ctx?.req.destroyed || error.code === 'ECONNRESET' || error.code?.startsWith('HPE_')) logger.debug(`${ctx?.method} ${ctx?.path}: the client went away (${error.message})`);
    else logger.error(ctx ? `${ctx.method} ${ctx.path} failed` : 'request failed', error);
  });
  const koa = app.callback();
  const callback: RequestListener = observeRequests((req, res) => {
    if (!issuers.direct(req, res)) void koa(req, res);
  }, logger);
  return { app, callback, objects, verifier, clientSecrets, keys, issuers, audit, refusals, broker, upstreamSecrets, lifecycle, sweeper, readiness, federationSetup, risk, notifications };
}
