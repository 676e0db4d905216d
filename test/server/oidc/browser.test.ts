// The page security headers in a real browser (Debian's Chromium through playwright-core):
// the policy is strict enough to refuse framing, and loose enough for every flow a browser
// runs — sign-in form posts that redirect to the client, oidc-provider's form_post script and
// the sign-out page's script — with no Content-Security-Policy violation on the way.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword } from '../../support/sign-in.ts';
import { pollUntil } from '../../support/eventually.ts';

const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple 42';
// Without Chromium (apt-get install chromium) there is no browser to run these in.
const withBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`SKIPPED: the page specs need Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

let gh: TestServer;
let browser: Browser;
const issuer = () => `${gh.url}/${NS}/forge`;

/** A fresh browser profile whose client callback answers in place (nothing listens there) and which records CSP complaints. */
async function session(): Promise<{ context: BrowserContext; page: Page; callbacks: string[]; violations: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const callbacks: string[] = [];
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  await context.route(`${CALLBACK}**`, async (route) => {
    callbacks.push(`${route.request().method()} ${route.request().url()}`);
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' });
  });
  return { context, page, callbacks, violations };
}

function authorizeUrl(params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ client_id: `forge-web.${NS}`, redirect_uri: CALLBACK, response_type: 'code', scope: 'openid email', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'st', ...params });
  return `${issuer()}/auth?${q}`;
}

async function signIn(page: Page, params: Record<string, string> = {}): Promise<void> {
  await page.goto(authorizeUrl(params));
  if ((await page.locator('input[name=password]').count()) === 0) {
    await page.fill('input[name=email]', 'lena@forge.example');
    await page.click('button[type=submit]');
  }
  if ((await page.locator('input[name=email]').count()) > 0) await page.fill('input[name=email]', 'lena@forge.example');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${CALLBACK}**`);
}

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge'));
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], postLogoutRedirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`);
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  await setPassword(gh, 'lena', PASSWORD);
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gh.close();
});

withBrowser('in Chromium', () => {
  it('signs in with the password form: the POST and the redirects after it reach the client', async () => {
    const s = await session();
    await signIn(s.page);
    expect(s.callbacks).toEqual([expect.stringMatching(new RegExp(`^GET ${CALLBACK}\\?code=`))]);
    expect(s.violations).toEqual([]);
    await s.context.close();
  }, 30_000);

  it("runs oidc-provider's form_post script (admitted by its hash) and posts the code to the client", async () => {
    const s = await session();
    await signIn(s.page, { response_mode: 'form_post' });
    expect(s.callbacks).toEqual([`POST ${CALLBACK}`]);
    expect(s.violations).toEqual([]);
    await s.context.close();
  }, 30_000);

  it("runs the sign-out page's script, which submits the form by itself", async () => {
    const s = await session();
    await signIn(s.page);
    await s.page.goto(`${issuer()}/session/end?client_id=forge-web.${NS}&post_logout_redirect_uri=${encodeURIComponent(CALLBACK)}`);
    await s.page.waitForURL(`${CALLBACK}**`);
    expect(s.callbacks.at(-1)).toBe(`GET ${CALLBACK}`);
    expect(s.violations).toEqual([]);
    await s.context.close();
  }, 30_000);

  it("refuses to show a page inside another site's frame", async () => {
    const s = await session();
    await s.page.setContent(`<iframe src="${authorizeUrl()}"></iframe>`);
    await pollUntil(
      () => s.violations.some((v) => v.includes("frame-ancestors 'none'")),
      10_000,
      () => s.violations.join('\n'),
    );
    await s.context.close();
  }, 30_000);
});
