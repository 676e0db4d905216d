import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { Browser } from '../../support/browser.ts';
import { CALLBACK, setPassword } from '../../support/sign-in.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';

const PASSWORD = 'a long enough password';
const insecure = { execute: [oidc.allowInsecureRequests] };
let gh: TestServer;
let secret: string;
const shared = () => oidc.discovery(new URL(`${gh.url}/${NS}`), `portal.${NS}`, secret, undefined, insecure);

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace());
  for (const org of ['cascade', 'forge']) {
    await gh.put('organizations', organization(org));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  }
  await gh.put('clients', client('portal', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
  await gh.put('users', user('ana', 'cascade'));
  await gh.put('users', user('fred', 'forge'));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/portal/secret`)).body.clientSecret;
  for (const name of ['ana', 'fred']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

const text = async (res: Response) =>
  (await res.text())
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ');
const lastAudit = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=1`)).body.items[0];

/** A browser at the shared issuer's sign-in: the authorization request, to the first page. */
async function authorize(browser: Browser, config: oidc.Configuration, verifier = oidc.randomPKCECodeVerifier()) {
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email offline_access', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st' });
  return browser.follow(url.href, CALLBACK);
}

/** Posts the email (and password) on the page the browser shows. */
async function post(browser: Browser, page: { url: string; res: Response }, fields: Record<string, string>) {
  const action = /action="([^"]+)"/.exec(await page.res.text())![1]!.replace(/&amp;/g, '&');
  return browser.submit(new URL(action, page.url).href, fields);
}

/** The whole sign-in of a directory user; the code at the callback, or where the browser stopped. */
async function signIn(browser: Browser, config: oidc.Configuration, email: string, password = PASSWORD) {
  const verifier = oidc.randomPKCECodeVerifier();
  const page = await authorize(browser, config, verifier);
  const posted = await post(browser, page, { email, password });
  if (posted.status !== 303) return { posted };
  const done = await browser.follow(new URL(posted.headers.get('location')!, page.url).href, CALLBACK);
  return { done, tokens: done.url.startsWith(CALLBACK) && new URL(done.url).searchParams.has('code') ? await oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier, expectedState: 'st' }) : undefined };
}

const fence = (org: string, spec: object) => gh.put('organizations', organization(org, spec));

describe("the shared issuer applies a user's organization's networks on every page", () => {
  afterAll(async () => {
    await fence('cascade', {});
  });

  it('the sign-in step refuses an address outside them with a page saying why and what to do, audited', async () => {
    await fence('cascade', { network: { allowedCidrs: ['203.0.113.0/24'] } });
    const config = await shared();
    const browser = new Browser();
    const page = await authorize(browser, config);
    const emailStep = await post(browser, page, { email: 'ana@cascade.example' });
    expect(emailStep.status).toBe(403);
    const body = await text(emailStep);
    expect(body).toContain('Not from this network');
    expect(body).toContain("Connect from your organization's network");
    expect(await lastAudit('access.refused-network')).toMatchObject({ organization: 'cascade', outcome: 'refused', data: { address: '127.0.0.1', issuer: `/${NS}` } });
  });

  it('posting the password straight to the login step is refused before the password is tried', async () => {
    for (const password of [PASSWORD, 'a wrong password, guessed']) {
      const before = (await lastAudit('login.failed'))?.seq ?? 0;
      const { posted } = await signIn(new Browser(), await shared(), 'ana@cascade.example', password);
      expect(posted!.status).toBe(403);
      expect(await text(posted!)).toContain('Not from this network');
      // Neither a failed nor a successful password check: the password was never looked at.
      expect((await lastAudit('login.failed'))?.seq ?? 0).toBe(before);
    }
    // An unknown address in the organization's domain is refused alike: the refusal tells nobody which accounts exist.
    const { posted } = await signIn(new Browser(), await shared(), 'nobody@cascade.example');
    expect(posted!.status).toBe(403);
  });

  it("another organization's users are not affected", async () => {
    const { tokens } = await signIn(new Browser(), await shared(), 'fred@forge.example');
    expect(tokens!.claims()).toMatchObject({ sub: 'fred', organization_id: 'forge' });
  });
});

