// What every page the server renders sends (clickjacking, referrer leaks, sniffing), whoever
// renders it: the broker, the sign-in and password pages, oidc-provider's error, sign-out and
// form_post pages, and the refusals. Also: no Host header of a request's choosing reaches a URL
// the server emits, and discovery and keys are cacheable.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { Browser } from '../../support/browser.ts';
import { loopbackFetch } from '../../support/loopback.ts';
import { CALLBACK, setPassword, signInAt } from '../../support/sign-in.ts';
import { PEER_KEYS } from '../../../demo/peers/saml-idp.ts';
import { API_CSP } from '../../../server/oidc/html.ts';

const PASSWORD = 'correct horse battery staple 42';
const NATIVE = 'com.forge.app:/callback';
let gh: TestServer;
let secret: string;
const issuer = () => `${gh.url}/${NS}/forge`;

function expectPageHeaders(res: Response, where: string): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([name, ...values]) => [name!, values]),
  );
  expect({ where, frameAncestors: directives.get('frame-ancestors'), defaultSrc: directives.get('default-src'), baseUri: directives.get('base-uri') }).toEqual({ where, frameAncestors: ["'none'"], defaultSrc: ["'none'"], baseUri: ["'none'"] });
  expect(directives.get('form-action')).toEqual(expect.arrayContaining(["'self'", 'https:']));
  expect(directives.get('script-src')?.includes("'unsafe-inline'")).toBe(false);
  expect({ where, xfo: res.headers.get('x-frame-options'), referrer: res.headers.get('referrer-policy'), nosniff: res.headers.get('x-content-type-options') }).toEqual({ where, xfo: 'DENY', referrer: 'no-referrer', nosniff: 'nosniff' });
}

/** A page: HTML, with the headers. */
async function expectPage(res: Response, where: string): Promise<string> {
  expect({ where, type: res.headers.get('content-type') }).toEqual({ where, type: expect.stringMatching(/^text\/html/) });
  expectPageHeaders(res, where);
  return res.text();
}

