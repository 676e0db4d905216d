// The account pages of an issuer, for every user of it: `{issuer}/account` says who is signed in
// and links to the passkey and password pages and sign-out; without a session each page sends
// the browser through the issuer's sign-in (the issuer's own account client, response_type=none)
// and back. The password page changes a signed-in directory user's password.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import { SoftAuthenticator } from '../../support/authenticator.ts';
import { Browser } from '../../support/browser.ts';
import { loopbackFetch } from '../../support/loopback.ts';
import { requirePasskeyForm } from '../../support/passkey-form.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { setPassword } from '../../support/sign-in.ts';
import { formAction, hiddenFields, text } from './flow.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'another horse, another staple';
const VANITY = 'sso.forge.example';
const issuer = () => `${gh.url}/${NS}/cascade`;
const lastAudit = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=1`)).body.items[0];

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
  await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'] }));
  await gh.put('clients', client('timesheets', 'cascade', { redirectUris: ['https://timesheets.example/callback'], scopes: ['openid', 'email'] }));
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/timesheets/secret`);
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', displayName: 'Ana Lima' }));
  await gh.put('users', user('ben', 'cascade', { email: 'ben@cascade.example' }));
  await gh.put('users', user('olga', 'cascade', { email: 'olga@cascade.example', roles: ['organization-admin'] }));
  for (const name of ['ana', 'ben', 'olga']) await setPassword(gh, name, PASSWORD);
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', domains: [VANITY] }));
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined, emailDomains: ['forge.example'] }));
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  await setPassword(gh, 'lena', PASSWORD);
  await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics' }));
  await gh.put('idpconnections', idp('pinnacle-directory', 'pinnacle', { type: 'directory', oidc: undefined, emailDomains: ['pinnacle.example'] }));
  await gh.put('users', user('pia', 'pinnacle', { email: 'pia@pinnacle.example' }));
  await setPassword(gh, 'pia', PASSWORD);
});
afterAll(async () => {
  await gh?.close();
});

