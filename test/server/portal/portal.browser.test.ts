// The partner portal in a real browser (Debian's Chromium through playwright-core): a partner
// administrator signs in through its organization's issuer, enrolling TOTP from the QR code;
// invites a user who sets a password and enrols TOTP by scanning the QR code (decoded here from
// the page's SVG); then sees that enrolment in the organization's activity. Screenshots of
// every page at 390 px and at desktop width go to test/artifacts/ (git-ignored). A workspace user
// named as an approver decides in the workspace portal.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import decodeQR from 'qr/decode.js';
import { URI, type TOTP } from 'otpauth';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { setPassword } from '../../support/sign-in.ts';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple 42';
const ARTIFACTS = join(import.meta.dirname, '../../artifacts');
const withBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`SKIPPED: the portal's browser specs need Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

let gh: TestServer;
let browser: Browser;
const portal = (org: string) => `${gh.url}/${NS}/${org}/portal`;
// The logo is a data: image, as Organization spec.branding.logo requires.
const LOGO = 'data:image/svg+xml;base64,' + Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" rx="8" fill="#0b5394"/><text x="20" y="27" font-size="20" text-anchor="middle" fill="#fff" font-family="sans-serif">C</text></svg>').toString('base64');

const consoleClient = (name: string, org: string) => ({
  ...client(name, org, { redirectUris: [`${portal(org)}/callback`], scopes: ['openid', 'email'] }),
  metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
});

async function session(): Promise<{ context: BrowserContext; page: Page; violations: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Fail with playwright's own message (what it waited for) well before jest's timeout.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  return { context, page, violations };
}

/** Screenshots at 390 px (checking nothing is wider than the screen) and at desktop width. */
async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, `portal-${name}-390.png`), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  expect({ page: name, width: overflow }).toEqual({ page: name, width: 390 });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: join(ARTIFACTS, `portal-${name}-desktop.png`), fullPage: true });
}

/**
 * Reads the QR code as an authenticator app would: the page's SVG drawn on a canvas (in a
 * blank page of the same browser), its pixels decoded by a QR reader.
 */
async function scanQr(page: Page): Promise<string> {
  const svg = await page.locator('svg#totp-qr').evaluate((el) => el.outerHTML);
  const scratch = await page.context().newPage();
  const pixels = await scratch.evaluate(async (markup) => {
    const size = 400;
    const img = new Image();
    img.src = `data:image/svg+xml;base64,${btoa(markup)}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const g = canvas.getContext('2d')!;
    g.fillStyle = '#fff';
    g.fillRect(0, 0, size, size);
    g.drawImage(img, 0, 0, size, size);
    // As one base64 string: playwright serialises an array value by value, which for 640,000
    // numbers took ~25 s on a loaded machine.
    const data = g.getImageData(0, 0, size, size).data;
    let binary = '';
    for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return btoa(binary);
  }, svg);
  await scratch.close();
  return decodeQR({ width: 400, height: 400, data: new Uint8Array(Buffer.from(pixels, 'base64')) });
}