/** An authorization request of forge-web, up to the sign-in page. */
async function authorize(browser: Browser, params: Record<string, string> = {}): Promise<{ url: string; res: Response }> {
  const url = new URL(`${issuer()}/auth`);
  const q = { client_id: `forge-web.${NS}`, redirect_uri: CALLBACK, response_type: 'code', scope: 'openid email', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'abc', ...params };
  for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v);
  return browser.follow(url.href, CALLBACK);
}

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  // A connection routes only domains its organization owns: forge declares the SAML one too.
  await gh.put('organizations', organization('forge', { emailDomains: ['forge.example', 'saml.forge.example'] }));
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
  await gh.put('idpconnections', idp('forge-saml', 'forge', { type: 'saml', oidc: undefined, emailDomains: ['saml.forge.example'], saml: { entityId: 'https://idp.forge.example', ssoUrl: 'https://idp.forge.example/sso', certificate: PEER_KEYS.pinnacle.cert } }));
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], postLogoutRedirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('clients', client('forge-mobile', 'forge', { type: 'native', redirectUris: [NATIVE, 'javascript:alert(1)//', 'data:text/html,x'], scopes: ['openid', 'email'] }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`)).body.clientSecret;
  await gh.put('organizations', organization('harbor', { suspended: true }));
  await gh.put('organizations', organization('pinnacle', { network: { allowedCidrs: ['10.0.0.0/8'] } }));
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  await setPassword(gh, 'lena', PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('every page carries the page security headers', () => {
  it('a whole sign-in still works, and each page on the way carries them', async () => {
    const pages: string[] = [];
    const recording = async (url: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(url, init);
      if ((res.headers.get('content-type') ?? '').startsWith('text/html')) {
        expectPageHeaders(res, String(url));
        pages.push(String(url));
      }
      return res;
    };
    const tokens = await signInAt(issuer(), 'forge-web', secret, { email: 'lena@forge.example', password: PASSWORD }, 'openid email', {}, recording as oidc.CustomFetch);
    expect(tokens.access_token).toBeTruthy();
    expect(pages.length).toBeGreaterThan(0);
  });

  it('the sign-in page, a refused password, and the broker and SAML refusals', async () => {
    const browser = new Browser();
    const signInPage = await authorize(browser);
    const html = await expectPage(signInPage.res, 'sign-in page');
    const action = new URL(/action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&'), signInPage.url).href;
    const wrong = await browser.submit(action, { email: 'lena@forge.example', password: 'not the password' });
    expect(wrong.status).toBe(401);
    await expectPage(wrong, 'wrong password');
    await expectPage(await fetch(`${issuer()}/broker/forge-directory/callback?state=nope`), 'OIDC callback without a sign-in');
    const acs = await fetch(`${issuer()}/saml/forge-saml/acs`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: 'PHg+', RelayState: 'unknown' }) });
    expect(acs.status).toBe(400);
    await expectPage(acs, 'SAML ACS without a sign-in');
    // Without an interaction cookie this is a problem document, not a page: the headers all the same.
    expectPageHeaders(await fetch(`${issuer()}/interaction/nope/mfa`), 'MFA without a sign-in');
  });

  it("the password-link page, oidc-provider's error page and its sign-out page (whose one script the policy admits by hash)", async () => {
    await expectPage(await fetch(`${issuer()}/account/password?token=not-a-link`), 'password link');
    const error = await fetch(`${issuer()}/auth?client_id=unknown&response_type=code&scope=openid`);
    expect(error.status).toBe(400);
    await expectPage(error, 'authorization error');
    const logout = await fetch(`${issuer()}/session/end`);
    const html = await expectPage(logout, 'sign-out');
    const script = /<script>([^<]*)<\/script>/.exec(html)![1]!;
    const hash = `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
    const scriptSrc = logout.headers
      .get('content-security-policy')!
      .split(';')
      .find((d) => d.trim().startsWith('script-src'));
    expect(scriptSrc).toContain(hash);
  });

  it('the refusals of an organization that stands no more or of a network it does not sign in from, and the signed-out page', async () => {
    const harbor = await fetch(`${gh.url}/${NS}/harbor/auth?client_id=x`);
    expect(harbor.status).toBe(403);
    expect(await expectPage(harbor, 'suspended organization')).toContain('Access has ended');
    const pinnacle = await fetch(`${gh.url}/${NS}/pinnacle/auth?client_id=x`);
    expect(pinnacle.status).toBe(403);
    expect(await expectPage(pinnacle, 'outside the networks')).toContain('Not from this network');
    expect(await expectPage(await fetch(`${issuer()}/session/end/success`), 'signed out')).toContain('You have been signed out');
  });

  it("oidc-provider's form_post response carries them, its script admitted by hash", async () => {
    const browser = new Browser();
    const signInPage = await authorize(browser, { response_mode: 'form_post' });
    const html = await signInPage.res.text();
    const action = new URL(/action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&'), signInPage.url).href;
    const posted = await browser.submit(action, { email: 'lena@forge.example', password: PASSWORD });
    const done = await browser.follow(new URL(posted.headers.get('location')!, signInPage.url).href, CALLBACK);
    const page = await expectPage(done.res, 'form_post');
    expect(page).toContain(`action="${CALLBACK}"`);
    const script = /<script>([\s\S]*?)<\/script>/.exec(page)![1]!;
    expect(done.res.headers.get('content-security-policy')).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
  });

  it("lets pages post to the issuer's native apps' private-use schemes, and to no other", async () => {
    const csp = (await fetch(`${issuer()}/account/password?token=x`)).headers.get('content-security-policy')!;
    const formAction = csp.split(';').find((d) => d.trim().startsWith('form-action'))!;
    expect(formAction.trim().split(/\s+/)).toEqual(['form-action', "'self'", 'http:', 'https:', 'com.forge.app:']);
    const elsewhere = (await fetch(`${gh.url}/${NS}/account/password?token=x`)).headers.get('content-security-policy')!;
    expect(elsewhere).not.toContain('com.forge.app:');
  });

  it('JSON endpoints carry the API policy instead, on both paths: no framing, no sniffing, nothing to render', async () => {
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(`forge-web.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic };
    const asks: [string, RequestInit][] = [
      ['/.well-known/openid-configuration', {}],
      ['/.well-known/oauth-authorization-server', {}],
      ['/jwks', {}],
      ['/token', { method: 'POST', headers: form, body: 'grant_type=client_credentials' }],
      ['/token/introspection', { method: 'POST', headers: form, body: 'token=nothing' }],
      ['/token/revocation', { method: 'POST', headers: form, body: 'token=nothing' }],
      ['/me', { headers: { authorization: 'Bearer nothing' } }],
    ];
    // The first answer of each may come from the provider, the next from what it kept or the direct path.
    for (const [path, init] of asks) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${issuer()}${path}`, init);
        expect({ path, csp: res.headers.get('content-security-policy'), xfo: res.headers.get('x-frame-options'), nosniff: res.headers.get('x-content-type-options'), referrer: res.headers.get('referrer-policy') }).toEqual({ path, csp: API_CSP, xfo: 'DENY', nosniff: 'nosniff', referrer: null });
      }
    }
  });
});