/** Follows redirects from `url` and fills each sign-in page (email first, then the password) until another page. */
async function through(browser: Browser, url: string, email: string, password = PASSWORD): Promise<{ url: string; res: Response; html: string }> {
  let at = await browser.follow(url);
  let html = await at.res.text();
  for (let step = 0; step < 3; step++) {
    if (!/\/interaction\//.test(at.url) || !/name="email"/.test(html)) break;
    const fields: Record<string, string> = /name="password"/.test(html) ? { email, password } : { email };
    const action = formAction(html, at.url);
    const posted = await browser.submit(action, { ...hiddenFields(html), ...fields });
    at = posted.status >= 300 && posted.status < 400 ? await browser.follow(new URL(posted.headers.get('location')!, action).href) : { url: action, res: posted };
    html = await at.res.text();
  }
  return { ...at, html };
}

describe('the home page', () => {
  it('sends a browser without a session through the sign-in, with the account client asking for nothing', async () => {
    const res = await fetch(`${issuer()}/account`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get('location')!);
    expect(to.href.startsWith(`${issuer()}/auth?`)).toBe(true);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({ client_id: 'gatehouse-account', response_type: 'none', redirect_uri: `${issuer()}/account`, state: 'account' });
  });

  it('comes back signed in, and shows who, the links to the passkey and password pages, and sign-out', async () => {
    const browser = new Browser();
    const home = await through(browser, `${issuer()}/account`, 'ana@cascade.example');
    expect(home.url).toBe(`${issuer()}/account?state=account&iss=${encodeURIComponent(issuer())}`);
    expect(home.res.status).toBe(200);
    expect(home.html).toContain('Signed in as <strong>Ana Lima (ana@cascade.example)</strong> of Cascade Consulting');
    expect(home.html).toContain(`href="/${NS}/cascade/account/passkeys"`);
    expect(home.html).toContain(`href="/${NS}/cascade/account/password"`);
    expect(home.html).toContain(`id="sign-out" href="/${NS}/cascade/session/end"`);
    // Not an administrator: no portal.
    expect(home.html).not.toContain('id="portal"');
    expect(await lastAudit('login.succeeded')).toMatchObject({ subject: 'ana', client: 'gatehouse-account' });
    // Sign-out ends the session: the page sends the browser to sign in again.
    const end = await browser.follow(`${issuer()}/session/end`);
    const html = await end.res.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    // Named by no client, the sign-out is the issuer's whole session, every application's sign-in with it,
    // once the user confirms: no script submits it (a link from elsewhere signs nobody out).
    expect(html).toContain('<input type="hidden" name="logout" value="yes"><button type="submit" id="confirm-sign-out">Sign out</button>');
    expect(html).not.toContain('<script');
    expect((await browser.fetch(`${issuer()}/account`)).status).toBe(200);
    const out = await browser.submit(formAction(html, end.url), { xsrf, logout: 'yes' });
    expect(out.status).toBe(303);
    const after = await browser.fetch(`${issuer()}/account`);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toContain('/auth?');
  });

  it("links an administrator to the organization's portal too", async () => {
    const home = await through(new Browser(), `${issuer()}/account`, 'olga@cascade.example');
    expect(home.html).toContain(`id="portal" href="${issuer()}/portal"`);
  });

  it('goes back to the page the sign-in started from', async () => {
    const browser = new Browser();
    const res = await fetch(`${issuer()}/account/passkeys`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!).searchParams.get('state')).toBe('passkeys');
    const passkeys = await through(browser, `${issuer()}/account/passkeys`, 'ben@cascade.example');
    expect(passkeys.url).toBe(`${issuer()}/account/passkeys`);
    expect(passkeys.html).toContain('Your passkeys');
    expect(passkeys.html).toContain('ben@cascade.example');
    expect(passkeys.html).toContain(`id="account-home" href="/${NS}/cascade/account"`);
  });

  it('never loops: back from a sign-in that did not end in a session, it says so', async () => {
    const res = await fetch(`${issuer()}/account?error=access_denied&state=passkeys`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(await text(res)).toContain('You are not signed in here (access_denied)');
    // A description in the link is not shown: the page says only fixed texts.
    const crafted = await fetch(`${issuer()}/account?error=${encodeURIComponent('Call +1 555 0100 now')}&error_description=evil`, { redirect: 'manual' });
    expect(await text(crafted)).not.toMatch(/555|evil/);
  });

  it('sends nowhere but its own pages: a state that is not one stays home', async () => {
    const browser = new Browser();
    await through(browser, `${issuer()}/account`, 'ben@cascade.example');
    const res = await browser.fetch(`${issuer()}/account?state=${encodeURIComponent('https://evil.example/')}`);
    expect(res.status).toBe(200);
    const back = await browser.fetch(`${issuer()}/account?state=password`);
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe(`/${NS}/cascade/account/password`);
  });
});

describe("at the namespace's shared issuer", () => {
  const shared = () => `${gh.url}/${NS}`;
  const cascade = (spec: object = {}) => organization('cascade', { displayName: 'Cascade Consulting', ...spec });

  it("serves a user of any organization, and nobody whose organization is fenced off or stands no more, as the organization's issuer would", async () => {
    const browser = new Browser();
    const home = await through(browser, `${shared()}/account`, 'olga@cascade.example');
    expect(home.res.status).toBe(200);
    expect(home.html).toContain('Signed in as <strong>olga@cascade.example</strong> of Cascade Consulting');
    expect(home.html).toContain(`href="/${NS}/account/passkeys"`);
    expect((await browser.fetch(`${shared()}/account/passkeys`)).status).toBe(200);

    // Outside Cascade's networks: the session is not enough, and the sign-in it is sent through refuses.
    await gh.put('organizations', cascade({ network: { allowedCidrs: ['203.0.113.0/24'] } }));
    const fenced = await browser.fetch(`${shared()}/account/passkeys`);
    expect(fenced.status).toBe(303);
    expect(fenced.headers.get('location')).toContain(`/${NS}/auth?`);
    expect((await browser.follow(`${shared()}/account/password`)).res.status).toBe(401);
    expect(await lastAudit('access.refused-network')).toMatchObject({ organization: 'cascade' });
    await gh.put('organizations', cascade());
    expect((await browser.fetch(`${shared()}/account/passkeys`)).status).toBe(200);

    // Cascade's contract ends (no kill switch pulled: the standing is judged on every request).
    await gh.put('organizations', cascade({ contract: { id: 'C-cascade', partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: new Date(gh.clock.now() + 60_000).toISOString() } }));
    gh.clock.advance(2 * 60_000);
    const ended = await browser.fetch(`${shared()}/account`);
    expect(ended.status).toBe(303);
    expect((await browser.fetch(`${gh.url}/${NS}/cascade/account`)).status).toBe(403);
    await gh.put('organizations', cascade());
  });
});

describe('on a vanity host', () => {
  it("signs in and comes back on the vanity host itself (the account client's redirect URI is the vanity issuer's)", async () => {
    const port = new URL(gh.url).port;
    const vanity = `http://${VANITY}:${port}`;
    const browser = new Browser((url, init) => loopbackFetch(port)(url, init as Parameters<ReturnType<typeof loopbackFetch>>[1]));
    const first = await browser.fetch(`${vanity}/account`);
    expect(first.status).toBe(303);
    expect(new URL(first.headers.get('location')!).searchParams.get('redirect_uri')).toBe(`${vanity}/account`);
    const home = await through(browser, `${vanity}/account/passkeys`, 'lena@forge.example');
    expect(home.url).toBe(`${vanity}/${NS}/forge/account/passkeys`);
    expect(home.html).toContain('lena@forge.example');
    const back = await browser.fetch(`${vanity}/${NS}/forge/account`);
    expect(back.status).toBe(200);
    expect(await back.text()).toContain('Signed in as <strong>lena@forge.example</strong> of Forge Supplies');
    // The canonical host's session is another: nobody is signed in there.
    expect((await browser.fetch(`${gh.url}/${NS}/forge/account`)).status).toBe(303);
  });
});

describe('the account client', () => {
  it('is not for declared clients: response_type=none is refused to them', async () => {
    const url = new URL(`${issuer()}/auth`);
    for (const [k, v] of Object.entries({ client_id: `timesheets.${NS}`, response_type: 'none', scope: 'openid', redirect_uri: 'https://timesheets.example/callback', state: 's' })) url.searchParams.set(k, v);
    const res = await fetch(url, { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://timesheets.example/callback');
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'invalid_request', state: 's' });
    expect(location.searchParams.get('error_description')).toMatch(/response_type/);
  });

  it('gets no token, and redirects nowhere but the account page', async () => {
    const token = await fetch(`${issuer()}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: 'gatehouse-account', grant_type: 'authorization_code', code: 'x', redirect_uri: `${issuer()}/account` }) });
    expect(token.status).toBe(400);
    expect(await token.json()).toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
    const url = new URL(`${issuer()}/auth`);
    for (const [k, v] of Object.entries({ client_id: 'gatehouse-account', response_type: 'none', scope: 'openid', redirect_uri: 'https://evil.example/account', state: 'account' })) url.searchParams.set(k, v);
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await text(res)).toContain('redirect_uri did not match');
  });
});

describe('the password page', () => {
  it("changes a signed-in directory user's password: every session ends, the user is told, the new one signs in", async () => {
    const browser = new Browser();
    const page = await through(browser, `${issuer()}/account/password`, 'ana@cascade.example');
    expect(page.url).toBe(`${issuer()}/account/password`);
    expect(page.html).toContain('Change your password');
    const fields = hiddenFields(page.html);
    // A form from another site has no token: refused and audited, the password unchanged.
    const forged = await browser.submit(`${issuer()}/account/password`, { password: NEW_PASSWORD });
    expect(forged.status).toBe(403);
    expect(await lastAudit('user.password-refused')).toMatchObject({ subject: 'ana', outcome: 'refused', data: { reason: 'cross-site-form' } });
    const short = await browser.submit(`${issuer()}/account/password`, { ...fields, password: 'short' });
    expect(short.status).toBe(400);
    const changed = await browser.submit(`${issuer()}/account/password`, { ...fields, password: NEW_PASSWORD });
    expect(changed.status).toBe(200);
    expect(await text(changed)).toContain('Your password is changed');
    expect(await lastAudit('user.password-set')).toMatchObject({ subject: 'ana', data: { via: 'account page', replaced: true } });
    const told = (await gh.store.notifications.list(NS, { organizations: ['cascade'] })).filter((m) => m.message === 'password-changed' && m.userId === 'ana');
    expect(told).toHaveLength(1);
    // This browser's session ended with the change.
    expect((await browser.fetch(`${issuer()}/account`)).status).toBe(303);
    const old = await through(new Browser(), `${issuer()}/account`, 'ana@cascade.example');
    expect(old.res.status).toBe(401);
    const again = await through(new Browser(), `${issuer()}/account`, 'ana@cascade.example', NEW_PASSWORD);
    expect(again.res.status).toBe(200);
    expect(again.html).toContain('Ana Lima');
  });
});

describe("a user whose password is not Gatehouse's", () => {
  it('has no password link, and the password page refuses: the organization signs in elsewhere now', async () => {
    const browser = new Browser();
    const home = await through(browser, `${gh.url}/${NS}/pinnacle/account`, 'pia@pinnacle.example');
    expect(home.html).toContain('id="password"');
    // Pinnacle moves to its own IdP: its directory connection is removed (the session lives on).
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/idpconnections/pinnacle-directory`)).status).toBeLessThan(300);
    const after = await (await browser.fetch(`${gh.url}/${NS}/pinnacle/account`)).text();
    expect(after).toContain('pia@pinnacle.example');
    expect(after).toContain('id="passkeys"');
    expect(after).not.toContain('id="password"');
    const refused = await browser.fetch(`${gh.url}/${NS}/pinnacle/account/password`);
    expect(refused.status).toBe(403);
    expect(await text(refused)).toContain("change it at your organization's own identity provider");
    const hash = (await gh.store.users.find(NS, 'pia'))!.passwordHash;
    expect((await browser.submit(`${gh.url}/${NS}/pinnacle/account/password`, { password: NEW_PASSWORD })).status).toBe(403);
    expect((await gh.store.users.find(NS, 'pia'))!.passwordHash).toBe(hash);
  });
});