/** Scans the enrolment QR, answers with the current code, and continues past the recovery codes. */
async function enrolTotp(page: Page, name: string): Promise<string> {
  await page.locator('svg#totp-qr').waitFor();
  const uri = await scanQr(page);
  expect(uri).toMatch(/^otpauth:\/\/totp\//);
  const shown = (await page.locator('#totp-secret').innerText()).replace(/\s+/g, '');
  expect(new URL(uri).searchParams.get('secret')).toBe(shown);
  await shoot(page, `${name}-totp-enrolment`);
  const code = (URI.parse(uri) as TOTP).generate({ timestamp: gh.clock.now() });
  await page.fill('input[name=code]', code);
  await page.click('button[type=submit]');
  await page.locator('#recovery-codes').waitFor();
  await page.click('button[type=submit]');
  return uri;
}

/** The issuer's sign-in: the email first (home-realm discovery), then the password. */
async function signInWithPassword(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.locator('input[name=email], input[name=password]').first().waitFor();
  if ((await page.locator('input[name=password]').count()) === 0) {
    await page.fill('input[name=email]', email);
    await page.click('button[type=submit]');
    await page
      .locator('input[name=password]')
      .waitFor()
      .catch(async (error: Error) => {
        throw new Error(`${error.message}\nat ${page.url()}: ${await page.locator('body').innerText()}`);
      });
  }
  if (await page.locator('input[name=email]').count()) await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace({ guardrails: { requireMfaForAdmins: true } }));
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting', branding: { primaryColor: '#0b5394', logo: LOGO } }));
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', branding: { primaryColor: '#ffd33d' } }));
  for (const org of ['cascade', 'forge']) {
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', consoleClient(`${org}-portal`, org));
    await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-portal/secret`);
  }
  await gh.put('clients', client('cascade-crm', 'cascade', { scopes: ['openid', 'email', 'orders:read', 'orders:write'], audiences: ['https://orders.example'] }));
  await gh.put(
    'accesspolicies',
    accessPolicy('cascade-orders', 'cascade', {
      scopes: [
        { scope: 'orders:read', api: [{ path: '/orders', methods: ['GET'] }] },
        { scope: 'orders:write', requireMfa: true },
        { scope: 'orders:admin', requireApproval: true },
      ],
      approvers: { roles: ['organization-admin'], users: ['wade'] },
    }),
  );
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('wendy', undefined, { email: 'owner@blixit.example', roles: ['admin'] }));
  await gh.put('clients', { ...client('workspace-portal', undefined, { redirectUris: [`${gh.url}/${NS}/portal/callback`], scopes: ['openid', 'email'] }), metadata: { name: 'workspace-portal', namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/workspace-portal/secret`);
  // A workspace user who administers nothing, named as Cascade's approver.
  await gh.put('users', user('wade', undefined, { email: 'wade@blixit.example', roles: ['user-manager'] }));
  for (const name of ['ana', 'fred', 'wendy', 'wade']) await setPassword(gh, name, PASSWORD);
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gh.close();
});

