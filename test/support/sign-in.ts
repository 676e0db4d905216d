import * as oidc from 'openid-client';
import { Browser } from './browser.ts';
import type { TestServer } from './server.ts';
import { NS } from './objects.ts';

export const CALLBACK = 'http://127.0.0.1:9/callback';
const insecure = { execute: [oidc.allowInsecureRequests] };

/** Sets a directory user's password through the one-time link, as the user would. */
export async function setPassword(gh: TestServer, user: string, password: string): Promise<void> {
  const link = await gh.admin('POST', `/admin/v1/namespaces/${NS}/users/${user}/password-link`);
  if (link.status !== 201) throw new Error(`password link for ${user}: ${JSON.stringify(link.body)}`);
  const res = await new Browser().submit(link.body.url, { password });
  if (res.status !== 200) throw new Error(`setting the password of ${user}: ${res.status}`);
}

/** Signs a directory user in at an organization's issuer through a client (code + PKCE) and returns the token response. */
export async function signIn(gh: TestServer, org: string | undefined, client: string, secret: string, credentials: { email: string; password: string }, scope = 'openid email', params: Record<string, string> = {}): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  return signInAt(`${gh.url}/${NS}${org ? `/${org}` : ''}`, client, secret, credentials, scope, params);
}

/** The same, at any issuer URL; `transport` replaces fetch for the RP and the browser both (vanity hosts). */
export async function signInAt(issuer: string, client: string, secret: string, credentials: { email: string; password: string }, scope = 'openid email', params: Record<string, string> = {}, transport?: oidc.CustomFetch): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const browser = new Browser(transport ? (url, init) => transport(url, init as oidc.CustomFetchOptions) : undefined);
  return signInWith(browser, issuer, client, secret, credentials, scope, params, transport);
}

/** The same in `browser`, which keeps the session cookie for what the spec asks next. */
export async function signInWith(browser: Browser, issuer: string, client: string, secret: string, credentials: { email: string; password: string }, scope = 'openid email', params: Record<string, string> = {}, transport?: oidc.CustomFetch): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const config = await oidc.discovery(new URL(issuer), `${client}.${NS}`, secret, undefined, transport ? { ...insecure, [oidc.customFetch]: transport } : insecure);
  const submitted = await submitCredentials(browser, config, credentials, scope, params);
  if (submitted.posted.status !== 303 && submitted.posted.status !== 302) throw new Error(`sign-in refused: ${submitted.posted.status}`);
  return finishSignIn(browser, config, submitted);
}

export interface SubmittedSignIn {
  verifier: string;
  state: string;
  /** The sign-in page. */
  form: { url: string; res: Response };
  /** The answer to the credentials: a redirect when they were accepted, the refusal otherwise. */
  posted: Response;
}

/** A sign-in with PKCE up to the answer to the credentials, for specs that look at a refusal there. */
export async function submitCredentials(browser: Browser, config: oidc.Configuration, credentials: { email: string; password: string }, scope = 'openid email', params: Record<string, string> = {}): Promise<SubmittedSignIn> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...params });
  const form = await browser.follow(url.href, CALLBACK);
  const html = await form.res.text();
  if (form.res.status !== 200) throw new Error(`sign-in page: ${form.res.status}`);
  const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
  const posted = await browser.submit(new URL(action, form.url).href, credentials);
  return { verifier, state, form, posted };
}

/** The rest of a sign-in whose credentials were accepted: its redirect followed to the callback, and the code exchanged. */
export async function finishSignIn(browser: Browser, config: oidc.Configuration, { verifier, state, form, posted }: SubmittedSignIn): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href, CALLBACK);
  return oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier, expectedState: state });
}

/** Calls the admin API with any bearer token. */
export function adminAs(gh: TestServer, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any; type: string }> => {
    const res = await fetch(`${gh.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // NDJSON and other non-JSON bodies stay text
    }
    return { status: res.status, body: parsed, type: res.headers.get('content-type') ?? '' };
  };
}

/**
 * Opens `url` (a portal page) in `browser`, signing in on the way as a directory user with
 * `password` (the shared issuer asks for the address first: home-realm discovery); returns
 * the page it ends on.
 */
export async function openSignedIn(url: string, email: string, password: string, browser = new Browser()): Promise<{ browser: Browser; url: string; res: Response; html: string }> {
  const form = await browser.follow(url);
  let html = await form.res.text();
  if (!html.includes('name="password"')) {
    const first = /action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const next = await browser.follow(new URL(first, form.url).href, undefined, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ email }).toString() });
    html = await next.res.text();
    form.url = next.url;
  }
  const action = /action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  if (!action) throw new Error(`no sign-in form at ${form.url}: ${form.res.status} ${html.slice(0, 300)}`);
  const posted = await browser.submit(new URL(action, form.url).href, { email, password });
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href);
  return { browser, url: done.url, res: done.res, html: await done.res.text() };
}
