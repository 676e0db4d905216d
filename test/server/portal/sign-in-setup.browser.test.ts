// Guided SSO setup in the portal, in a real browser (Debian's Chromium through playwright-core),
// against the demo's own peers: a partner administrator pastes its OpenID Connect issuer (and
// then its SAML metadata), sees what was read, runs "Test sign-in" in a new tab — a real sign-in
// at the peer that provisions nobody and shows the claims — and enables the connection.
// Screenshots at 390 px and desktop width go to test/artifacts/ (git-ignored).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { setPassword } from '../../support/sign-in.ts';
import { startOidcPeer, type OidcPeer } from '../../../demo/peers/oidc-idp.ts';
import { startSamlPeer, type SamlPeer } from '../../../demo/peers/saml-idp.ts';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple 42';
const ARTIFACTS = join(import.meta.dirname, '../../artifacts');
const withBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`SKIPPED: the sign-in setup's browser specs need Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

let gh: TestServer;
let browser: Browser;
let acmeOidc: OidcPeer;
let acmeSaml: SamlPeer;
const portal = () => `${gh.url}/${NS}/acme/portal`;
const issuer = () => `${gh.url}/${NS}/acme`;

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, `sso-${name}-390.png`), fullPage: true });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect({ page: name, width }).toEqual({ page: name, width: 390 });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(ARTIFACTS, `sso-${name}-desktop.png`), fullPage: true });
}

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString(), federationSetup: { allowLoopbackHttp: true } });
  acmeOidc = await startOidcPeer({ clientId: 'gatehouse-acme', clientSecret: 'acme-upstream-secret', redirectUris: [`${issuer()}/broker/acme-oidc/callback`], users: [{ sub: 'a-1', email: 'ada@acme.example', password: 'acme-pass', name: 'Ada Acme', department: 'engineering' }], title: 'Acme SSO' });
  acmeSaml = await startSamlPeer({ users: [{ email: 'sam@labs.acme.example', password: 'acme-pass', name: 'Sam Labs' }], title: 'Acme Labs ADFS' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('acme', { displayName: 'Acme Industries', emailDomains: ['acme.example', 'labs.acme.example'], branding: { primaryColor: '#5b2a86' } }));
  await gh.put('idpconnections', idp('acme-directory', 'acme', { type: 'directory', oidc: undefined }));
  await gh.put('clients', { ...client('acme-portal', 'acme', { redirectUris: [`${portal()}/callback`], scopes: ['openid', 'email'] }), metadata: { name: 'acme-portal', namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/acme-portal/secret`);
  await gh.put('users', user('root', 'acme', { email: 'root@acme.example', roles: ['organization-admin'] }));
  await setPassword(gh, 'root', PASSWORD);
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gh.close();
  await acmeOidc.close();
  await acmeSaml.close();
});

