// The portal's Risk page: an organization administrator sees its own organization's risk
// decisions with their reasons and its suspended clients, never another partner's.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Browser } from '../../support/browser.ts';
import { NS, accessPolicy, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const API = 'https://inventory.example';
const portal = (org: string) => `${gh.url}/${NS}/${org}/portal`;
const secrets: Record<string, string> = {};

async function signInToPortal(org: string, email: string): Promise<{ browser: Browser; html: string; status: number }> {
  const browser = new Browser();
  const form = await browser.follow(`${portal(org)}/`);
  const html = await form.res.text();
  const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
  const posted = await browser.submit(new URL(action, form.url).href, { email, password: PASSWORD });
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href);
  return { browser, html: await done.res.text(), status: done.res.status };
}

async function machineToken(org: string, ip: string): Promise<number> {
  const basic = Buffer.from(`${encodeURIComponent(`${org}-sync.${NS}`)}:${encodeURIComponent(secrets[org]!)}`).toString('base64');
  const res = await fetch(`${gh.url}/${NS}/${org}/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
  return res.status;
}

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z', trustedProxies: ['127.0.0.1/32'] });
  const risk = { rules: { newClientAddress: { weight: 50 }, clientBurst: { weight: 100, minimum: 2 } }, thresholds: { deny: 50, suspendClient: 100 } };
  for (const org of ['cascade', 'forge']) {
    await gh.put('organizations', organization(org, { risk }));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', { ...client(`${org}-portal`, org, { redirectUris: [`${portal(org)}/callback`], scopes: ['openid', 'email'] }), metadata: { name: `${org}-portal`, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });
    await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-portal/secret`);
    await gh.put('clients', client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [API] }));
    await gh.put('accesspolicies', accessPolicy(`${org}-inventory`, org, { scopes: [{ scope: 'inventory:read' }] }));
    secrets[org] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-sync/secret`)).body.clientSecret;
    await gh.put('users', user(`${org}-admin`, org, { email: `admin@${org}.example`, roles: ['organization-admin'] }));
  }
  await gh.put('users', user('cascade-um', 'cascade', { email: 'um@cascade.example', roles: ['user-manager'] }));
  for (const u of ['cascade-admin', 'forge-admin', 'cascade-um']) await setPassword(gh, u, PASSWORD);
  // Cascade's client: its usual address, a new one (refused), then a flood (suspended).
  expect(await machineToken('cascade', '193.0.0.1')).toBe(200);
  expect(await machineToken('cascade', '5.255.255.5')).toBe(400);
  for (let i = 0; i < 2; i++) await machineToken('cascade', '193.0.0.1');
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe('the Risk page', () => {
  it('shows an organization administrator its decisions, why each was taken, and its suspended clients', async () => {
    const { browser, html: home } = await signInToPortal('cascade', 'admin@cascade.example');
    expect(home).toContain(`href="/${NS}/cascade/portal/risk"`);
    const res = await browser.fetch(`${portal('cascade')}/risk`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/id="risk-deny">1</);
    expect(html).toMatch(/id="risk-suspendClient">1</);
    expect(html).toContain('<code>newClientAddress</code> (+50): 5.255.255.5 was never seen for this client');
    expect(html).toMatch(/id="suspended-clients"><li><span class="mono">cascade-sync<\/span>/);
    expect(html).toContain('until your Blixit administrator lifts it');
  });

  it("shows another partner's administrator only its own organization, which has nothing of Cascade's", async () => {
    const { browser } = await signInToPortal('forge', 'admin@forge.example');
    const html = await (await browser.fetch(`${portal('forge')}/risk`)).text();
    expect(html).toMatch(/id="risk-deny">0</);
    expect(html).not.toContain('cascade-sync');
    expect(html).not.toContain('5.255.255.5');
    // Cascade's portal path is not Forge's to open.
    expect((await browser.fetch(`${portal('cascade')}/risk`)).status).not.toBe(200);
  });

  it('is not for a user manager', async () => {
    const { browser } = await signInToPortal('cascade', 'um@cascade.example');
    const res = await browser.fetch(`${portal('cascade')}/risk`);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('newClientAddress');
  });
});
