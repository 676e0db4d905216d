// The portal's access requests: the approvers' "pending approval" message links to the request's
// own page in the requester's organization's portal (`…/portal/access-requests/{id}`, the same from
// the organization's issuer and the shared one), where a declared approver reads it and approves,
// denies or revokes it with the admin API's guardrails; the requester, a non-approver and another
// partner's administrator cannot. A workspace user named as an approver cannot sign in at an
// organization's issuer: its message links to the same page in the workspace portal, which shows
// it only the requests it decides.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, openSignedIn, setPassword } from '../../support/sign-in.ts';
import { startSignIn, submit, text } from '../broker/flow.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const ORDERS = 'https://orders.example';
const portal = (org: string) => `${gh.url}/${NS}/${org}/portal`;
const workspacePortal = () => `${gh.url}/${NS}/portal`;
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
  await gh.put('clients', { ...client('ws-console', undefined, { redirectUris: [`${workspacePortal()}/callback`], scopes: ['openid', 'email'] }), metadata: { name: 'ws-console', namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/ws-console/secret`);
  await gh.put('clients', client('orders', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write', 'orders:admin'], audiences: [ORDERS] }));
  await gh.put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write'], audiences: [ORDERS] }));
  for (const name of ['orders', 'hub']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  await gh.put('accesspolicies', accessPolicy('forge-orders', 'forge', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireApproval: true }, { scope: 'orders:admin', requireApproval: true }], approvers: { roles: ['organization-admin'], users: ['wendy'] } }));
  // Cascade gates the same scope; only its own administrators decide there.
  await gh.put('accesspolicies', accessPolicy('cascade-orders', 'cascade', { scopes: [{ scope: 'orders:write', requireApproval: true }], approvers: { roles: ['organization-admin'] } }));
  await gh.put('users', user('dana', 'forge', { email: 'dana@forge.example', roles: ['user-manager'] }));
  await gh.put('users', user('olga', 'forge', { email: 'olga@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('ivy', 'forge', { email: 'ivy@forge.example' }));
  await gh.put('users', user('aud', 'forge', { email: 'aud@forge.example', roles: ['auditor'] }));
  await gh.put('users', user('carl', 'cascade', { email: 'carl@cascade.example', roles: ['organization-admin'] }));
  // Workspace users: Wendy (a user manager, not an administrator) is named as Forge's approver; Walt (an administrator) is not.
  await gh.put('users', user('wendy', undefined, { email: 'wendy@blixit.example', roles: ['user-manager'] }));
  await gh.put('users', user('walt', undefined, { email: 'walt@blixit.example', roles: ['admin'] }));
  await gh.put('clients', client('cascade-orders', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:write'], audiences: [ORDERS] }));
  secrets['cascade-orders'] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/cascade-orders/secret`)).body.clientSecret;
  await gh.put('users', user('cleo', 'cascade', { email: 'cleo@cascade.example' }));
  for (const name of ['dana', 'ivy', 'olga', 'aud', 'carl', 'wendy', 'walt', 'cleo']) await setPassword(gh, name, PASSWORD);
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
const openAs = (url: string, email: string) => openSignedIn(url, email, PASSWORD);

/** Opens a pending request's page by its link as `email`, checking it is there and shows `texts`. */
async function openPending(link: string, email: string, texts: string[]) {
  const page = await openAs(link, email);
  expect(page.url).toBe(link);
  expect(page.res.status).toBe(200);
  const shown = await text(new Response(page.html));
  for (const t of texts) expect(shown).toContain(t);
  expect(page.html).toContain('id="request-state"><span class="badge warn">pending</span>');
  return page;
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
    const page = await openPending(link, 'olga@forge.example', ['dana@forge.example', 'orders:write']);
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

describe('a workspace user named as an approver', () => {
  let id: string;
  let link: string;

  it('is sent to the request in the workspace portal, where it signs in at the shared issuer and approves it', async () => {
    id = await ask('forge', 'orders', 'ivy@forge.example', 'orders:admin');
    link = await linkTo('wendy@blixit.example');
    expect(link).toBe(`${workspacePortal()}/access-requests/${id}`);
    // Forge's own approver still gets the organization's page.
    expect(await linkTo('olga@forge.example')).toBe(`${portal('forge')}/access-requests/${id}`);

    const page = await openPending(link, 'wendy@blixit.example', ['ivy@forge.example', 'forge', 'orders:admin']);
    // Not a workspace administrator: no overview, only the requests it decides.
    expect(page.html).not.toContain('>Organizations<');
    const home = await page.browser.follow(`${workspacePortal()}/`);
    expect(home.url).toBe(`${workspacePortal()}/access-requests`);
    expect(await home.res.text()).toContain(`data-request="${id}"`);

    // Without the form token, nothing is decided.
    expect((await page.browser.submit(`${link}/approve`, { for: '1d' })).status).toBe(403);
    expect((await gh.store.accessRequests.find(NS, id))?.state).toBe('pending');

    const approved = await page.browser.submit(`${link}/approve`, { _csrf: csrfOf(page.html), for: '7d', note: 'workspace approval' });
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe(`/${NS}/portal/access-requests/${id}?notice=request-approved`);
    const after = await (await page.browser.fetch(new URL(approved.headers.get('location')!, link).href)).text();
    expect(after).toContain('The access request is approved.');
    expect(after).toContain('id="revoke"');
    expect(await gh.store.accessRequests.find(NS, id)).toMatchObject({ state: 'approved', decidedBy: `user:${NS}/wendy` });
    const audit = (await gh.admin('GET', '/admin/v1/audit?action=accessrequest.approved&limit=1')).body.items[0];
    expect(audit).toMatchObject({ actor: `user:${NS}/wendy`, organization: 'forge', subject: 'ivy', data: { id, scopes: ['orders:admin'], for: '7d', note: 'workspace approval' } });
  });

  it("never sees nor decides another organization's request it is not named for", async () => {
    const cascades = await ask('cascade', 'cascade-orders', 'cleo@cascade.example');
    expect((await gh.store.notifications.list(NS)).some((n) => n.recipient === 'wendy@blixit.example' && n.variables.link?.endsWith(cascades))).toBe(false);
    const page = await openAs(`${workspacePortal()}/access-requests`, 'wendy@blixit.example');
    expect(page.res.status).toBe(200);
    expect(page.html).toContain(`data-request="${id}"`);
    expect(page.html).not.toContain(cascades);
    const theirs = `${workspacePortal()}/access-requests/${cascades}`;
    const opened = await page.browser.fetch(theirs);
    expect(opened.status).toBe(403);
    expect(await opened.text()).not.toContain('cleo@cascade.example');
    expect((await page.browser.submit(`${theirs}/approve`, { _csrf: csrfOf(page.html) })).status).toBe(403);
    expect((await gh.store.accessRequests.find(NS, cascades))?.state).toBe('pending');
    expect((await gh.admin('GET', '/admin/v1/audit?action=admin.denied&limit=1')).body.items[0]).toMatchObject({ actor: `user:${NS}/wendy`, data: { permission: 'accessrequests.read' } });
  });

  it('is the only workspace user who may: a workspace administrator not named, and a partner administrator, are refused', async () => {
    const pending = await ask('forge', 'orders', 'aud@forge.example', 'orders:admin');
    const own = `${workspacePortal()}/access-requests/${pending}`;
    expect(await linkTo('wendy@blixit.example')).toBe(own);
    // Walt administers the workspace but no policy names him: he neither sees nor decides it here.
    const walt = await openAs(own, 'walt@blixit.example');
    expect(walt.res.status).toBe(403);
    expect(walt.html).toContain('you are not an approver of scope orders:admin');
    expect((await walt.browser.submit(`${own}/approve`, { _csrf: csrfOf(walt.html) })).status).toBe(403);
    expect(await (await walt.browser.fetch(`${workspacePortal()}/access-requests`)).text()).not.toContain(pending);
    // Cascade's administrator signs in at the shared issuer and is not let into the workspace portal at all.
    const carl = await openAs(own, 'carl@cascade.example');
    expect(carl.res.status).toBe(403);
    expect(carl.html).not.toContain('aud@forge.example');
    expect((await gh.store.accessRequests.find(NS, pending))?.state).toBe('pending');
  });
});
