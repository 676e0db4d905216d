// Passkeys in a real browser: Debian's Chromium (playwright-core) with a CDP virtual
// authenticator (CTAP2, internal transport, resident keys, user verification). The pages load
// @simplewebauthn/browser from the server (no CDN) under their CSP. A directory user enrols a
// passkey at the second-factor step, signs in with it without a password from the email-first
// page, manages it on the account page; the browser and the server refuse what they must.
// WebAuthn refuses an IP address as RP ID: the server is reached as http://localhost:PORT.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';

const CHROMIUM = '/usr/bin/chromium';
const CALLBACK = 'http://127.0.0.1:8009/callback';
const PASSWORD = 'correct horse battery staple';
const withBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`SKIPPED: the passkey browser specs need Chromium at ${CHROMIUM}`);

let gh: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;
let authenticatorId: string;
let secret: string;
const violations: string[] = [];
const issuer = () => `${gh.url}/${NS}/cascade`;
const config = () => oidc.discovery(new URL(issuer()), `timesheets.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests] });

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString(), publicHost: 'localhost' });
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting', mfa: { required: true } }));
  await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'] }));
  await gh.put('clients', client('timesheets', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/timesheets/secret`)).body.clientSecret;
  await setPassword(gh, 'ana', PASSWORD);
  if (!existsSync(CHROMIUM)) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  // The client's callback is not a server: the browser stops there, the spec reads the code.
  await context.route(`${CALLBACK}**`, (route) => {
    arrived?.(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' });
  });
  page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } }));
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gh?.close();
});

let arrived: ((url: string) => void) | undefined;

/** Sends the browser to the issuer as the client would; returns what the callback needs, and when it is reached. */
async function start(): Promise<{ verifier: string; state: string; callback: Promise<string> }> {
  const callback = new Promise<string>((resolve) => {
    arrived = resolve;
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(await config(), { redirect_uri: CALLBACK, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
  await page.goto(url.href);
  return { verifier, state, callback };
}

const reached = (flow: { callback: Promise<string> }) => Promise.race([flow.callback, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the callback was not reached; the browser is at ${page.url()}`)), 10_000))]);

async function tokens(flow: { verifier: string; state: string; callback: Promise<string> }) {
  const url = await reached(flow);
  // The browser has finished arriving there, so the next step's navigation interrupts nothing.
  await page.waitForURL((u) => u.href.startsWith(CALLBACK));
  return oidc.authorizationCodeGrant(await config(), new URL(url), { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
}

/** The passkey script has looked for WebAuthn (and started autofill where offered). */
const scriptReady = () => page.waitForSelector('#passkey-form[data-ready="true"]', { state: 'attached' });

withBrowser('passkeys in Chromium with a virtual authenticator', () => {
  it('enrols a passkey at the second-factor step of a password sign-in', async () => {
    const flow = await start();
    await page.fill('#email', 'ana@cascade.example');
    await page.click('button[type=submit]');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    expect(await page.textContent('h1')).toBe('Set up two-step verification');
    await scriptReady();
    await page.fill('#passkey-name', 'Chromium');
    await page.click('#passkey-button');
    const t = await tokens(flow);
    expect(t.claims()).toMatchObject({ sub: 'ana', acr: 'phrh', amr: ['pwd', 'hwk', 'user', 'mfa'] });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
    expect((await gh.store.passkeys.list(NS, 'ana')).map((p) => [p.name, p.rpId])).toEqual([['Chromium', 'localhost']]);
  });

  it('signs in without a password from the email-first page, through the email field’s autofill (conditional mediation)', async () => {
    await context.clearCookies();
    // The virtual authenticator answers the conditional request at once, as a user picking the passkey from the autofill list would.
    const t = await tokens(await start());
    expect(t.claims()).toMatchObject({ sub: 'ana', acr: 'phrh', amr: ['hwk', 'user', 'mfa'] });
  });

  it('lists and renames the passkey on the account page', async () => {
    await page.goto(`${issuer()}/account/passkeys`);
    expect(await page.textContent('#passkeys')).toContain('Chromium');
    await page.fill('input[name=name][id^=rename-]', 'My laptop');
    await page.click('form:has(input[value=rename]) button');
    expect(await page.textContent('#notice')).toBe('The passkey is renamed.');
    expect(await page.textContent('#passkeys')).toContain('My laptop');
  });

  it('refuses a passwordless sign-in the authenticator did not verify the user for, and offers the button again', async () => {
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    await context.clearCookies();
    const flow = await start();
    // The autofill fails quietly (or its answer is refused by the server, which says so); the button shows the browser's refusal.
    await scriptReady();
    if ((await page.locator('p.error:not([hidden])').count()) === 0) await page.click('#passkey-button').catch(() => {});
    await page.waitForSelector('p.error:not([hidden])', { timeout: 30_000 });
    expect(await page.textContent('p.error:not([hidden])')).toMatch(/must verify you|cancelled/);
    expect(page.url().startsWith(CALLBACK)).toBe(false);
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
    // The user verifies this time, and presses the button (the answer page offers no autofill).
    await scriptReady();
    await page.click('#passkey-button');
    expect((await tokens(flow)).claims()).toMatchObject({ amr: ['hwk', 'user', 'mfa'] });
  });

  it('refuses a passkey the server no longer knows (revoked by an administrator)', async () => {
    const [passkey] = await gh.store.passkeys.list(NS, 'ana');
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/organizations/cascade/users/ana/passkeys/${passkey!.id}`)).status).toBe(200);
    await context.clearCookies();
    await start();
    await page.waitForSelector('p.error:not([hidden])', { timeout: 30_000 });
    expect(await page.textContent('p.error:not([hidden])')).toContain('not registered here');
    expect(page.url().startsWith(CALLBACK)).toBe(false);
  });

  it('ran every page under its CSP, with no violation', () => {
    expect(violations).toEqual([]);
  });
});
