import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { Browser } from '../../support/browser.ts';
import { openSignedIn, setPassword } from '../../support/sign-in.ts';
import { loopbackFetch } from '../../support/loopback.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const portal = (org: string) => `${gh.url}/${NS}/${org}/portal`;
const VANITY = 'login.cascade.example';
const vanityPortal = () => `http://${VANITY}:${new URL(gh.url).port}/portal`;
const consoleClient = (org: string | undefined, redirectUris: string[]) => ({
  ...client(`${org ?? 'workspace'}-portal`, org, { redirectUris, postLogoutRedirectUris: redirectUris.map((u) => u.replace(/callback$/, 'signed-out')), scopes: ['openid', 'email'] }),
  metadata: { name: `${org ?? 'workspace'}-portal`, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
});

/** Signs in to a portal (an organization's, by default) as a browser would; returns the browser and the page it ends on. */
function signInToPortal(org: string, email: string, at = `${portal(org)}/`, browser = new Browser()): Promise<{ browser: Browser; url: string; res: Response; html: string }> {
  return openSignedIn(at, email, PASSWORD, browser);
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting', branding: { primaryColor: '#ffd33d' }, domains: [VANITY] }));
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies' }));
  for (const org of ['cascade', 'forge']) {
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', consoleClient(org, [`${portal(org)}/callback`, ...(org === 'cascade' ? [`${vanityPortal()}/callback`] : [])]));
    await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-portal/secret`);
  }
  await gh.put('clients', consoleClient(undefined, [`${gh.url}/${NS}/portal/callback`]));
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/workspace-portal/secret`);
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }));
  await gh.put('users', user('ada', 'cascade', { email: 'ada@cascade.example', roles: ['admin'] }));
  await gh.put('users', user('uma', 'cascade', { email: 'uma@cascade.example', roles: ['user-manager'] }));
  await gh.put('users', user('pat', 'cascade', { email: 'pat@cascade.example' }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('wendy', undefined, { email: 'owner@blixit.example', roles: ['admin'] }));
  for (const name of ['ana', 'ada', 'uma', 'pat', 'fred', 'wendy']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe("signing in to the portal through the organization's own issuer", () => {
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

  it("serves the organization's colours, replacing the declared yellow where white text or links would not read", async () => {
    const res = await fetch(`${portal('cascade')}/assets/theme.css`);
    expect(res.headers.get('content-type')).toContain('text/css');
    const css = await res.text();
    expect(css).toContain('--brand:#ffd33d');
    expect(css).toContain('--on-brand:#1f2328');
    expect(css).not.toContain('--link:#ffd33d');
  });

  it('refuses a user without an administrator role', async () => {
    const { res, html } = await signInToPortal('cascade', 'pat@cascade.example');
    expect(res.status).toBe(403);
    expect(html).toContain('no administrator role');
    expect(html).toContain('Cascade Consulting');
  });

  it("refuses a user of another organization at this organization's portal", async () => {
    const { res } = await signInToPortal('cascade', 'fred@forge.example');
    expect(res.status).not.toBe(200);
  });

  it("does not open another organization's portal with this organization's session", async () => {
    const { browser } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.fetch(`${portal('forge')}/users`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain(`/${NS}/forge/portal/sign-in`);
  });
});

describe('CSRF', () => {
  it("refuses a POST without the session's token, and one with a wrong token", async () => {
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

  it("signs out with the token, ending the issuer's session too: the next visit signs in again", async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/sign-out`, { _csrf: csrfOf(html) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain(`/${NS}/cascade/session/end?`);
    // The issuer's sign-out page submits its form by script; a browser without one presses the button.
    const logout = await browser.follow(new URL(res.headers.get('location')!, gh.url).href);
    const form = await logout.res.text();
    const action = new URL(/action="([^"]+)"/.exec(form)![1]!.replace(/&amp;/g, '&'), logout.url).href;
    const fields = Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const done = await browser.follow(action, undefined, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...fields, logout: 'yes' }).toString() });
    expect(done.url).toBe(`${portal('cascade')}/signed-out`);
    expect(await done.res.text()).toContain('You are signed out');
    const again = await browser.follow(`${portal('cascade')}/`);
    expect(again.url).toContain(`/${NS}/cascade/interaction/`);
    // The sign-in form again, not a silent sign-in on the old session.
    expect(await again.res.text()).toContain('<h1>Sign in</h1>');
  });
});

/** Invites a runtime user through the admin API (as a workspace administrator) and returns its id. */
async function runtimeUser(email: string, roles: string[]): Promise<string> {
  const res = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/users`, { email, roles });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body.user.id;
}

describe("the users page holds the admin API's guardrails", () => {
  it('invites a user and shows the one-time password link once', async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/users`, { _csrf: csrfOf(html), email: 'new@cascade.example', roles: 'auditor' });
    expect(res.status).toBe(201);
    const page = await res.text();
    expect(page).toContain('new@cascade.example is invited');
    expect(page).toMatch(/account\/password\?token=/);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it("refuses an address outside the organization's domains, saying why", async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/users`, { _csrf: csrfOf(html), email: 'someone@forge.example' });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('is not in a domain of organization cascade');
  });

  it('refuses an admin giving a role above its own (organization-admin), and audits it', async () => {
    const { browser, html } = await signInToPortal('cascade', 'ada@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/users`, { _csrf: csrfOf(html), email: 'boss@cascade.example', roles: 'organization-admin' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('you cannot give role organization-admin');
    expect((await gh.store.users.findByEmail(NS, 'boss@cascade.example')).length).toBe(0);
    const denied = await gh.store.audit.query({ namespace: NS, action: 'admin.denied', limit: 1 });
    expect(denied[0]!.actor).toContain('ada');
  });

  it("refuses raising a user's roles beyond the admin's, and changing one's own", async () => {
    const id = await runtimeUser('raise@cascade.example', ['auditor']);
    const { browser, html } = await signInToPortal('cascade', 'ada@cascade.example');
    const raise = await browser.submit(`${portal('cascade')}/users/${id}/roles`, { _csrf: csrfOf(html), roles: 'organization-admin' });
    expect(raise.status).toBe(403);
    expect((await gh.store.users.find(NS, id))!.roles).toEqual(['auditor']);
    const own = await browser.submit(`${portal('cascade')}/users/ada/roles`, { _csrf: csrfOf(html), roles: 'organization-admin' });
    expect(own.status).toBe(403);
    expect(await own.text()).toContain('you cannot change your own roles');
  });

  it("changes a runtime user's roles within the guardrails, audited as the portal", async () => {
    const id = await runtimeUser('change@cascade.example', ['auditor']);
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/users/${id}/roles`, { _csrf: csrfOf(html), roles: 'user-manager' });
    expect(res.status).toBe(303);
    expect((await gh.store.users.find(NS, id))!.roles).toEqual(['user-manager']);
    const [record] = await gh.store.audit.query({ namespace: NS, action: 'user.roles-changed', limit: 1 });
    expect(record).toMatchObject({ subject: id, data: { from: ['auditor'], to: ['user-manager'] } });
  });

  it('refuses a user manager deactivating an organization admin', async () => {
    const { browser, html } = await signInToPortal('cascade', 'uma@cascade.example');
    const id = await runtimeUser('chief@cascade.example', ['organization-admin']);
    const res = await browser.submit(`${portal('cascade')}/users/${id}/deactivate`, { _csrf: csrfOf(html) });
    expect(res.status).toBe(403);
    expect((await gh.store.users.find(NS, id))!.active).toBe(true);
  });

  it('deactivates a runtime user', async () => {
    const id = await runtimeUser('leaver@cascade.example', []);
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/users/${id}/deactivate`, { _csrf: csrfOf(html) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('notice=deactivated');
    expect((await gh.store.users.find(NS, id))!.active).toBe(false);
    const after = await (await browser.fetch(new URL(res.headers.get('location')!, gh.url).href)).text();
    expect(after).toContain('The user is deactivated');
    expect(after).toMatch(new RegExp(`data-user="${id}"[\\s\\S]*?deactivated`));
  });

  it('removes and erases a runtime user only after a confirmation step, audited', async () => {
    const id = await runtimeUser('gone@cascade.example', []);
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const list = await (await browser.fetch(`${portal('cascade')}/users`)).text();
    expect(list).toContain(`action="/${NS}/cascade/portal/users/${id}/erase"`);
    const asked = await browser.submit(`${portal('cascade')}/users/${id}/erase`, { _csrf: csrfOf(html) });
    expect(asked.status).toBe(200);
    const confirmPage = await asked.text();
    expect(confirmPage).toContain('gone@cascade.example');
    expect(confirmPage).toContain('name="confirm" value="erase"');
    expect(await gh.store.users.find(NS, id)).toBeDefined();
    const res = await browser.submit(`${portal('cascade')}/users/${id}/erase`, { _csrf: csrfOf(html), confirm: 'erase' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('notice=erased');
    expect(await gh.store.users.find(NS, id)).toBeUndefined();
    const [record] = await gh.store.audit.query({ namespace: NS, action: 'user.erased', limit: 1 });
    expect(record).toMatchObject({ subject: id, data: { via: 'admin' } });
  });

  it('offers no erasure of a declared user and refuses a forged one; refuses a user manager erasing an organization admin', async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const list = await (await browser.fetch(`${portal('cascade')}/users`)).text();
    expect(list).not.toContain('/users/pat/erase');
    const declared = await browser.submit(`${portal('cascade')}/users/pat/erase`, { _csrf: csrfOf(html), confirm: 'erase' });
    expect(declared.status).toBe(403);
    expect(await declared.text()).toContain('declared in git or Pulumi');
    expect(await gh.store.users.find(NS, 'pat')).toBeDefined();
    const chief = await runtimeUser('chief2@cascade.example', ['organization-admin']);
    const uma = await signInToPortal('cascade', 'uma@cascade.example');
    const refused = await uma.browser.submit(`${portal('cascade')}/users/${chief}/erase`, { _csrf: csrfOf(uma.html), confirm: 'erase' });
    expect(refused.status).toBe(403);
    expect(await gh.store.users.find(NS, chief)).toBeDefined();
    const noToken = await browser.submit(`${portal('cascade')}/users/${chief}/erase`, { confirm: 'erase' });
    expect(noToken.status).toBe(403);
    expect(await gh.store.users.find(NS, chief)).toBeDefined();
  });

  it("does not reach another organization's user by editing the URL: the same 404 as a missing one", async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('cascade')}/users/fred/deactivate`, { _csrf: csrfOf(html) });
    expect(res.status).toBe(404);
    const missing = await browser.submit(`${portal('cascade')}/users/nobody/deactivate`, { _csrf: csrfOf(html) });
    expect(missing.status).toBe(404);
    expect((await gh.store.users.find(NS, 'fred'))!.active).toBe(true);
  });

  it("does not act on another organization with this organization's session, even with its CSRF token", async () => {
    const { browser, html } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.submit(`${portal('forge')}/users/fred/deactivate`, { _csrf: csrfOf(html) });
    expect(res.status).toBe(403);
    expect((await gh.store.users.find(NS, 'fred'))!.active).toBe(true);
  });
});

describe('the activity page', () => {
  it("exports only the organization's records, whatever the query asks", async () => {
    const { browser } = await signInToPortal('cascade', 'ana@cascade.example');
    await signInToPortal('forge', 'fred@forge.example');
    const res = await browser.fetch(`${portal('cascade')}/audit/export.json?organization=forge`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('attachment');
    const { items } = (await res.json()) as { items: { organization: string | null }[] };
    expect(items.length).toBeGreaterThan(0);
    expect(new Set(items.map((i) => i.organization))).toEqual(new Set(['cascade']));
  });

  it('names a bad filter instead of failing', async () => {
    const { browser } = await signInToPortal('cascade', 'ana@cascade.example');
    const res = await browser.fetch(`${portal('cascade')}/audit?since=yesterday`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('since');
  });
});

describe("the portal on the organization's vanity host", () => {
  it('signs in and serves the same pages at /portal', async () => {
    const browser = new Browser((url, init) => loopbackFetch(new URL(gh.url).port)(url, init as never));
    const { res, url, html } = await signInToPortal('cascade', 'ana@cascade.example', `${vanityPortal()}/`, browser);
    expect(res.status).toBe(200);
    expect(url).toBe(`${vanityPortal()}/`);
    expect(html).toContain('href="/portal/users"');
    expect((await browser.fetch(`${vanityPortal()}/users`)).status).toBe(200);
  });
});

describe('the workspace overview', () => {
  it("lists every organization for a workspace administrator, read-only, with links to each one's activity", async () => {
    const { res, html } = await signInToPortal('', 'owner@blixit.example', `${gh.url}/${NS}/portal/`);
    expect(res.status).toBe(200);
    expect(html).toContain('Workspace overview');
    for (const org of ['cascade', 'forge']) expect(html).toContain(`data-organization="${org}"`);
    expect(html).toContain('2027-06-30');
    expect(html).toContain(`/${NS}/portal/audit?organization=cascade`);
  });

  it('lets the contract owner certify an organization', async () => {
    const { browser, html } = await signInToPortal('', 'owner@blixit.example', `${gh.url}/${NS}/portal/`);
    const res = await browser.submit(`${gh.url}/${NS}/portal/certify`, { _csrf: csrfOf(html), organization: 'forge' });
    expect(res.status).toBe(303);
    const [record] = await gh.store.audit.query({ namespace: NS, action: 'Organization.certified', limit: 1 });
    expect(record).toMatchObject({ organization: 'forge', data: { provenance: { source: 'portal' } } });
  });

  it('is refused to a partner administrator', async () => {
    const { res } = await signInToPortal('', 'ana@cascade.example', `${gh.url}/${NS}/portal/`);
    expect(res.status).toBe(403);
  });
});

describe('the sign-in pages around the portal', () => {
  it("keeps the organization's branding after a wrong password at the shared issuer", async () => {
    const browser = new Browser();
    const start = await browser.follow(`${gh.url}/${NS}/portal/`);
    const emailForm = await start.res.text();
    const action = new URL(/action="([^"]+)"/.exec(emailForm)![1]!.replace(/&amp;/g, '&'), start.url).href;
    const passwordForm = await (await browser.submit(action, { email: 'ana@cascade.example' })).text();
    expect(passwordForm).toContain('Cascade Consulting');
    const wrong = await browser.submit(action, { email: 'ana@cascade.example', password: 'not the password' });
    expect(wrong.status).toBe(401);
    const html = await wrong.text();
    expect(html).toContain('The email or password is not correct.');
    expect(html).toContain('<strong>Cascade Consulting</strong>');
    // Cascade's yellow carries dark text on its buttons (WCAG AA), not white.
    expect(html).toContain('background:#ffd33d;color:#1f2328');
  });
});

describe("an administrator's own passkeys from the portal", () => {
  it('lists none, adds one (a software authenticator answers the page’s options), renames and removes it, each audited', async () => {
    const { SoftAuthenticator } = await import('../../support/authenticator.ts');
    const { browser, html: home } = await signInToPortal('cascade', 'ada@cascade.example');
    expect(home).toContain('Your passkeys');
    const page = await (await browser.fetch(`${portal('cascade')}/account`)).text();
    expect(page).toContain('You have no passkeys yet.');
    const options = JSON.parse(
      /data-options="([^"]+)"/
        .exec(page)![1]!
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&'),
    );
    expect(options.rp.id).toBe('127.0.0.1');
    const key = new SoftAuthenticator(new URL(gh.url).origin);
    const csrf = csrfOf(page);
    const added = await browser.submit(`${portal('cascade')}/account`, { _csrf: csrf, op: 'register', name: 'Admin key', response: JSON.stringify(key.register(options)) });
    expect(added.status).toBe(303);
    const [passkey] = await gh.store.passkeys.list(NS, 'ada');
    expect(passkey).toMatchObject({ name: 'Admin key', organization: 'cascade', rpId: '127.0.0.1' });
    expect((await browser.submit(`${portal('cascade')}/account`, { _csrf: csrf, op: 'rename', id: passkey!.id, name: 'YubiKey' })).status).toBe(303);
    expect((await gh.store.passkeys.find(passkey!.id))?.name).toBe('YubiKey');
    // Without the portal's CSRF token, nothing changes.
    expect((await browser.submit(`${portal('cascade')}/account`, { op: 'remove', id: passkey!.id })).status).toBe(403);
    expect((await browser.submit(`${portal('cascade')}/account`, { _csrf: csrf, op: 'remove', id: passkey!.id })).status).toBe(303);
    expect(await gh.store.passkeys.count(NS, 'ada')).toBe(0);
    const actions = (await gh.admin('GET', '/admin/v1/audit?limit=20')).body.items.filter((r: { subject: string }) => r.subject === 'ada').map((r: { action: string }) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['passkey.added', 'passkey.renamed', 'passkey.removed']));
  });
});
