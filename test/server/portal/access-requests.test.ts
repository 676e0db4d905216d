// The portal's access requests: the approvers' "pending approval" message links to the request's
// own page in the requester's organization's portal (`…/portal/access-requests/{id}`, the same from
// the organization's issuer and the shared one), where a declared approver reads it and approves,
// denies or revokes it with the admin API's guardrails; the requester, a non-approver and another
// partner's administrator cannot.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../../support/browser.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, setPassword } from '../../support/sign-in.ts';
import { startSignIn, submit, text } from '../broker/flow.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const ORDERS = 'https://orders.example';
const portal = (org: string) => `${gh.url}/${NS}/${org}/portal`;
const secrets: Record<string, string> = {};
const consoleClient = (org: string) => ({
  ...client(`${org}-console`, org, { redirectUris: [`${portal(org)}/callback`], scopes: ['openid', 'email'] }),
  metadata: { name: `${org}-console`, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
});

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  await gh.put('workspaces', workspace());
  for (const org of ['forge', 'cascade']) {
    await gh.put('organizations', organization(org, { displayName: org === 'forge' ? 'Forge Supplies' : 'Cascade Consulting' }));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', consoleClient(org));
    await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-console/secret`);
  }
  await gh.put('clients', client('orders', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write', 'orders:admin'], audiences: [ORDERS] }));
  await gh.put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write'], audiences: [ORDERS] }));
  for (const name of ['orders', 'hub']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  await gh.put('accesspolicies', accessPolicy('forge-orders', 'forge', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireApproval: true }, { scope: 'orders:admin', requireApproval: true }], approvers: { roles: ['organization-admin'] } }));
  await gh.put('users', user('dana', 'forge', { email: 'dana@forge.example', roles: ['user-manager'] }));
  await gh.put('users', user('olga', 'forge', { email: 'olga@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('ivy', 'forge', { email: 'ivy@forge.example' }));
  await gh.put('users', user('aud', 'forge', { email: 'aud@forge.example', roles: ['auditor'] }));
  await gh.put('users', user('carl', 'cascade', { email: 'carl@cascade.example', roles: ['organization-admin'] }));
  for (const name of ['dana', 'ivy', 'olga', 'aud', 'carl']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh?.close();
});

/** `email` asks for a gated scope through a client at an issuer; returns the request's id (from the access-request page). */
async function ask(org: string | undefined, name: string, email = 'dana@forge.example', scope = 'orders:write'): Promise<string> {
  const config = await oidc.discovery(new URL(`${gh.url}/${NS}${org ? `/${org}` : ''}`), `${name}.${NS}`, secrets[name], undefined, { execute: [oidc.allowInsecureRequests] });
  let s = await startSignIn(config, { scope: `openid email ${scope}` });
  s = await submit(s, { email });
  s = await submit(s, { email, password: PASSWORD });
  const html = await s.res.text();
  return /name="request" value="(ar-[0-9a-f]+)"/.exec(html)![1]!;
}

/** The link of the newest "pending approval" message to `to`. */
async function linkTo(to: string): Promise<string> {
  const message = (await gh.store.notifications.list(NS)).find((n) => n.message === 'access-request-pending' && n.recipient === to);
  return message!.variables.link!;
}

/** Opens `url` in a fresh browser, signing in to the portal on the way as `email`; returns the page it ends on. */
async function openAs(url: string, email: string, browser = new Browser()): Promise<{ browser: Browser; url: string; res: Response; html: string }> {
  const form = await browser.follow(url);
  const html = await form.res.text();
  const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
  const posted = await browser.submit(new URL(action, form.url).href, { email, password: PASSWORD });
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href);
  return { browser, url: done.url, res: done.res, html: await done.res.text() };
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

describe('the approvers hear of a request with a link to it', () => {
  let id: string;
  let link: string;

  it("links to the request's own page in the organization's portal, not to the portal's home", async () => {
    id = await ask('forge', 'orders');
    link = await linkTo('olga@forge.example');
    expect(link).toBe(`${portal('forge')}/access-requests/${id}`);
  });

  it('opens, once signed in, on the request: who asks, for what, and the decision forms', async () => {
    const page = await openAs(link, 'olga@forge.example');
    expect(page.url).toBe(link);
    expect(page.res.status).toBe(200);
    const shown = await text(new Response(page.html));
    expect(shown).toContain('dana@forge.example');
    expect(shown).toContain('orders:write');
    expect(page.html).toContain('id="request-state"><span class="badge warn">pending</span>');
    expect(page.html).toContain('id="approve"');
    // Listed among the organization's requests, linking to it.
    const list = await page.browser.fetch(`${portal('forge')}/access-requests`);
    expect(await list.text()).toContain(`href="/${NS}/forge/portal/access-requests/${id}"`);

    // Approved for a week from there: audited, and the requester is told.
    const approved = await page.browser.submit(`${link}/approve`, { _csrf: csrfOf(page.html), for: '7d', note: 'for the Q4 orders' });
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe(`/${NS}/forge/portal/access-requests/${id}?notice=request-approved`);
    const after = await page.browser.fetch(new URL(approved.headers.get('location')!, link).href);
    const html = await after.text();
    expect(html).toContain('The access request is approved.');
    expect(html).toContain('<span class="badge ok">approved</span>');
    expect(html).toContain('id="revoke"');
    expect(await gh.store.accessRequests.find(NS, id)).toMatchObject({ state: 'approved', decidedBy: `user:${NS}/forge/olga` });
    const audit = (await gh.admin('GET', `/admin/v1/audit?action=accessrequest.approved&limit=1`)).body.items[0];
    expect(audit).toMatchObject({ actor: `user:${NS}/forge/olga`, subject: 'dana', data: { id, for: '7d', note: 'for the Q4 orders' } });
    // Deciding it again is a conflict, said on the page.
    const again = await page.browser.submit(`${link}/deny`, { _csrf: csrfOf(html) });
    expect(again.headers.get('location')).toContain('notice=request-conflict');
    expect((await gh.store.accessRequests.find(NS, id))?.state).toBe('approved');
  });

  it("from the shared issuer too, the link is to the request in the organization's portal", async () => {
    const shared = await ask(undefined, 'hub', 'ivy@forge.example');
    expect(await linkTo('olga@forge.example')).toBe(`${portal('forge')}/access-requests/${shared}`);
  });

  it('is not for the requester, a reader, or another partner', async () => {
    const pending = await ask('forge', 'orders', 'dana@forge.example', 'orders:admin');
    const own = `${portal('forge')}/access-requests/${pending}`;
    // Dana (a user manager) may read it in her portal, never decide her own.
    const dana = await openAs(own, 'dana@forge.example');
    expect(dana.res.status).toBe(200);
    const refused = await dana.browser.submit(`${own}/approve`, { _csrf: csrfOf(dana.html) });
    expect(refused.status).toBe(403);
    // An auditor reads, and decides nothing.
    const aud = await openAs(own, 'aud@forge.example');
    expect(aud.res.status).toBe(200);
    expect((await aud.browser.submit(`${own}/deny`, { _csrf: csrfOf(aud.html) })).status).toBe(403);
    // Cascade's administrator does not find Forge's request under Cascade's portal.
    const carl = await openAs(`${portal('cascade')}/access-requests/${pending}`, 'carl@cascade.example');
    expect(carl.res.status).toBe(404);
    // Without the form token, nothing is decided.
    const olga = await openAs(own, 'olga@forge.example');
    expect((await olga.browser.submit(`${own}/approve`, {})).status).toBe(403);
    expect((await gh.store.accessRequests.find(NS, pending))?.state).toBe('pending');
  });
});
