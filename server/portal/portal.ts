import type { Context, Middleware, Next } from 'koa';
import * as oidc from 'openid-client';
import { dnsLabel, type ClientObject, type OrganizationObject, type WorkspaceObject } from '../../api/index.ts';
import { Problem } from '../errors.ts';
import { escapeHtml } from '../oidc/html.ts';
import { readForm } from '../oidc/forms.ts';
import { ADMIN_CONSOLE_ANNOTATION, type PrincipalResolver } from '../governance/principals.ts';
import type { Principal } from '../governance/policy.ts';
import type { Sealer } from '../secrets/sealer.ts';
import { paletteOf } from './contrast.ts';
import { PORTAL_CSS, PORTAL_JS, csrfField, layout, securityHeaders, themeCss, type Layout } from './layout.ts';
import type { PortalPage, PortalPrincipal, PortalRequest, PortalServices } from './page.ts';
import { PortalSessions, csrfMatches, type PortalScope, type Session } from './session.ts';
import { PORTAL_PAGES } from './pages/index.ts';
import { OVERVIEW_ROLES, serveWorkspace } from './pages/workspace.ts';

export interface PortalOptions extends PortalServices {
  sealer: Sealer;
  resolver: PrincipalResolver;
  /** The organization issuer whose vanity host a request came in on (IssuerRegistry.vanityOf). */
  vanityOf(ctx: Context): Promise<{ path: string; origin: string } | undefined>;
  /** Replaces fetch for the portal's own calls to the issuer (discovery, token): tests. */
  fetch?: oidc.CustomFetch;
}

/** Where a request landed: one organization's portal, or the workspace overview. */
interface Located {
  namespace: string;
  /** undefined: the workspace overview (`/{namespace}/portal`). */
  organization: string | undefined;
  /** The portal's base URL as the browser sees it, and its path. */
  baseUrl: string;
  base: string;
  /** What follows the base: '' or '/users/…'. */
  rest: string;
}

const ORG_PORTAL = /^\/([^/]+)\/([^/]+)\/portal(\/.*)?$/;
const WORKSPACE_PORTAL = /^\/([^/]+)\/portal(\/.*)?$/;
const VANITY_PORTAL = /^\/portal(\/.*)?$/;
const label = (s: string) => dnsLabel.safeParse(s).success;

/** Messages a redirect may show: fixed texts, so a link cannot make the portal say anything else. */
export const NOTICES: Record<string, string> = {
  deactivated: 'The user is deactivated; their sessions and tokens have ended.',
  reactivated: 'The user can sign in again.',
  erased: 'The user is removed and their personal data erased.',
  'mfa-reset': 'Two-step verification is reset: the user enrols again at the next sign-in.',
  roles: 'The roles are changed.',
  certified: 'The organization is certified.',
  'signed-out': 'You are signed out.',
  'sso-saved': 'The draft is saved. Register the endpoints shown at your identity provider, then test it.',
  'sso-enabled': 'Sign-in through your identity provider is on.',
  'sso-deleted': 'The draft is deleted.',
  'sso-disabled': 'The connection is turned off: its users sign in as before it was set up.',
  'passkey-added': 'Your passkey is added.',
  'passkey-renamed': 'The passkey is renamed.',
  'passkey-removed': 'The passkey is removed.',
  'request-approved': 'The access request is approved.',
  'request-denied': 'The access request is denied.',
  'request-revoked': 'The approval is revoked.',
  'request-conflict': 'The request was decided meanwhile, or is not in a state that allows this.',
  'request-invalid': 'That was not a valid decision: check the duration (e.g. 30d).',
};

/**
 * The partner portal: `/{namespace}/{organization}/portal` (and `/portal` on the
 * organization's vanity hosts), signed in through the organization's own issuer with its
 * admin-console client, and `/{namespace}/portal`, the workspace portal (the overview for
 * workspace administrators, and the access requests a workspace user named as an approver
 * decides), signed in through the namespace's shared issuer. Pages are in pages/.
 */
