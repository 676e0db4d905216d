import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { Browser } from '../../support/browser.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, adminAs, setPassword, signIn as signInAs } from '../../support/sign-in.ts';
import { startSignIn, submit, text, type Started } from '../broker/flow.ts';

/*
 * AccessPolicy `requireApproval` and `approvers` (issue #17), with openid-client as the
 * relying party: a user asking for a gated scope sees the access-request page and signs in
 * without it; a declared approver of the user's organization (never the user, never another
 * partner) approves it through the admin API; the next authorization carries it; a
 * revocation, a denial or an expiry takes it from every token of the user (introspection and
 * refresh). The injected clock starts at wall time: oidc-provider stamps iat/exp from the machine's.
 */

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const ORDERS = 'https://orders.example';
const base = `/admin/v1/namespaces/${NS}`;
const forgeRequests = `${base}/organizations/forge/accessrequests`;
const secrets: Record<string, string> = {};
const tokens: Record<string, string> = {};
const insecure = { execute: [oidc.allowInsecureRequests] };
const rp = (org: string | undefined, name: string) => oidc.discovery(new URL(`${gh.url}/${NS}${org ? `/${org}` : ''}`), `${name}.${NS}`, secrets[name], undefined, insecure);
const as = (who: string) => adminAs(gh, tokens[who]!);
const adminConsole = (name: string, org: string | undefined) => ({
  ...client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }),
  metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
});
const ordersPolicy = (approvers: object) => accessPolicy('forge-orders', 'forge', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireApproval: true }], approvers });
// Nora (a workspace user without a role) and Abe (Forge's auditor) are named too, but no role of theirs lets them decide.
const APPROVERS = { roles: ['organization-admin'], users: ['wendy', 'nora', 'abe'] };

/** Authorizes at Forge's portal in `browser`, giving the email and password when asked; stops at a page or the callback. */
async function authorize(browser: Browser, scope: string, email = 'dana@forge.example', params: Record<string, string> = {}, at: [string | undefined, string] = ['forge', 'portal']): Promise<Started> {
  let s = await startSignIn(await rp(...at), { scope, ...params }, browser);
  // The session was enough: the client's callback, or the access-request page.
  if (s.url.startsWith(CALLBACK) || !(await s.res.clone().text()).includes('name="email"')) return s;
  s = await submit(s, { email });
  return submit(s, { email, password: PASSWORD });
}

