// The account pages in a real browser (Debian's Chromium, playwright-core): a user with no role
// opens `{issuer}/account`, is sent through the issuer's sign-in and back, moves between the home,
// passkey and password pages by their links, signs out, and signs in again for a change once the
// last sign-in is over ten minutes old; every page under its CSP.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { NS, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple';
const withBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`SKIPPED: the account page browser specs need Chromium at ${CHROMIUM}`);

let gh: TestServer;
let browser: Browser;
let page: Page;
const violations: string[] = [];
const issuer = () => `${gh.url}/${NS}/cascade`;

beforeAll(async () => {
  // The clock is the system's: oidc-provider stamps the sign-in with it.
  gh = await startTestServer({ now: new Date().toISOString(), publicHost: 'localhost' });
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
  await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'] }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', displayName: 'Ana Lima' }));
  await setPassword(gh, 'ana', PASSWORD);
  if (!existsSync(CHROMIUM)) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gh?.close();
});

async function signIn(): Promise<void> {
  await page.fill('#email', 'ana@cascade.example');
  await page.click('button[type=submit]');
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
}

withBrowser('the account pages in Chromium', () => {
  it('sends a user without a session through the sign-in and back to the home page', async () => {
    await page.goto(`${issuer()}/account`);
    expect(await page.textContent('h1')).toBe('Sign in');
    await signIn();
    await page.waitForURL((u) => u.pathname === `/${NS}/cascade/account`);
    expect(await page.textContent('h1')).toBe('Your account');
    expect(await page.textContent('#signed-in-as')).toBe('Signed in as Ana Lima (ana@cascade.example) of Cascade Consulting.');
  });

  it('links to the passkey page, and back home, and to the password page', async () => {
    await page.click('#passkeys');
    expect(await page.textContent('h1')).toBe('Your passkeys');
    await page.click('#account-home');
    expect(await page.textContent('h1')).toBe('Your account');
    await page.click('#password');
    expect(await page.textContent('h1')).toBe('Change your password');
    await page.click('#account-home');
  });

  it('signs out, and the home page then asks to sign in again', async () => {
    await page.click('#sign-out');
    expect(await page.textContent('h1')).toBe('Sign out');
    await page.click('#confirm-sign-out');
    await page.waitForURL((u) => u.pathname.endsWith('/session/end/success'));
    expect(await page.textContent('h1')).toBe('Signed out');
    await page.goto(`${issuer()}/account/passkeys`);
    expect(await page.textContent('h1')).toBe('Sign in');
    await signIn();
    await page.waitForURL((u) => u.pathname === `/${NS}/cascade/account/passkeys`);
    expect(await page.textContent('h1')).toBe('Your passkeys');
  });

  it('asks for a sign-in again before a change once the last one is more than ten minutes old', async () => {
    expect(await page.locator('#passkey-form').count()).toBe(1);
    gh.clock.advance(11 * 60_000);
    await page.reload();
    expect(await page.textContent('#sign-in-again')).toContain('sign in again first');
    expect(await page.locator('#passkey-form').count()).toBe(0);
    await page.click('#reauthenticate');
    // The email-first page, though the session lives: a new sign-in, then back.
    expect(await page.textContent('h1')).toBe('Sign in');
    await signIn();
    await page.waitForURL((u) => u.pathname === `/${NS}/cascade/account/passkeys`);
    expect(await page.locator('#passkey-form').count()).toBe(1);
  });

  it('ran every page under its CSP, with no violation', () => {
    expect(violations).toEqual([]);
  });
});