export function portalMiddleware(options: PortalOptions): Middleware {
  const sessions = new PortalSessions(options.sealer, () => options.clock.now());
  const { store } = options;
  const insecure = () => options.publicUrl().startsWith('http:');

  const organizationOf = async (namespace: string, name: string) => (await store.objects.get('Organization', namespace, name))?.object as OrganizationObject | undefined;
  const workspaceOf = async (namespace: string) => (await store.objects.list({ kind: 'Workspace', namespace }))[0]?.object as WorkspaceObject | undefined;

  async function locate(ctx: Context): Promise<Located | undefined> {
    const root = options.publicUrl().replace(/\/+$/, '');
    const rootPath = new URL(root).pathname.replace(/\/+$/, '');
    const vanity = await options.vanityOf(ctx);
    if (vanity) {
      const m = VANITY_PORTAL.exec(ctx.path);
      if (!m) return undefined;
      const [, namespace, organization] = vanity.path.split('/');
      return { namespace: namespace!, organization: organization!, baseUrl: `${vanity.origin}/portal`, base: '/portal', rest: m[1] ?? '' };
    }
    if (!ctx.path.startsWith(`${rootPath}/`)) return undefined;
    const path = ctx.path.slice(rootPath.length);
    const org = ORG_PORTAL.exec(path);
    if (org && label(org[1]!) && label(org[2]!) && (await organizationOf(org[1]!, org[2]!))) {
      const base = `/${org[1]}/${org[2]}/portal`;
      return { namespace: org[1]!, organization: org[2]!, baseUrl: `${root}${base}`, base: `${rootPath}${base}`, rest: org[3] ?? '' };
    }
    const ws = WORKSPACE_PORTAL.exec(path);
    // An organization named "portal" keeps its issuer's path.
    if (ws && label(ws[1]!) && !(await organizationOf(ws[1]!, 'portal')) && (await workspaceOf(ws[1]!))) {
      const base = `/${ws[1]}/portal`;
      return { namespace: ws[1]!, organization: undefined, baseUrl: `${root}${base}`, base: `${rootPath}${base}`, rest: ws[2] ?? '' };
    }
    return undefined;
  }

  const scopeOf = (at: Located): PortalScope => ({ key: at.organization ? `${at.namespace}/${at.organization}` : at.namespace, path: at.base, secure: at.baseUrl.startsWith('https:') });

  interface Brand {
    title: string;
    logo: string | undefined;
    palette: ReturnType<typeof paletteOf>;
  }
  async function brandOf(at: Located): Promise<Brand> {
    const ws = await workspaceOf(at.namespace);
    if (!at.organization) return { title: `${ws?.spec.displayName ?? at.namespace} · workspace`, logo: undefined, palette: paletteOf(undefined) };
    const org = await organizationOf(at.namespace, at.organization);
    const template = org?.spec.templateRef ? ((await store.objects.get('OrganizationTemplate', at.namespace, org.spec.templateRef.name))?.object as { spec: { branding?: OrganizationObject['spec']['branding'] } } | undefined) : undefined;
    const branding = { ...template?.spec.branding, ...org?.spec.branding };
    return { title: org?.spec.displayName ?? at.organization, logo: branding.logo, palette: paletteOf(branding) };
  }

  const html = (ctx: Context, status: number, body: string) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };

  /** A page outside a session (sign-in problems, signed out): branded, no navigation. */
  async function plain(ctx: Context, at: Located, status: number, heading: string, body: string, extra: Partial<Layout> = {}) {
    const brand = await brandOf(at);
    html(ctx, status, layout({ base: at.base, title: brand.title, logo: brand.logo, nav: [], ...extra }, heading, body));
  }

  /** The admin-console client of this portal: annotated, of this organization (or the workspace), its callback registered. */
  async function consoleClient(at: Located): Promise<{ object: ClientObject; clientId: string; secret: string | undefined } | undefined> {
    const callback = `${at.baseUrl}/callback`;
    const clients = (await store.objects.list({ kind: 'Client', namespace: at.namespace })).map((c) => c.object as ClientObject);
    const found = clients.find((c) => c.metadata.annotations?.[ADMIN_CONSOLE_ANNOTATION] === 'true' && c.spec.organizationRef?.name === at.organization && (c.spec.redirectUris ?? []).includes(callback));
    if (!found) return undefined;
    const secret = found.spec.type === 'web' || found.spec.type === undefined ? await options.clientSecrets.current(at.namespace, found.metadata.name) : undefined;
    return { object: found, clientId: `${found.metadata.name}.${at.namespace}`, secret };
  }

  async function configuration(at: Located, client: { clientId: string; secret: string | undefined }): Promise<oidc.Configuration> {
    const root = options.publicUrl().replace(/\/+$/, '');
    // The organization's canonical issuer, also from a vanity host: the server reaches itself at PUBLIC_URL.
    const issuer = new URL(`${root}/${at.namespace}${at.organization ? `/${at.organization}` : ''}`);
    return oidc.discovery(issuer, client.clientId, client.secret, client.secret ? oidc.ClientSecretPost(client.secret) : oidc.None(), {
      ...(insecure() ? { execute: [oidc.allowInsecureRequests] } : {}),
      ...(options.fetch ? { [oidc.customFetch]: options.fetch } : {}),
    });
  }

  const notSetUp = (at: Located) =>
    `<p>This portal has no sign-in client yet. A workspace administrator declares one in git or Pulumi:</p>
<pre class="card mono">kind: Client
metadata:
  name: ${escapeHtml(at.organization ?? 'workspace')}-portal
  annotations:
    ${ADMIN_CONSOLE_ANNOTATION}: "true"
spec:
${at.organization ? `  organizationRef: {name: ${escapeHtml(at.organization)}}\n` : ''}  type: web
  scopes: [openid, email]
  redirectUris: [${escapeHtml(`${at.baseUrl}/callback`)}]
  postLogoutRedirectUris: [${escapeHtml(`${at.baseUrl}/signed-out`)}]</pre>`;

  async function signIn(ctx: Context, at: Located) {
    const client = await consoleClient(at);
    if (!client || (client.object.spec.type !== 'web' && client.object.spec.type !== undefined && client.object.spec.type !== 'spa') || (client.object.spec.type !== 'spa' && !client.secret)) {
      return plain(ctx, at, 503, 'Portal not set up', notSetUp(at));
    }
    const config = await configuration(at, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const next = typeof ctx.query.next === 'string' && ctx.query.next.startsWith('/') && !ctx.query.next.startsWith('//') ? ctx.query.next : '';
    sessions.beginLogin(ctx, scopeOf(at), { verifier, state, nonce, next });
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: `${at.baseUrl}/callback`, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
    ctx.status = 303;
    ctx.redirect(url.href);
  }

  /** Who the portal's session is, as the admin API would see its token; refusals as a page. */
  async function resolve(ctx: Context, at: Located, token: string): Promise<{ principal: Extract<Principal, { kind: 'user' }> } | { status: number; detail: string }> {
    const resolution = await options.resolver.resolve(token);
    if (!('principal' in resolution)) return { status: resolution.status, detail: resolution.detail };
    const { principal } = resolution;
    // The portal of one organization is for that organization's own users only; the overview for workspace administrators.
    if (principal.kind !== 'user' || principal.namespace !== at.namespace || principal.organization !== (at.organization ?? null)) {
      return { status: 403, detail: at.organization ? `this portal is for administrators of ${at.organization} only` : 'the workspace overview is for workspace administrators only' };
    }
    // Any role: administrators read the overview, and a workspace user named as an approver decides its access requests (pages/workspace.ts).
    if (!at.organization && principal.roles.length === 0) return { status: 403, detail: 'the workspace portal is for workspace users holding a role only' };
    void ctx;
    return { principal };
  }

  async function audit(at: Located, action: 'portal.signed-in' | 'portal.signed-out' | 'portal.refused', actor: string, data: Record<string, unknown>) {
    await store.transaction((repo) => repo.audit.append({ action, actor, namespace: at.namespace, organization: at.organization ?? null, ...(action === 'portal.refused' ? { outcome: 'refused' as const } : {}), data: { source: 'portal', ...data } }, options.clock.now()));
  }

  async function callback(ctx: Context, at: Located) {
    const scope = scopeOf(at);
    const login = sessions.login(ctx, scope);
    sessions.endLogin(ctx, scope);
    if (!login) return plain(ctx, at, 400, 'Sign-in expired', `<p>This sign-in took too long or was started elsewhere.</p><p><a href="${escapeHtml(`${at.base}/sign-in`)}">Sign in again</a></p>`);
    const client = await consoleClient(at);
    if (!client) return plain(ctx, at, 503, 'Portal not set up', notSetUp(at));
    let tokens: oidc.TokenEndpointResponse;
    try {
      const config = await configuration(at, client);
      const current = new URL(`${at.baseUrl}/callback${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce });
    } catch (error) {
      const message = error instanceof oidc.AuthorizationResponseError ? (error.error_description ?? error.error) : 'the sign-in could not be completed';
      return plain(ctx, at, 400, 'Sign-in failed', `<p class="error">${escapeHtml(message)}</p><p><a href="${escapeHtml(`${at.base}/sign-in`)}">Try again</a></p>`);
    }
    const resolved = await resolve(ctx, at, tokens.access_token);
    if (!('principal' in resolved)) {
      await audit(at, 'portal.refused', 'anonymous', { reason: resolved.detail });
      return plain(ctx, at, 403, 'Not allowed', `<p class="error">${escapeHtml(resolved.detail)}.</p><p>The portal is for your organization's administrators. If you should be one, ask them to give you a role.</p>`);
    }
    const now = options.clock.now();
    const expiresAt = Math.min(now + (tokens.expires_in ?? 600) * 1000, now + 8 * 3600_000);
    sessions.begin(ctx, scope, tokens.access_token, resolved.principal.userId, expiresAt);
    await audit(at, 'portal.signed-in', resolved.principal.actor, { client: client.clientId });
    ctx.status = 303;
    ctx.redirect(login.next?.startsWith(`${at.base}/`) ? login.next : `${at.base}/`);
  }

  /**
   * Signing out of the portal ends the issuer's session too (RP-initiated logout), so the next
   * sign-in on a shared computer asks for the password again; that needs the signed-out page
   * among the client's postLogoutRedirectUris. Without it, only the portal's session ends.
   */
  async function signOutUrl(at: Located): Promise<string> {
    const signedOut = `${at.baseUrl}/signed-out`;
    const client = await consoleClient(at);
    if (!client || !(client.object.spec.postLogoutRedirectUris ?? []).includes(signedOut)) return `${at.base}/signed-out`;
    const root = options.publicUrl().replace(/\/+$/, '');
    const end = new URL(`${root}/${at.namespace}${at.organization ? `/${at.organization}` : ''}/session/end`);
    end.search = new URLSearchParams({ client_id: client.clientId, post_logout_redirect_uri: signedOut }).toString();
    return end.href;
  }

  function navFor(at: Located, principal: PortalPrincipal, current: string) {
    return PORTAL_PAGES.filter((p) => p.nav && allowed(p, principal))
      .sort((a, b) => a.nav!.order - b.nav!.order)
      .map((p) => ({ label: p.nav!.label, href: `${at.base}/${p.path}`, current: p.path === current }));
  }
  const allowed = (page: PortalPage, principal: PortalPrincipal) => !page.roles || page.roles.some((r) => principal.roles.includes(r));

  async function serve(ctx: Context, at: Located) {
    const rest = at.rest.replace(/^\/+/, '');
    const scope = scopeOf(at);
    // Public: assets and the sign-in round trip.
    if (ctx.method === 'GET' && rest === 'assets/portal.css') return asset(ctx, 'text/css', PORTAL_CSS, 'public, max-age=3600');
    if (ctx.method === 'GET' && rest === 'assets/portal.js') return asset(ctx, 'application/javascript', PORTAL_JS, 'public, max-age=3600');
    if (ctx.method === 'GET' && rest === 'assets/theme.css') return asset(ctx, 'text/css', themeCss((await brandOf(at)).palette), 'no-cache');
    if (ctx.method === 'GET' && rest === 'sign-in') return signIn(ctx, at);
    if (ctx.method === 'GET' && rest === 'callback') return callback(ctx, at);
    if (ctx.method === 'GET' && rest === 'signed-out') return plain(ctx, at, 200, 'Signed out', `<p class="notice" role="status">You are signed out of the portal.</p><p><a class="button" href="${escapeHtml(`${at.base}/sign-in`)}">Sign in again</a></p>`);

    const session = sessions.session(ctx, scope);
    if (!session) {
      if (ctx.method !== 'GET') return plain(ctx, at, 403, 'Session expired', `<p class="error">Your session has expired. Nothing was changed.</p><p><a href="${escapeHtml(`${at.base}/sign-in`)}">Sign in again</a></p>`);
      ctx.status = 303;
      return ctx.redirect(`${at.base}/sign-in?next=${encodeURIComponent(ctx.path + (ctx.querystring ? `?${ctx.querystring}` : ''))}`);
    }
    let form = new URLSearchParams();
    if (ctx.method === 'POST') {
      form = await readForm(ctx);
      // Every POST carries the session's token; a cross-site form cannot read it. Same-origin is checked too when the browser says.
      const site = ctx.get('sec-fetch-site');
      if (!csrfMatches(session, form.get('_csrf')) || (site && site !== 'same-origin' && site !== 'none')) {
        return plain(ctx, at, 403, 'Request refused', '<p class="error">This form was not sent from the portal (its security token is missing or wrong). Nothing was changed. Reload the page and try again.</p>');
      }
    } else if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      return;
    }
    const resolved = await resolve(ctx, at, session.accessToken);
    if (!('principal' in resolved)) {
      sessions.end(ctx, scope);
      if (resolved.status === 401 && ctx.method === 'GET') {
        ctx.status = 303;
        return ctx.redirect(`${at.base}/sign-in`);
      }
      return plain(ctx, at, resolved.status, 'Not allowed', `<p class="error">${escapeHtml(resolved.detail)}.</p><p><a href="${escapeHtml(`${at.base}/sign-in`)}">Sign in again</a></p>`);
    }
    const state = ctx.state as { principal?: Principal; actor?: string; changeSource?: string };
    state.principal = resolved.principal;
    state.actor = resolved.principal.actor;
    state.changeSource = 'portal';

    if (rest === 'sign-out' && ctx.method === 'POST') {
      sessions.end(ctx, scope);
      await audit(at, 'portal.signed-out', resolved.principal.actor, {});
      ctx.status = 303;
      return ctx.redirect(await signOutUrl(at));
    }

    const brand = await brandOf(at);
    const signedIn = { subject: resolved.principal.userId, csrf: session.csrf };
    const notice = typeof ctx.query.notice === 'string' ? NOTICES[ctx.query.notice] : undefined;

    const [first = '', ...more] = rest.split('/').map((s) => decodeURIComponent(s));
    const redirect: PortalRequest['redirect'] = (path, noticeKey) => {
      ctx.status = 303;
      ctx.redirect(`${at.base}/${path}${noticeKey ? `${path.includes('?') ? '&' : '?'}notice=${encodeURIComponent(noticeKey)}` : ''}`);
    };
    const url = (path = '') => `${at.base}/${path}`;
    const rendering =
      (nav: Layout['nav']): PortalRequest['render'] =>
      (heading, body, o = {}) =>
        html(ctx, o.status ?? 200, layout({ base: at.base, title: brand.title, logo: brand.logo, nav, signedIn, notice: o.notice ?? notice, error: o.error }, heading, body));
    const problemPage = (render: PortalRequest['render'], back: string) => (error: unknown) => {
      if (!(error instanceof Problem)) throw error;
      render(error.status === 403 ? 'Not allowed' : 'Not possible', `<p class="error" role="alert">${escapeHtml(error.message)}</p><p><a href="${escapeHtml(back)}">Back</a></p>`, { status: error.status });
    };

    if (!at.organization) {
      const { roles } = resolved.principal;
      const nav = [...(roles.some((r) => OVERVIEW_ROLES.includes(r)) ? [{ label: 'Organizations', href: url(), current: first === '' }] : []), { label: 'Access requests', href: url('access-requests'), current: first === 'access-requests' }];
      const render = rendering(nav);
      return serveWorkspace({ ctx, services: options, url, render, redirect, rest: [first, ...more].filter((s, i) => i > 0 || s !== ''), form, csrfField: csrfField(session.csrf), namespace: at.namespace, subject: resolved.principal.userId, roles }).catch(problemPage(render, url(first)));
    }

    const principal: PortalPrincipal = { namespace: at.namespace, organization: at.organization, subject: resolved.principal.userId, roles: resolved.principal.roles };
    const page = PORTAL_PAGES.find((p) => p.path === first);
    const render = rendering(navFor(at, principal, first));
    if (!page) return render('Not found', '<p>There is no such page in the portal.</p>', { status: 404 });
    if (!allowed(page, principal)) return render('Not allowed', `<p class="error">Your role${principal.roles.length === 1 ? '' : 's'} (${escapeHtml(principal.roles.join(', '))}) may not open this page.</p>`, { status: 403 });
    const handler = ctx.method === 'POST' ? page.post : page.get;
    if (!handler) {
      ctx.status = 405;
      return;
    }
    const organization = (await organizationOf(at.namespace, at.organization))!;
    const request: PortalRequest = {
      ctx,
      principal,
      organization,
      services: options,
      rest: more,
      form,
      base: at.base,
      baseUrl: at.baseUrl,
      url,
      csrfField: csrfField(session.csrf),
      render,
      redirect,
    };
    await handler(request).catch(problemPage(render, url(first)));
  }

  function asset(ctx: Context, type: string, body: string, cache: string) {
    ctx.type = type;
    ctx.set('Cache-Control', cache);
    ctx.body = body;
  }

  return async (ctx: Context, next: Next) => {
    // Most requests (tokens, the admin API) are not the portal's: no store or vanity lookup for them.
    if ((ctx.method !== 'GET' && ctx.method !== 'POST' && ctx.method !== 'HEAD') || !ctx.path.includes('/portal')) return next();
    const at = await locate(ctx);
    if (!at) return next();
    securityHeaders(ctx);
    await serve(ctx, at);
  };
}

export type { Session };
