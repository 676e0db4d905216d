import type { Configuration } from 'oidc-provider';

/**
 * Checks a request passes before its handler, in this order. `standing`: an organization that
 * stands no more (suspended, contract ended) is refused, answered as `IssuerRoute.standing`
 * says. `network` and `rate`: the organization's declared `network` and `limits` (403 and 429,
 * audited; `network` also the declared countries). `risk`: a client the risk engine suspended
 * is refused (400 unauthorized_client). `origin`: the Host and scheme the provider writes URLs from are the issuer's own.
 */
export type Gate = 'standing' | 'network' | 'rate' | 'risk' | 'origin';

/**
 * What runs once the provider has answered (its `ctx.oidc.route` must be the row's `name`).
 * `confidential-only`: a public client's introspection or revocation is refused (401).
 * `introspect-jwt` / `revoke-jwt`: JWT access tokens, which the provider keeps none of, are
 * introspected and revoked here (audited). `audit-token`: every token decision is audited.
 * `audit-refusal`: refused bearer tokens and unregistered redirect URIs go to the refusal
 * audit. `cache-public`: metadata may be cached for five minutes. `risk`: the risk engine
 * scores the grant (server/risk/engine.ts); a denied one is answered with an error instead
 * of its tokens, and a client over `suspendClient` is paused.
 */
export type AfterGate = 'confidential-only' | 'introspect-jwt' | 'revoke-jwt' | 'risk' | 'audit-token' | 'audit-refusal' | 'cache-public';

/**
 * How an organization that stands no more is answered: `token` 400 invalid_grant and
 * `introspection` `{active: false}` (POST only; a CORS preflight passes), `bearer` 401
 * invalid_token, `page` a 403 page, `scim` a 403 SCIM error (RFC 7644 §3.12).
 */
export type StandingAnswer = 'token' | 'introspection' | 'bearer' | 'page' | 'scim';

export type PageHandler = 'broker' | 'sign-in' | 'authorize' | 'scim';

type ProviderRouteKey = keyof NonNullable<Configuration['routes']>;

export interface IssuerRoute {
  /** oidc-provider's name of the route (`ctx.oidc.route`), or the page's. */
  name: string;
  /** Relative to the issuer; a path ending in `/` matches every path below it. */
  path: string;
  /** The methods its handler answers (a CORS preflight, OPTIONS, goes through the same gates). */
  methods: readonly string[];
  /** `provider`: an oidc-provider endpoint; `page`: the server's own pages (`pages`), else the provider. */
  handler: 'provider' | 'page';
  /**
   * Which of the server's pages may answer, tried in this order: `broker` (email-first sign-in,
   * upstream IdP callbacks and SAML ACS/metadata, second factor: server/broker), `sign-in`
   * (the password sign-in and password pages: interactions.ts), `authorize` (the authorization
   * decision endpoint: authorize.ts), `scim` (SCIM provisioning: server/scim). None answering: the provider.
   */
  pages?: readonly PageHandler[];
  /** The key of oidc-provider's `routes` configuration this path is passed as. */
  configures?: ProviderRouteKey;
  /** The direct path (not through the server's Koa app) may answer it, for its first method, once the issuer is built. */
  direct?: true;
  /**
   * Answered without the issuer's oidc-provider where it can be, for its first method:
   * `metadata`, the document the provider last answered here (discovery per issuer, JWKS per
   * key ring), which depends on nothing but the issuer's configuration and keys;
   * `client-credentials`, the client_credentials grant at an organization's issuer
   * (server/oidc/client-credentials.ts). Anything else goes to the provider, through the same gates.
   */
  own?: 'metadata' | 'client-credentials';
  /** Answers programs with JSON, not browsers with pages: the API header policy instead of the page one (oidc/html.ts). */
  api?: true;
  gates: readonly Gate[];
  /** Set when `gates` has `standing`. */
  standing?: StandingAnswer;
  after?: readonly AfterGate[];
  /** How a network or rate refusal is rendered: a page for browsers, SCIM error JSON for provisioning clients, else OAuth-style JSON. */
  refusal?: 'page' | 'scim';
}