describe("the issuer origin is never the request's to choose", () => {
  const forged = (path: string, headers: Record<string, string>, init: { method?: string; body?: URLSearchParams } = {}) => loopbackFetch(new URL(gh.url).port)(`http://${headers.host ?? new URL(gh.url).host}${path}`, { ...init, headers });

  it('discovery at a forged Host or X-Forwarded-Host names only PUBLIC_URL', async () => {
    const variants: Record<string, string>[] = [{ host: 'evil.example' }, { host: 'evil.example:8443' }, { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }, { host: 'evil.example', 'x-forwarded-host': 'evil.example' }];
    for (const headers of variants) {
      const res = await forged(`/${NS}/forge/.well-known/openid-configuration`, headers);
      expect(res.status).toBe(200);
      const meta = await res.json();
      const urls = Object.entries(meta).filter(([k, v]) => typeof v === 'string' && (k.endsWith('_endpoint') || k === 'issuer' || k === 'jwks_uri'));
      expect(urls.length).toBeGreaterThan(5);
      for (const [, v] of urls) expect(new URL(v as string).origin).toBe(gh.url);
    }
  });

  it('nor in the redirects and form actions of a sign-in, nor sign-out', async () => {
    const host = { host: 'evil.example' };
    const q = new URLSearchParams({ client_id: `forge-web.${NS}`, redirect_uri: CALLBACK, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    const auth = await forged(`/${NS}/forge/auth?${q}`, host);
    expect(auth.status).toBe(303);
    const location = auth.headers.get('location')!;
    expect(location).not.toContain('evil.example');
    const logout = await (await forged(`/${NS}/forge/session/end`, host)).text();
    expect(logout).not.toContain('evil.example');
    expect(logout).toContain(`action="${gh.url}/${NS}/forge/session/end/confirm"`);
  });
});

describe('caching', () => {
  it('discovery and keys are public for five minutes on both paths; token responses are never stored', async () => {
    for (let i = 0; i < 2; i++) {
      expect((await fetch(`${issuer()}/.well-known/openid-configuration`)).headers.get('cache-control')).toBe('public, max-age=300');
      expect((await fetch(`${issuer()}/jwks`)).headers.get('cache-control')).toBe('public, max-age=300');
    }
    const token = await fetch(`${issuer()}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }), headers: { authorization: `Basic ${Buffer.from(`forge-web.${NS}:${secret}`).toString('base64')}` } });
    expect(token.headers.get('cache-control')).toBe('no-store');
  });
});