withBrowser('the partner portal in Chromium', () => {
  let admin: { context: BrowserContext; page: Page; violations: string[] };
  let passwordLink: string;

  it('signs a partner administrator in through its issuer, with TOTP enrolled from the QR code', async () => {
    admin = await session();
    const { page } = admin;
    await page.goto(`${portal('cascade')}/`);
    await signInWithPassword(page, 'ana@cascade.example');
    await enrolTotp(page, 'admin');
    await page.waitForURL(`${portal('cascade')}/`);
    await expect(page.locator('header .org').innerText()).resolves.toBe('Cascade Consulting');
    await expect(page.locator('nav a', { hasText: 'Sign-in setup' }).getAttribute('href')).resolves.toBe(`/${NS}/cascade/portal/sso`);
    await shoot(page, 'home');
  }, 60_000);

  it('invites a user, showing the one-time password link', async () => {
    const { page } = admin;
    await page.click('nav >> text=Users');
    await shoot(page, 'users');
    await page.fill('#invite-email', 'ben@cascade.example');
    await page.fill('#invite-name', 'Ben Okafor');
    await page.check('input[name=roles][value=auditor]');
    await page.click('form:has(#invite-email) button[type=submit]');
    await expect(page.locator('.notice').innerText()).resolves.toContain('ben@cascade.example is invited');
    passwordLink = (await page.locator('#password-link a').getAttribute('href'))!;
    expect(passwordLink).toContain('/account/password?token=');
    await expect(page.locator('tr.user-row', { hasText: 'ben@cascade.example' }).count()).resolves.toBe(1);
    await shoot(page, 'users-invited');
  }, 30_000);

  it('lets the invited user set a password, follow "Password set" to sign in, and enrol TOTP by scanning the QR code', async () => {
    const ben = await session();
    const { page } = ben;
    await page.goto(passwordLink);
    await shoot(page, 'set-password');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await expect(page.locator('h1').innerText()).resolves.toBe('Password set');
    await shoot(page, 'password-set');
    await page.click('#sign-in');
    // A wrong password first: the page that answers keeps the organization's branding.
    await signInWithPassword(page, 'ben@cascade.example', 'not the password at all');
    await expect(page.locator('.error').innerText()).resolves.toContain('not correct');
    await expect(page.locator('header').innerText()).resolves.toContain('Cascade Consulting');
    await shoot(page, 'wrong-password');
    await signInWithPassword(page, 'ben@cascade.example');
    await enrolTotp(page, 'invited');
    await page.waitForURL(`${portal('cascade')}/`);
    await expect(page.locator('main').innerText()).resolves.toContain('auditor');
    expect(ben.violations).toEqual([]);
    await ben.context.close();
  }, 60_000);

  it("shows the administrator the enrolment in the organization's activity, and exports it", async () => {
    const { page } = admin;
    await page.click('nav >> text=Activity');
    await page.fill('#f-action', 'user.mfa-enrolled');
    await page.click('form.filters button[type=submit]');
    const rows = page.locator('tr.audit-row');
    await expect(rows.count()).resolves.toBe(2);
    await expect(rows.first().innerText()).resolves.toMatch(/ben-/);
    await shoot(page, 'audit');
    const csv = await page.evaluate(async (href) => (await fetch(href)).text(), (await page.locator('a', { hasText: 'CSV' }).getAttribute('href'))!);
    expect(csv.split('\r\n')[0]).toBe('seq,time,action,outcome,actor,organization,subject,client,kind,name,data');
    expect(csv).toContain('user.mfa-enrolled');
  }, 30_000);

  it("resets the invited user's two-step verification after a confirmation (the portal's script, allowed by the CSP)", async () => {
    const { page } = admin;
    await page.click('nav >> text=Users');
    const ben = page.locator('tr.user-row', { hasText: 'ben@cascade.example' });
    await expect(ben.innerText()).resolves.toContain('2-step');
    const dialogs: string[] = [];
    page.once('dialog', async (d) => {
      dialogs.push(d.message());
      await d.accept();
    });
    await ben.locator('button', { hasText: 'Reset 2-step' }).click();
    await expect(page.locator('.notice').innerText()).resolves.toContain('Two-step verification is reset');
    expect(dialogs).toEqual(['Reset two-step verification of ben@cascade.example?']);
    await expect(page.locator('tr.user-row', { hasText: 'ben@cascade.example' }).innerText()).resolves.not.toContain('2-step');
    // The live filter: typing hides the rows that do not match, without a request. The filter is
    // the deferred portal.js: typing before it has run (the notice shows before) filters nothing.
    await page.waitForLoadState('domcontentloaded');
    await page.fill('#q', 'ben');
    await expect(page.locator('tr.user-row:visible').count()).resolves.toBe(1);
  }, 30_000);

  it('shows the applications and what each may do, and the contract', async () => {
    const { page } = admin;
    await page.click('nav >> text=Applications');
    const crm = page.locator('#app-cascade-crm');
    await expect(crm.innerText()).resolves.toContain('orders:write');
    await expect(crm.locator('tr', { hasText: 'orders:write' }).innerText()).resolves.toContain('two-step verification');
    await shoot(page, 'applications');
    await page.click('nav >> text=Contract');
    await expect(page.locator('main').innerText()).resolves.toContain('C-cascade');
    await shoot(page, 'contract');
    await page.click('nav >> text=Sign-in setup');
    await shoot(page, 'sign-in-setup');
    expect(admin.violations).toEqual([]);
  }, 30_000);

  it('opens an access request from the list, and approves it on its own page', async () => {
    const { page } = admin;
    const id = 'ar-0000000000000000aa';
    await gh.store.accessRequests.create({ namespace: NS, id, organization: 'cascade', userId: 'bo', clientId: `cascade-crm.${NS}`, scopes: ['orders:admin'], justification: 'month-end close', createdAt: gh.clock.now() });
    await page.click('nav >> text=Access requests');
    await shoot(page, 'access-requests');
    await page.click(`tr[data-request="${id}"] a`);
    expect(new URL(page.url()).pathname).toBe(`/${NS}/cascade/portal/access-requests/${id}`);
    await expect(page.locator('#request').innerText()).resolves.toContain('month-end close');
    await shoot(page, 'access-request');
    await page.fill('#approve-for', '30d');
    await page.click('#approve button[type=submit]');
    await expect(page.locator('#request-state').innerText()).resolves.toBe('approved');
    await expect(page.locator('body').innerText()).resolves.toContain('The access request is approved.');
    expect(admin.violations).toEqual([]);
  }, 30_000);

  it('refuses a user of another organization, and an edited URL reaches no other organization', async () => {
    const fred = await session();
    await fred.page.goto(`${portal('cascade')}/`);
    // Cascade's issuer routes only Cascade's domains: Fred never reaches a password form, let alone the portal.
    await fred.page.fill('input[name=email]', 'fred@forge.example');
    await fred.page.click('button[type=submit]');
    await fred.page.locator('.error').waitFor();
    await expect(fred.page.locator('input[name=password]').count()).resolves.toBe(0);
    await expect(fred.page.locator('header').innerText()).resolves.toContain('Cascade Consulting');
    await shoot(fred.page, 'other-organization-refused');
    await expect(fred.page.locator('.error').innerText()).resolves.toContain('No organization signs in with forge.example addresses here');
    await fred.context.close();

    const { page } = admin;
    // Cascade's session is not Forge's: Forge's portal sends the browser to Forge's own sign-in.
    await page.goto(`${portal('forge')}/users`);
    expect(page.url()).toContain(`/${NS}/forge/`);
    expect(page.url()).not.toContain('/forge/portal/users');
    await expect(page.locator('body').innerText()).resolves.not.toContain('fred@forge.example');
    await expect(page.locator('header').innerText()).resolves.toContain('Forge Supplies');
    await page.goto(`${portal('cascade')}/`);
    await admin.context.close();
  }, 60_000);

  it('takes a workspace user named as an approver to the request in the workspace portal, where it approves it', async () => {
    const wade = await session();
    const { page } = wade;
    const id = 'ar-0000000000000000ab';
    await gh.store.accessRequests.create({ namespace: NS, id, organization: 'cascade', userId: 'bo', clientId: `cascade-crm.${NS}`, scopes: ['orders:admin'], justification: 'audit season', createdAt: gh.clock.now() });
    // The link of its message (test/server/portal/access-requests.test.ts follows the real one).
    const link = `${gh.url}/${NS}/portal/access-requests/${id}`;
    await page.goto(link);
    await signInWithPassword(page, 'wade@blixit.example');
    await enrolTotp(page, 'workspace-approver');
    await page.waitForURL(link);
    await expect(page.locator('#request').innerText()).resolves.toContain('audit season');
    await expect(page.locator('nav').innerText()).resolves.toBe('Access requests');
    await shoot(page, 'workspace-access-request');
    await page.click('#approve button[type=submit]');
    await expect(page.locator('#request-state').innerText()).resolves.toBe('approved');
    expect(await gh.store.accessRequests.find(NS, id)).toMatchObject({ state: 'approved', decidedBy: `user:${NS}/wade` });
    await page.click('nav >> text=Access requests');
    await expect(page.locator(`tr[data-request="${id}"]`).innerText()).resolves.toContain('cascade');
    await shoot(page, 'workspace-access-requests');
    expect(wade.violations).toEqual([]);
    await wade.context.close();
  }, 60_000);

  it('shows a workspace administrator the overview of every organization', async () => {
    const wendy = await session();
    const { page } = wendy;
    await page.goto(`${gh.url}/${NS}/portal/`);
    await signInWithPassword(page, 'owner@blixit.example');
    await enrolTotp(page, 'workspace');
    await page.waitForURL(`${gh.url}/${NS}/portal/`);
    await expect(page.locator('tr.org-row').count()).resolves.toBe(2);
    await expect(page.locator('tr[data-organization=cascade]').innerText()).resolves.toContain('runtime user');
    await shoot(page, 'workspace-overview');
    await page.click('tr[data-organization=cascade] >> text=Activity');
    await expect(page.locator('h1').innerText()).resolves.toBe('Activity of Cascade Consulting');
    await shoot(page, 'workspace-activity');
    expect(wendy.violations).toEqual([]);
    await wendy.context.close();
  }, 60_000);
});