describe('changes need a recent sign-in (ten minutes)', () => {
  const MINUTE = 60_000;
  const passkeysPage = () => `${issuer()}/account/passkeys`;
  const freshSignIn = (location: string | null, page: string) => {
    const to = new URL(location!);
    expect(to.href.startsWith(`${issuer()}/auth?`)).toBe(true);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({ client_id: 'gatehouse-account', prompt: 'login', state: page });
    return to.href;
  };

  it('a stale session adds and removes no passkey, even posting the form with a valid token; a fresh sign-in does', async () => {
    const browser = new Browser();
    const key = new SoftAuthenticator(new URL(gh.url).origin);
    const recent = await through(browser, passkeysPage(), 'ben@cascade.example');
    const form = requirePasskeyForm(recent.html, passkeysPage());
    const added = await browser.submit(passkeysPage(), { ...form.hidden, response: JSON.stringify(key.register(form.options as PublicKeyCredentialCreationOptionsJSON)), name: 'Laptop' });
    expect(added.status).toBe(303);
    const [laptop] = await gh.store.passkeys.list(NS, 'ben');
    expect(laptop?.name).toBe('Laptop');

    // Eleven minutes on, the page offers no enrolment, and says why.
    const before = await (await browser.fetch(passkeysPage())).text();
    gh.clock.advance(11 * MINUTE);
    const stale = await (await browser.fetch(passkeysPage())).text();
    expect(stale).toContain('id="sign-in-again"');
    expect(stale).not.toContain('id="passkey-form"');
    expect(stale).toContain('Laptop');
    expect(stale).not.toContain('value="remove"');
    // The forms of a page shown while it was recent, posted now with their valid token: through the sign-in again, nothing changed.
    const again = requirePasskeyForm(before, passkeysPage());
    const phone = new SoftAuthenticator(key.origin);
    const register = await browser.submit(passkeysPage(), { ...again.hidden, response: JSON.stringify(phone.register(again.options as PublicKeyCredentialCreationOptionsJSON)), name: 'Phone' });
    expect(register.status).toBe(303);
    freshSignIn(register.headers.get('location'), 'passkeys');
    const remove = await browser.submit(passkeysPage(), { csrf: again.hidden.csrf!, op: 'remove', id: laptop!.id });
    expect(remove.status).toBe(303);
    const signInAgain = freshSignIn(remove.headers.get('location'), 'passkeys');
    expect((await gh.store.passkeys.list(NS, 'ben')).map((p) => p.name)).toEqual(['Laptop']);
    expect(await lastAudit('passkey.refused')).toMatchObject({ subject: 'ben', outcome: 'refused', data: { reason: 'sign-in-not-recent', op: 'remove' } });

    // Signed in again (the email-first page, though the session still lives), back on the page: the change goes through.
    const back = await through(browser, signInAgain, 'ben@cascade.example');
    expect(back.url).toBe(passkeysPage());
    expect(back.html).toContain('id="passkey-form"');
    const csrf = /name="csrf" value="([^"]+)"/.exec(back.html)![1]!;
    expect((await browser.submit(passkeysPage(), { csrf, op: 'remove', id: laptop!.id })).status).toBe(303);
    expect(await gh.store.passkeys.count(NS, 'ben')).toBe(0);
  });

  it('a stale session changes no password, even posting the form with a valid token', async () => {
    const browser = new Browser();
    const recent = await through(browser, `${issuer()}/account/password`, 'ben@cascade.example');
    const fields = hiddenFields(recent.html);
    const hash = (await gh.store.users.find(NS, 'ben'))!.passwordHash;
    gh.clock.advance(11 * MINUTE);
    const shown = await browser.fetch(`${issuer()}/account/password`);
    expect(shown.status).toBe(303);
    freshSignIn(shown.headers.get('location'), 'password');
    const posted = await browser.submit(`${issuer()}/account/password`, { ...fields, password: NEW_PASSWORD });
    expect(posted.status).toBe(303);
    const signInAgain = freshSignIn(posted.headers.get('location'), 'password');
    expect((await gh.store.users.find(NS, 'ben'))!.passwordHash).toBe(hash);
    expect(await lastAudit('user.password-refused')).toMatchObject({ subject: 'ben', data: { reason: 'sign-in-not-recent' } });
    const back = await through(browser, signInAgain, 'ben@cascade.example');
    expect(back.url).toBe(`${issuer()}/account/password`);
    expect(back.html).toContain('Change your password');
  });
});