describe('no 500s: the attacker resumes an authorization the shared issuer refuses', () => {
  /** A browser holding a session of Ana's at the shared issuer. */
  const signedIn = async () => {
    const config = await shared();
    const browser = new Browser();
    expect((await signIn(browser, config, 'ana@cascade.example')).tokens).toBeDefined();
    return { config, browser };
  };
  /** The session was ended: the browser is asked to sign in again, and is refused there (4xx, no code). */
  const expectSignInAgainRefused = async (browser: Browser, config: oidc.Configuration) => {
    const again = await authorize(browser, config);
    expect(again.res.status).toBe(200);
    expect(again.url.startsWith(CALLBACK)).toBe(false);
    const refused = await post(browser, again, { email: 'ana@cascade.example', password: PASSWORD });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
  };
  afterEach(async () => {
    await fence('cascade', {});
    await gh.put('users', user('ana', 'cascade'));
  });

  it('a session opened inside the networks, reused from outside them, ends in an OAuth error at the client', async () => {
    const config = await shared();
    const browser = new Browser();
    const { tokens } = await signIn(browser, config, 'ana@cascade.example');
    expect(tokens).toBeDefined();
    await fence('cascade', { network: { allowedCidrs: ['203.0.113.0/24'] } });
    const again = await authorize(browser, config);
    expect(again.res.status).toBeLessThan(500);
    expect(again.url.startsWith(CALLBACK)).toBe(true);
    const callback = new URL(again.url).searchParams;
    expect(callback.get('error')).toBe('access_denied');
    expect(callback.get('error_description')).toContain('only from its own networks');
    expect(callback.get('iss')).toBe(`${gh.url}/${NS}`);
    // Its tokens are refused from outside too: refresh and userinfo, with the reason, not a dead grant.
    await expect(oidc.refreshTokenGrant(config, tokens!.refresh_token!)).rejects.toMatchObject({ status: 403, error: 'access_denied' });
    await expect(oidc.fetchUserInfo(config, tokens!.access_token, 'ana')).rejects.toBeDefined();
    await fence('cascade', {});
    expect((await oidc.refreshTokenGrant(config, tokens!.refresh_token!)).access_token).toBeDefined();
  });

  it('a login finished inside the networks and resumed from outside them ends in an OAuth error', async () => {
    const config = await shared();
    const browser = new Browser();
    const page = await authorize(browser, config);
    const posted = await post(browser, page, { email: 'ana@cascade.example', password: PASSWORD });
    expect(posted.status).toBe(303);
    await fence('cascade', { network: { allowedCidrs: ['203.0.113.0/24'] } });
    const done = await browser.follow(new URL(posted.headers.get('location')!, page.url).href, CALLBACK);
    expect(done.url.startsWith(CALLBACK)).toBe(true);
    expect(new URL(done.url).searchParams.get('error')).toBe('access_denied');
  });

  it('a session that outlived its account (deactivated in the store, its sessions not ended) ends in an OAuth error, not a crash', async () => {
    const { config, browser } = await signedIn();
    await gh.store.users.setActive(NS, 'ana', false, gh.clock.now());
    const again = await authorize(browser, config);
    expect(again.url.startsWith(CALLBACK)).toBe(true);
    expect(new URL(again.url).searchParams.get('error')).toBe('access_denied');
    await gh.store.users.setActive(NS, 'ana', true, gh.clock.now());
  });

  it('a session of a user deactivated through the admin API is ended: signing in again is refused, not a crash', async () => {
    const { config, browser } = await signedIn();
    await gh.put('users', user('ana', 'cascade', { active: false }));
    await expectSignInAgainRefused(browser, config);
  });

  it('a session of a user whose organization was suspended since ends in a refusal, not a crash', async () => {
    const { config, browser } = await signedIn();
    await fence('cascade', { suspended: true });
    // The kill switch ended the session.
    await expectSignInAgainRefused(browser, config);
  });
});

describe("the shared issuer counts a user's organization's rate, in the organization's own bucket", () => {
  afterAll(async () => {
    await fence('cascade', {});
  });

  it('beyond it: 429 with Retry-After and a page, audited once; other organizations go on', async () => {
    await fence('cascade', { limits: { requestsPerMinute: 3 } });
    const config = await shared();
    // The organization's own issuer and the shared one draw from the same bucket.
    for (let i = 0; i < 2; i++) expect((await fetch(`${gh.url}/${NS}/cascade/auth?client_id=x`)).status).toBeLessThan(429);
    const browser = new Browser();
    const first = await post(browser, await authorize(browser, config), { email: 'ana@cascade.example' });
    expect(first.status).toBe(200);
    const before = (await lastAudit('access.rate-limited'))?.seq ?? 0;
    const page = await authorize(browser, config);
    const limited = await post(browser, page, { email: 'ana@cascade.example' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await text(limited)).toContain('may make 3 requests a minute');
    const audit = await lastAudit('access.rate-limited');
    expect(audit.seq).toBeGreaterThan(before);
    expect(audit).toMatchObject({ organization: 'cascade', data: { requestsPerMinute: 3 } });
    expect((await post(browser, await authorize(browser, config), { email: 'ana@cascade.example' })).status).toBe(429);
    expect((await lastAudit('access.rate-limited')).seq).toBe(audit.seq);
    expect((await signIn(new Browser(), config, 'fred@forge.example')).tokens).toBeDefined();
  });
});
