import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { Browser } from '../../support/browser.ts';
import { setPassword } from '../../support/sign-in.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const portal = (org: string) => `${gh.url}/${NS}/${org}/portal`;
const consoleClient = (org: string) => ({
  ...client(`${org}-portal`, org, { redirectUris: [`${portal(org)}/callback`], scopes: ['openid', 'email'] }),
  metadata: { name: `${org}-portal`, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
});

/** Signs in to an organization's portal as a browser would; returns the browser and the page it ends on. */
async function signInToPortal(org: string, email: string): Promise<{ browser: Browser; url: string; res: Response; html: string }> {
  const browser = new Browser();
  const form = await browser.follow(`${portal(org)}/`);
  const html = await form.res.text();
  const action = /action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  if (!action) throw new Error(`no sign-in form at ${form.url}: ${form.res.status} ${html.slice(0, 300)}`);
  const posted = await browser.submit(new URL(action, form.url).href, { email, password: PASSWORD });
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href);
  return { browser, url: done.url, res: done.res, html: await done.res.text() };
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting', branding: { primaryColor: '#ffd33d' } }));
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies' }));
  for (const org of ['cascade', 'forge']) {
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', consoleClient(org));
    await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-portal/secret`);
  }
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }));
  await gh.put('users', user('pat', 'cascade', { email: 'pat@cascade.example' }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example', roles: ['organization-admin'] }));
  for (const name of ['ana', 'pat', 'fred']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('signing in to the portal through the organization\'s own issuer', () => {
  it('brings a partner administrator to the branded portal home', async () => {
    const { url, res, html } = await signInToPortal('cascade', 'ana@cascade.example');
    expect(res.status).toBe(200);
    expect(url).toBe(`${portal('cascade')}/`);
    expect(html).toContain('Cascade Consulting');
    expect(html).toContain('Sign-in setup');
    expect(html).toContain(`href="/${NS}/cascade/portal/sso"`);
  });

  it('serves every page with the security headers and a CSP without inline script', async () => {
    const { browser } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.fetch(`${portal('cascade')}/`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses a user without an administrator role', async () => {
    const { res, html } = await signInToPortal('cascade', 'pat@cascade.example');
    expect(res.status).toBe(403);
    expect(html).toContain('no administrator role');
    expect(html).toContain('Cascade Consulting');
  });

  it('refuses a user of another organization at this organization\'s portal', async () => {
    const { res } = await signInToPortal('cascade', 'fred@forge.example');
    expect(res.status).not.toBe(200);
  });

  it('does not open another organization\'s portal with this organization\'s session', async () => {
    const { browser } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.fetch(`${portal('forge')}/users`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain(`/${NS}/forge/portal/sign-in`);
  });
});

describe('CSRF', () => {
  it('refuses a POST without the session\'s token, and one with a wrong token', async () => {
    const { browser } = await signInToPortal('cascade', 'ana@cascade.example');
    const none = await browser.submit(`${portal('cascade')}/sign-out`, {});
    expect(none.status).toBe(403);
    const wrong = await browser.submit(`${portal('cascade')}/sign-out`, { _csrf: 'x'.repeat(32) });
    expect(wrong.status).toBe(403);
    expect((await browser.fetch(`${portal('cascade')}/`)).status).toBe(200);
  });

  it('refuses a cross-site POST even with the token', async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.fetch(`${portal('cascade')}/sign-out`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' }, body: new URLSearchParams({ _csrf: csrfOf(html) }).toString() });
    expect(res.status).toBe(403);
  });

  it('signs out with the token', async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/sign-out`, { _csrf: csrfOf(html) });
    expect(res.status).toBe(303);
    expect((await browser.fetch(`${portal('cascade')}/`)).status).toBe(303);
  });
});