withBrowser('guided SSO setup in Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  const violations: string[] = [];

  /** "Test sign-in" opens a new tab; the IdP's form is filled there, and the tab ends on the result. */
  async function testSignIn(draft: string, email: string): Promise<Page> {
    const [tab] = await Promise.all([context.waitForEvent('page'), page.locator(`#draft-${draft} button`, { hasText: 'Test sign-in' }).click()]);
    await tab.locator('input[name=password]').waitFor();
    await tab.fill('input[name=email]', email);
    await tab.fill('input[name=password]', 'acme-pass');
    await tab.click('button');
    await tab.locator('#test-result').waitFor();
    return tab;
  }

  it('signs the partner administrator in to the portal and opens Sign-in setup', async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${portal()}/sso`);
    // Email first (home-realm discovery), then the directory's password form.
    if ((await page.locator('input[name=password]').count()) === 0) {
      await page.fill('input[name=email]', 'root@acme.example');
      await page.click('button[type=submit]');
    }
    await page.locator('input[name=password]').waitFor();
    if (await page.locator('input[name=email]').count()) await page.fill('input[name=email]', 'root@acme.example');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${portal()}/sso`);
    await expect(page.locator('h1').innerText()).resolves.toBe('Sign-in setup');
    await expect(page.locator('#connection-acme-directory').innerText()).resolves.toMatch(/your platform team/);
    await shoot(page, 'empty');
  }, 60_000);

  it('OpenID Connect: pastes the issuer, sees what was read, tests in a new tab, enables', async () => {
    await page.fill('#sso-name', 'acme-oidc');
    await page.fill('#sso-display', 'Acme SSO');
    await page.check('input[name=type][value=oidc]');
    await page.fill('#oidc-issuer', acmeOidc.url);
    await page.fill('#oidc-client', 'gatehouse-acme');
    await page.fill('#oidc-secret', 'acme-upstream-secret');
    await page.uncheck('input[name=emailDomains][value="labs.acme.example"]');
    await page.click('button:has-text("Read and save draft")');
    const card = page.locator('#draft-acme-oidc');
    await card.waitFor();
    await expect(page.locator('.notice').innerText()).resolves.toMatch(/The draft is saved/);
    await expect(card.innerText()).resolves.toContain(acmeOidc.url);
    await expect(card.innerText()).resolves.toContain(`${issuer()}/broker/acme-oidc/callback`);
    await expect(card.innerText()).resolves.toMatch(/not tested/);
    expect(await page.content()).not.toContain('acme-upstream-secret');
    await shoot(page, 'oidc-draft');

    const tab = await testSignIn('acme-oidc', 'ada@acme.example');
    await expect(tab.locator('h1').innerText()).resolves.toBe('Test sign-in succeeded');
    await expect(tab.locator('table.claims').innerText()).resolves.toMatch(/department\s+engineering/);
    await shoot(tab, 'oidc-test-result');
    await tab.close();
    expect((await gh.store.users.list(NS, ['acme'])).map((u) => u.email)).toEqual(['root@acme.example']);

    await page.reload();
    await expect(card.innerText()).resolves.toMatch(/Test sign-in succeeded/);
    await shoot(page, 'oidc-tested');
    await card.locator('button', { hasText: 'Enable' }).click();
    await expect(page.locator('.notice').innerText()).resolves.toBe('Sign-in through your identity provider is on.');
    await expect(page.locator('#connection-acme-oidc').innerText()).resolves.toMatch(/Acme SSO[\s\S]*you, in this portal[\s\S]*acme.example/);
    const enabled = (await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/acme-oidc`)).body;
    expect(enabled).toMatchObject({ metadata: { annotations: { 'gatehouse.dev/source': 'portal' } }, status: { source: { type: 'portal' } } });
    await shoot(page, 'oidc-enabled');
  }, 60_000);

  it('SAML: pastes the metadata XML, sees the certificate and its expiry, tests through the ACS, enables', async () => {
    await page.fill('#sso-name', 'acme-saml');
    await page.fill('#sso-display', 'Acme Labs ADFS');
    await page.check('input[name=type][value=saml]');
    await page.fill('#saml-xml', acmeSaml.metadataXml);
    await page.uncheck('input[name=emailDomains][value="acme.example"]');
    await page.check('input[name=emailDomains][value="labs.acme.example"]');
    await page.click('button:has-text("Read and save draft")');
    const card = page.locator('#draft-acme-saml');
    await card.waitFor();
    await expect(card.innerText()).resolves.toContain(acmeSaml.entityId);
    await expect(card.innerText()).resolves.toMatch(/CN=pinnacle-idp[\s\S]*valid/);
    await expect(card.innerText()).resolves.toContain(`${issuer()}/saml/acme-saml/acs`);
    await shoot(page, 'saml-draft');

    const tab = await testSignIn('acme-saml', 'sam@labs.acme.example');
    await expect(tab.locator('#test-result').innerText()).resolves.toMatch(/The IdP signed in sam@labs.acme.example/);
    await shoot(tab, 'saml-test-result');
    await tab.close();
    await page.reload();
    await card.locator('button', { hasText: 'Enable' }).click();
    await expect(page.locator('#connection-acme-saml').innerText()).resolves.toMatch(/you, in this portal[\s\S]*labs.acme.example/);
    await shoot(page, 'saml-enabled');
    expect(violations).toEqual([]);
  }, 60_000);

  it('says what is wrong with what was pasted, keeping what was typed (but never the secret)', async () => {
    await page.fill('#sso-name', 'acme-bad');
    await page.check('input[name=type][value=oidc]');
    await page.fill('#oidc-issuer', 'https://169.254.169.254/latest');
    await page.fill('#oidc-client', 'x');
    await page.fill('#oidc-secret', 'typed-secret-9d1c');
    await page.click('button:has-text("Read and save draft")');
    await expect(page.locator('.error').first().innerText()).resolves.toMatch(/private or reserved address, which is never fetched/);
    await expect(page.locator('#oidc-issuer').inputValue()).resolves.toBe('https://169.254.169.254/latest');
    expect(await page.content()).not.toContain('typed-secret-9d1c');
    await shoot(page, 'error');
  }, 60_000);
});