async function tokensOf(s: Started, at: [string | undefined, string] = ['forge', 'portal']) {
  expect(s.url.startsWith(CALLBACK)).toBe(true);
  return oidc.authorizationCodeGrant(await rp(...at), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
}

const scopeOf = (accessToken: string) =>
  String(decodeJwt(accessToken).scope ?? '')
    .split(' ')
    .filter(Boolean)
    .sort();
const introspect = async (token: string) => (await oidc.tokenIntrospection(await rp('forge', 'portal'), token)).active;
const requestOn = (html: string) => /name="request" value="(ar-[0-9a-f]+)"/.exec(html)![1]!;
const lastAudit = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=1`)).body.items[0];

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', branding: { primaryColor: '#aa3300' } }));
  await gh.put('organizations', organization('cascade'));
  for (const org of ['forge', 'cascade']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('clients', client('portal', 'forge', { displayName: 'Forge Orders', redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access', 'orders:read', 'orders:write'], audiences: [ORDERS] }));
  await gh.put('clients', client('sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['orders:read', 'orders:write'], audiences: [ORDERS] }));
  await gh.put('clients', client('agent', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['orders:read', 'orders:write'], audiences: [ORDERS], tokenExchange: { enabled: true, subjectClients: [{ name: 'portal' }] } }));
  await gh.put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write'], audiences: [ORDERS] }));
  await gh.put('accesspolicies', ordersPolicy(APPROVERS));
  await gh.put('accesspolicies', accessPolicy('cascade-orders', 'cascade', { scopes: [{ scope: 'orders:write', requireApproval: true }], approvers: { roles: ['organization-admin'] } }));
  await gh.put('clients', adminConsole('forge-console', 'forge'));
  await gh.put('clients', adminConsole('cascade-console', 'cascade'));
  await gh.put('clients', adminConsole('ws-console', undefined));
  await gh.put('users', user('dana', 'forge', { email: 'dana@forge.example' }));
  await gh.put('users', user('hana', 'forge', { email: 'hana@forge.example' }));
  await gh.put('users', user('olga', 'forge', { email: 'olga@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('oscar', 'forge', { email: 'oscar@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('ulf', 'forge', { email: 'ulf@forge.example', roles: ['user-manager'] }));
  await gh.put('users', user('carl', 'cascade', { email: 'carl@cascade.example', roles: ['organization-admin'] }));
  await gh.put('users', user('wendy', undefined, { email: 'wendy@blixit.example', roles: ['admin'] }));
  await gh.put('users', user('walt', undefined, { email: 'walt@blixit.example', roles: ['admin'] }));
  await gh.put('users', user('nora', undefined, { email: 'nora@blixit.example' }));
  await gh.put('users', user('abe', 'forge', { email: 'abe@forge.example', roles: ['auditor'] }));
  for (const name of ['portal', 'sync', 'agent', 'hub', 'forge-console', 'cascade-console', 'ws-console']) secrets[name] = (await gh.admin('POST', `${base}/clients/${name}/secret`)).body.clientSecret;
  for (const name of ['dana', 'hana', 'olga', 'oscar', 'ulf', 'carl', 'wendy', 'walt']) await setPassword(gh, name, PASSWORD);
  const consoleToken = async (name: string, org: string | undefined, domain: string) => (await signInAs(gh, org, `${org ?? 'ws'}-console`, secrets[`${org ?? 'ws'}-console`]!, { email: `${name}@${domain}`, password: PASSWORD })).access_token;
  for (const name of ['olga', 'oscar', 'ulf']) tokens[name] = await consoleToken(name, 'forge', 'forge.example');
  tokens.carl = await consoleToken('carl', 'cascade', 'cascade.example');
  for (const name of ['wendy', 'walt']) tokens[name] = await consoleToken(name, undefined, 'blixit.example');
});
afterAll(async () => {
  await gh.close();
});

describe('AccessPolicy approvers', () => {
  it('are required by a policy that gates a scope: refused naming spec.approvers', async () => {
    const res = await gh.admin('PUT', `${base}/accesspolicies/bare`, accessPolicy('bare', 'forge', { scopes: [{ scope: 'orders:write', requireApproval: true }] }));
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toContain('spec.approvers');
    const empty = await gh.admin('PUT', `${base}/accesspolicies/bare`, accessPolicy('bare', 'forge', { scopes: [{ scope: 'orders:write', requireApproval: true }], approvers: {} }));
    expect(empty.status).toBe(422);
  });
});

describe('a user asking for a scope that needs approval', () => {
  const browser = new Browser();
  let request: string;
  let before: oidc.TokenEndpointResponse;

  it('sees the branded access-request page, and a pending AccessRequest is recorded and audited', async () => {
    const s = await authorize(browser, 'openid email offline_access orders:read orders:write', undefined, { prompt: 'consent' });
    expect(s.url.startsWith(CALLBACK)).toBe(false);
    const html = await s.res.clone().text();
    expect(html).toContain('Access requested');
    expect(html).toContain('Forge Supplies');
    expect(html).toContain('#aa3300');
    expect(await text(s.res.clone())).toContain('Your request is waiting for approval');
    expect(html).toContain('orders:write');
    const listed = (await gh.admin('GET', `${forgeRequests}?state=pending`)).body.items;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ organization: 'forge', user: 'dana', client: `portal.${NS}`, scopes: ['orders:write'], state: 'pending', justification: null });
    request = listed[0].id;
    expect(await lastAudit('accessrequest.created')).toMatchObject({ actor: 'dana', organization: 'forge', client: `portal.${NS}`, subject: 'dana', data: { id: request, scopes: ['orders:write'] } });
    // The approvers hear of it (docs/notifications.md): the declared roles in Forge, and the users named whose roles let them decide.
    const pending = (await gh.store.notifications.list(NS)).filter((n) => n.message === 'access-request-pending');
    expect(pending.map((n) => n.recipient).sort()).toEqual(['olga@forge.example', 'oscar@forge.example', 'wendy@blixit.example']);
    expect(pending[0]!.variables).toMatchObject({ requester: 'dana@forge.example', client: 'portal', scopes: 'orders:write' });

    // The rest of the sign-in goes on: the user reaches the application without the gated scope.
    before = await tokensOf(await submit(s, { justification: 'Quarter-end purchase orders' }));
    expect(scopeOf(before.access_token)).toEqual(['orders:read']);
    expect(before.refresh_token).toBeTruthy();
    expect((await gh.admin('GET', `${forgeRequests}/${request}`)).body.justification).toBe('Quarter-end purchase orders');
  });

  it('is not asked for by a silent authorization (prompt=none): it goes on without the scope and records nothing', async () => {
    const silent = new Browser();
    await tokensOf(await authorize(silent, 'openid', 'hana@forge.example'));
    const t = await tokensOf(await authorize(silent, 'openid orders:read orders:write', 'hana@forge.example', { prompt: 'none' }));
    expect(scopeOf(t.access_token)).toEqual(['orders:read']);
    expect((await gh.admin('GET', forgeRequests)).body.items.filter((r: { user: string }) => r.user === 'hana')).toEqual([]);
  });

  it('is not asked again while the request waits: the sign-in goes straight through, still without it', async () => {
    const t = await tokensOf(await authorize(new Browser(), 'openid orders:read orders:write'));
    expect(scopeOf(t.access_token)).toEqual(['orders:read']);
    expect((await gh.admin('GET', `${forgeRequests}?state=pending`)).body.items).toHaveLength(1);
  });

  it('is never given to a machine: a client-credentials token leaves it out', async () => {
    const t = await oidc.clientCredentialsGrant(await rp('forge', 'sync'), { scope: 'orders:read orders:write' });
    expect(scopeOf(t.access_token)).toEqual(['orders:read']);
  });

  describe('the approver', () => {
    it("may not be another partner: Cascade's admin neither sees nor decides Forge's requests", async () => {
      expect((await as('carl')('GET', forgeRequests)).status).toBe(403);
      expect((await as('carl')('POST', `${forgeRequests}/${request}/approve`)).status).toBe(403);
      // Through its own organization's path, Forge's request is as absent as a missing one.
      const cascadePath = `${base}/organizations/cascade/accessrequests/${request}`;
      expect((await as('carl')('GET', cascadePath)).status).toBe(404);
      expect((await as('carl')('POST', `${cascadePath}/approve`)).status).toBe(404);
      expect((await as('carl')('GET', `${base}/organizations/cascade/accessrequests`)).body.items).toEqual([]);
    });

    it('may not be an undeclared role, workspace administrator or admin token', async () => {
      for (const who of ['ulf', 'walt']) {
        const res = await as(who)('POST', `${forgeRequests}/${request}/approve`);
        expect(res.status).toBe(403);
        expect(res.body.detail).toContain('not an approver of scope orders:write');
      }
      expect((await gh.admin('POST', `${forgeRequests}/${request}/approve`)).status).toBe(403);
      expect(await lastAudit('admin.denied')).toMatchObject({ actor: 'admin-token:bootstrap', data: { permission: 'accessrequests.decide' } });
      expect((await gh.admin('GET', `${forgeRequests}/${request}`)).body.state).toBe('pending');
    });

    it("lists the organization's requests, filtered by state, and refuses an unknown state", async () => {
      const res = await as('olga')('GET', `${forgeRequests}?state=pending`);
      expect(res.status).toBe(200);
      expect(res.body.items.map((r: { id: string }) => r.id)).toEqual([request]);
      expect((await as('olga')('GET', `${forgeRequests}?state=approved`)).body.items).toEqual([]);
      const bad = await as('olga')('GET', `${forgeRequests}?state=maybe`);
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toContain('state');
    });

    it('approves it for 30 days, audited with who approved it until when', async () => {
      const res = await as('olga')('POST', `${forgeRequests}/${request}/approve`, { for: '30d' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'approved', decidedBy: `user:${NS}/forge/olga` });
      expect(Date.parse(res.body.expiresAt)).toBe(gh.clock.now() + 30 * 86400_000);
      expect(res.body.capped).toBeUndefined();
      expect(await lastAudit('accessrequest.approved')).toMatchObject({ actor: `user:${NS}/forge/olga`, organization: 'forge', subject: 'dana', data: { id: request, scopes: ['orders:write'], for: '30d', justification: 'Quarter-end purchase orders' } });
      expect((await as('olga')('POST', `${forgeRequests}/${request}/approve`)).status).toBe(409);
      // The requester hears the decision.
      expect((await gh.store.notifications.list(NS)).find((n) => n.message === 'access-request-decided')).toMatchObject({ recipient: 'dana@forge.example', variables: expect.objectContaining({ decision: 'approved', decidedBy: `user:${NS}/forge/olga` }) });
      // For a SIEM: OCSF User Access Management, the scopes as the privileges assigned.
      const exported = (await gh.admin('GET', '/admin/v1/audit/export?format=ocsf&action=accessrequest.approved')).body;
      expect(exported).toMatchObject({ class_uid: 3005, activity_name: 'Assign Privileges', privileges: ['orders:write'], user: { uid: 'dana' } });
    });
  });

  describe('once approved', () => {
    let after: oidc.TokenEndpointResponse;

    it("is in the user's next authorization, and no token carrying it outlives the approval", async () => {
      after = await tokensOf(await authorize(browser, 'openid offline_access orders:read orders:write', undefined, { prompt: 'consent' }));
      expect(scopeOf(after.access_token)).toEqual(['orders:read', 'orders:write']);
      const approval = (await gh.admin('GET', `${forgeRequests}/${request}`)).body;
      expect(Number(decodeJwt(after.access_token).exp) * 1000).toBeLessThanOrEqual(Date.parse(approval.expiresAt));
      expect(await introspect(after.access_token)).toBe(true);
    });

    it('is refreshed with it', async () => {
      const refreshed = await oidc.refreshTokenGrant(await rp('forge', 'portal'), after.refresh_token!);
      expect(scopeOf(refreshed.access_token)).toEqual(['orders:read', 'orders:write']);
      after = { ...after, refresh_token: refreshed.refresh_token ?? after.refresh_token! };
    });

    it('is gone from every token of the user when revoked: introspection inactive, refreshes without it', async () => {
      const res = await as('olga')('POST', `${forgeRequests}/${request}/revoke`, { note: 'project ended' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ state: 'revoked', endedBy: `user:${NS}/forge/olga` });
      expect(await lastAudit('accessrequest.revoked')).toMatchObject({ actor: `user:${NS}/forge/olga`, subject: 'dana', data: { id: request, note: 'project ended', approvedBy: `user:${NS}/forge/olga` } });
      expect(await introspect(after.access_token)).toBe(false);
      const refreshed = await oidc.refreshTokenGrant(await rp('forge', 'portal'), after.refresh_token!);
      expect(scopeOf(refreshed.access_token)).toEqual(['orders:read']);
      // What never carried it is untouched.
      expect(await introspect(refreshed.access_token)).toBe(true);
      expect((await as('olga')('POST', `${forgeRequests}/${request}/revoke`)).status).toBe(409);
    });
  });

  it('is asked for anew after a revocation, and a denial leaves it out', async () => {
    const s = await authorize(browser, 'openid orders:read orders:write');
    expect(await s.res.clone().text()).toContain('Access requested');
    const t = await tokensOf(await submit(s, {}));
    expect(scopeOf(t.access_token)).toEqual(['orders:read']);
    const again = (await gh.admin('GET', `${forgeRequests}?state=pending`)).body.items[0];
    expect(again).toMatchObject({ user: 'dana', justification: null });
    const res = await as('olga')('POST', `${forgeRequests}/${again.id}/deny`, { note: 'use the shared buyer account' });
    expect(res.body).toMatchObject({ state: 'denied', decidedBy: `user:${NS}/forge/olga` });
    expect(await lastAudit('accessrequest.denied')).toMatchObject({ subject: 'dana', data: { id: again.id, note: 'use the shared buyer account' } });
    expect((await as('olga')('POST', `${forgeRequests}/${again.id}/approve`)).status).toBe(409);
    // The same browser session: a new request page, and still no scope.
    const next = await authorize(browser, 'openid orders:write');
    const html = await next.res.clone().text();
    expect(html).toContain('Access requested');
    expect(scopeOf((await tokensOf(await submit(next, {}))).access_token)).toEqual([]);
    await as('olga')('POST', `${forgeRequests}/${requestOn(html)}/deny`);
  });
});

describe('self-approval', () => {
  it('is impossible: an approver cannot approve (nor deny) their own request; another approver can', async () => {
    const s = await authorize(new Browser(), 'openid orders:write', 'oscar@forge.example');
    await tokensOf(await submit(s, {}));
    const own = (await as('olga')('GET', `${forgeRequests}?state=pending`)).body.items.find((r: { user: string }) => r.user === 'oscar');
    for (const decision of ['approve', 'deny']) {
      const res = await as('oscar')('POST', `${forgeRequests}/${own.id}/${decision}`);
      expect(res.status).toBe(403);
      expect(res.body.detail).toContain('is your own');
    }
    expect(await lastAudit('admin.denied')).toMatchObject({ actor: `user:${NS}/forge/oscar`, data: { permission: 'accessrequests.decide' } });
    expect((await as('olga')('POST', `${forgeRequests}/${own.id}/approve`)).body.state).toBe('approved');
  });
});

describe('approvals', () => {
  /** Dana asks for orders:write again and the request id is returned. */
  const ask = async (browser = new Browser()) => {
    const s = await authorize(browser, 'openid offline_access orders:read orders:write', undefined, { prompt: 'consent' });
    const id = requestOn(await s.res.clone().text());
    return { id, tokens: await tokensOf(await submit(s, {})) };
  };

  it('never outlive the contract: a longer `for` is cut to contract.endsAt, and the answer says so', async () => {
    const { id } = await ask();
    const res = await as('wendy')('POST', `${forgeRequests}/${id}/approve`, { for: '3650d' });
    expect(res.status).toBe(200);
    const endsAt = Date.parse(organization('forge').spec.contract.endsAt);
    expect(Date.parse(res.body.expiresAt)).toBe(endsAt);
    expect(res.body.capped).toMatchObject({ to: new Date(endsAt).toISOString(), reason: expect.stringContaining('contract') });
    expect(await lastAudit('accessrequest.approved')).toMatchObject({ actor: `user:${NS}/wendy`, data: { capped: { to: new Date(endsAt).toISOString() } } });
    expect((await as('wendy')('POST', `${forgeRequests}/${id}/revoke`)).body.state).toBe('revoked');
  });

  it('are decided by a declared admin token once the policy names it', async () => {
    const { id } = await ask();
    await gh.put('accesspolicies', ordersPolicy({ ...APPROVERS, adminTokens: ['bootstrap'] }));
    try {
      const res = await gh.admin('POST', `${forgeRequests}/${id}/approve`, { for: '1d' });
      expect(res.body).toMatchObject({ state: 'approved', decidedBy: 'admin-token:bootstrap' });
      expect((await gh.admin('POST', `${forgeRequests}/${id}/revoke`)).body.state).toBe('revoked');
    } finally {
      await gh.put('accesspolicies', ordersPolicy(APPROVERS));
    }
  });

  it('refuse a `for` that is not a duration or longer than ten years, and unknown fields, naming them', async () => {
    const { id } = await ask();
    const res = await as('olga')('POST', `${forgeRequests}/${id}/approve`, { for: 'a month' });
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain('for');
    const forever = await as('olga')('POST', `${forgeRequests}/${id}/approve`, { for: '99999999d' });
    expect(forever.status).toBe(400);
    expect(forever.body.errors).toEqual([{ path: 'for', message: 'at most 3650d' }]);
    expect((await as('olga')('POST', `${forgeRequests}/${id}/approve`, { until: 'tomorrow' })).status).toBe(400);
    await as('olga')('POST', `${forgeRequests}/${id}/deny`);
  });

  it('expire: the scope leaves refreshed tokens at the end, and the expiry is recorded and audited once', async () => {
    const browser = new Browser();
    const { id } = await ask(browser);
    expect((await as('olga')('POST', `${forgeRequests}/${id}/approve`, { for: '2m' })).body.state).toBe('approved');
    const held = await tokensOf(await authorize(browser, 'openid offline_access orders:read orders:write', undefined, { prompt: 'consent' }));
    expect(scopeOf(held.access_token)).toEqual(['orders:read', 'orders:write']);
    const { exp, iat } = decodeJwt(held.access_token);
    expect(Number(exp) - Number(iat)).toBeLessThanOrEqual(121);

    gh.clock.advance(3 * 60_000);
    expect((await gh.admin('GET', `${forgeRequests}/${id}`)).body.state).toBe('expired');
    const refreshed = await oidc.refreshTokenGrant(await rp('forge', 'portal'), held.refresh_token!);
    expect(scopeOf(refreshed.access_token)).toEqual(['orders:read']);
    const notices = await gh.gatehouse.lifecycle.tick();
    expect(notices.filter((n) => n.action === 'accessrequest.expired').map((n) => n.data.id)).toEqual([id]);
    expect((await gh.gatehouse.lifecycle.tick()).filter((n) => n.action === 'accessrequest.expired')).toEqual([]);
    expect(await lastAudit('accessrequest.expired')).toMatchObject({ actor: 'gatehouse:lifecycle', subject: 'dana', data: { id, approvedBy: `user:${NS}/forge/olga` } });
    expect((await gh.admin('GET', `${forgeRequests}?state=expired`)).body.items.map((r: { id: string }) => r.id)).toContain(id);
    expect((await as('olga')('POST', `${forgeRequests}/${id}/revoke`)).status).toBe(409);
  });
});

describe('at the shared issuer and through token exchange', () => {
  const HUB: [undefined, string] = [undefined, 'hub'];

  it("asks at a workspace client under the user's organization's policy; the approval is the user's at every client of it, exchanges included, and its revocation ends them all", async () => {
    const s = await authorize(new Browser(), 'openid orders:read orders:write', 'hana@forge.example', {}, HUB);
    const html = await s.res.clone().text();
    expect(html).toContain('Access requested');
    expect(html).toContain('Forge Supplies'); // the user's organization's page, not the workspace's
    const id = requestOn(html);
    expect(scopeOf((await tokensOf(await submit(s, {}), HUB)).access_token)).toEqual(['orders:read']);
    expect((await gh.admin('GET', `${forgeRequests}/${id}`)).body).toMatchObject({ user: 'hana', client: `hub.${NS}`, scopes: ['orders:write'] });
    expect((await as('olga')('POST', `${forgeRequests}/${id}/approve`, { for: '1d' })).body.state).toBe('approved');

    const atHub = await tokensOf(await authorize(new Browser(), 'openid orders:write', 'hana@forge.example', {}, HUB), HUB);
    expect(scopeOf(atHub.access_token)).toEqual(['orders:write']);
    const atPortal = await tokensOf(await authorize(new Browser(), 'openid orders:write', 'hana@forge.example'));
    expect(scopeOf(atPortal.access_token)).toEqual(['orders:write']);
    const agent = await rp('forge', 'agent');
    const exchanged = await oidc.genericGrantRequest(agent, 'urn:ietf:params:oauth:grant-type:token-exchange', { subject_token: atPortal.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    expect(scopeOf(exchanged.access_token)).toEqual(['orders:write']);
    expect((await oidc.tokenIntrospection(agent, exchanged.access_token)).active).toBe(true);
    expect((await oidc.tokenIntrospection(await rp(...HUB), atHub.access_token)).active).toBe(true);

    expect((await as('olga')('POST', `${forgeRequests}/${id}/revoke`)).body.state).toBe('revoked');
    expect((await oidc.tokenIntrospection(agent, exchanged.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(await rp(...HUB), atHub.access_token)).active).toBe(false);
    expect(await introspect(atPortal.access_token)).toBe(false);
    // Nor can the revoked token be exchanged again.
    await expect(oidc.genericGrantRequest(agent, 'urn:ietf:params:oauth:grant-type:token-exchange', { subject_token: atPortal.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' })).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('the access-request page', () => {
  it("writes a justification only into the requester's own pending request", async () => {
    const hana = await authorize(new Browser(), 'openid orders:write', 'hana@forge.example');
    const hanas = requestOn(await hana.res.clone().text());
    const dana = await authorize(new Browser(), 'openid orders:write');
    const danas = requestOn(await dana.res.clone().text());
    // Dana's browser posts Hana's request id: the sign-in goes on, Hana's request is untouched.
    await tokensOf(await submit(dana, { request: hanas, justification: 'written by someone else' }));
    expect((await gh.admin('GET', `${forgeRequests}/${hanas}`)).body.justification).toBeNull();
    expect((await gh.admin('GET', `${forgeRequests}/${danas}`)).body.justification).toBeNull();
  });

  it('keeps at most 1000 characters of a justification, without control characters', async () => {
    const s = await authorize(new Browser(), 'openid orders:write', 'ulf@forge.example');
    const id = requestOn(await s.res.clone().text());
    await tokensOf(await submit(s, { justification: `needs\u0007 it ${'x'.repeat(2000)}` }));
    const stored = (await gh.admin('GET', `${forgeRequests}/${id}`)).body.justification;
    expect(stored).toHaveLength(1000);
    expect(stored.startsWith('needs it x')).toBe(true);
  });
});