/**
 * Every endpoint of an issuer and what it passes through: the one place that says which are
 * gated by what. oidc-provider's `routes`, the direct path's set and each route's gates are
 * read from it. Endpoints outside `network` and `rate` are metadata that resource servers
 * fetch, introspection and revocation that they call on the partner's tokens, and sign-out,
 * which only ever ends access. Paths matched by no row go through UNMATCHED.
 */
export const ISSUER_ROUTES: readonly IssuerRoute[] = [
  { name: 'discovery', path: '/.well-known/openid-configuration', methods: ['GET'], handler: 'provider', direct: true, own: 'metadata', api: true, gates: ['origin'], after: ['cache-public'] },
  { name: 'discovery', path: '/.well-known/oauth-authorization-server', methods: ['GET'], handler: 'provider', api: true, gates: ['network', 'rate', 'origin'], after: ['cache-public'] },
  { name: 'jwks', path: '/jwks', methods: ['GET'], handler: 'provider', configures: 'jwks', direct: true, own: 'metadata', api: true, gates: ['origin'], after: ['cache-public'] },
  { name: 'token', path: '/token', methods: ['POST'], handler: 'provider', configures: 'token', direct: true, own: 'client-credentials', api: true, gates: ['standing', 'network', 'rate', 'risk', 'origin'], standing: 'token', after: ['risk', 'audit-token'] },
  { name: 'introspection', path: '/token/introspection', methods: ['POST'], handler: 'provider', configures: 'introspection', direct: true, api: true, gates: ['standing', 'origin'], standing: 'introspection', after: ['confidential-only', 'introspect-jwt'] },
  { name: 'revocation', path: '/token/revocation', methods: ['POST'], handler: 'provider', configures: 'revocation', direct: true, api: true, gates: ['origin'], after: ['confidential-only', 'revoke-jwt'] },
  { name: 'userinfo', path: '/me', methods: ['GET', 'POST'], handler: 'provider', configures: 'userinfo', api: true, gates: ['standing', 'network', 'rate', 'origin'], standing: 'bearer', after: ['audit-refusal'] },
  { name: 'authorization', path: '/auth', methods: ['GET', 'POST'], handler: 'provider', configures: 'authorization', gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', after: ['audit-refusal'], refusal: 'page' },
  { name: 'resume', path: '/auth/', methods: ['GET'], handler: 'provider', gates: ['network', 'rate', 'origin'] },
  { name: 'pushed_authorization_request', path: '/request', methods: ['POST'], handler: 'provider', configures: 'pushed_authorization_request', gates: ['network', 'rate', 'origin'] },
  { name: 'end_session', path: '/session/end', methods: ['GET', 'POST'], handler: 'provider', configures: 'end_session', gates: ['origin'] },
  { name: 'end_session_confirm', path: '/session/end/confirm', methods: ['POST'], handler: 'provider', gates: ['origin'] },
  { name: 'end_session_success', path: '/session/end/success', methods: ['GET'], handler: 'provider', gates: ['origin'] },
  { name: 'end_session', path: '/session/end/', methods: [], handler: 'provider', gates: ['origin'] },
  { name: 'interaction', path: '/interaction/', methods: ['GET', 'POST'], handler: 'page', pages: ['broker', 'sign-in'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  { name: 'broker', path: '/broker/', methods: ['GET'], handler: 'page', pages: ['broker'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  { name: 'saml', path: '/saml/', methods: ['GET', 'POST'], handler: 'page', pages: ['broker'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  // The account's home (who is signed in, links to the pages below, sign-out), and where the account client's sign-in comes back.
  { name: 'account_home', path: '/account', methods: ['GET'], handler: 'page', pages: ['broker'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  // A signed-in user's passkeys (list, rename, remove, add): the broker's page, under the issuer's session.
  { name: 'account_passkeys', path: '/account/passkeys', methods: ['GET', 'POST'], handler: 'page', pages: ['broker'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  { name: 'password_forgot', path: '/password/forgot', methods: ['GET', 'POST'], handler: 'page', pages: ['sign-in'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  { name: 'account_password', path: '/account/password', methods: ['GET', 'POST'], handler: 'page', pages: ['sign-in'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'page', refusal: 'page' },
  // The authorization decision endpoint for API gateways. Its caller is the gateway, not the
  // partner: standing and the organization's networks are judged inside the decision, for the
  // token's organization and the forwarded client address, and answered as a deny.
  { name: 'authorize', path: '/authorize', methods: ['POST'], handler: 'page', pages: ['authorize'], gates: ['origin'] },
  // Every method: Envoy's check request carries the forwarded request's.
  { name: 'ext_authz', path: '/ext-authz/', methods: [], handler: 'page', pages: ['authorize'], gates: ['origin'] },
  { name: 'ext_authz', path: '/ext-authz', methods: [], handler: 'page', pages: ['authorize'], gates: ['origin'] },
  // SCIM provisioning by the organization's IdPs: an organization that stands no more is provisioned no more.
  { name: 'scim', path: '/scim/v2/', methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], handler: 'page', pages: ['scim'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'scim', refusal: 'scim' },
  { name: 'scim', path: '/scim/v2', methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], handler: 'page', pages: ['scim'], gates: ['standing', 'network', 'rate', 'origin'], standing: 'scim', refusal: 'scim' },
  // No page answers below /account/ but the password and passkey pages: the provider's 404, refused as a page.
  { name: 'account', path: '/account/', methods: [], handler: 'page', pages: [], gates: ['network', 'rate', 'origin'], refusal: 'page' },
];

/** Any other path under an issuer: the provider answers it (404), after the organization's network and rate. */
export const UNMATCHED: IssuerRoute = { name: 'unmatched', path: '*', methods: [], handler: 'provider', gates: ['network', 'rate', 'origin'] };

/** oidc-provider's `routes` configuration, every path in it from the table. */
export function providerRoutes(routes: readonly IssuerRoute[] = ISSUER_ROUTES): NonNullable<Configuration['routes']> {
  const out: Partial<Record<ProviderRouteKey, string>> = {};
  for (const r of routes) if (r.configures) out[r.configures] = r.path;
  return out as NonNullable<Configuration['routes']>;
}

/** The endpoints the direct path may answer: path relative to the issuer → method. */
export function directRoutes(routes: readonly IssuerRoute[] = ISSUER_ROUTES): Map<string, string> {
  return new Map(routes.filter((r) => r.direct).map((r) => [r.path, r.methods[0]!]));
}

/**
 * Finds a path's row without allocating: exact paths first, then the longest prefix, else
 * UNMATCHED. `T` is what was made of each row (its pipeline).
 */
export class RouteIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly prefixes: { path: string; value: T }[] = [];
  private readonly fallback: T;

  constructor(routes: readonly IssuerRoute[], make: (route: IssuerRoute) => T) {
    for (const r of routes) {
      const value = make(r);
      if (r.path.endsWith('/')) this.prefixes.push({ path: r.path, value });
      else if (!this.exact.has(r.path)) this.exact.set(r.path, value);
      else throw new Error(`issuer route ${r.path} is declared twice`);
    }
    this.prefixes.sort((a, b) => b.path.length - a.path.length);
    this.fallback = make(UNMATCHED);
  }

  match(path: string): T {
    const found = this.exact.get(path);
    if (found !== undefined) return found;
    for (let i = 0; i < this.prefixes.length; i++) if (path.startsWith(this.prefixes[i]!.path)) return this.prefixes[i]!.value;
    return this.fallback;
  }
}
