import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';
import { startSignIn, submit } from '../broker/flow.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const secrets: Record<string, string> = {};
const tokens: Record<string, string> = {};
const console = (name: string, org: string, spec: object = {}) => ({
  ...client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'], ...spec }),
  metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
});

const as = (who: string) => adminAs(gh, tokens[who]!);
const base = `/admin/v1/namespaces/${NS}`;

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace({ guardrails: { maxAccessToken: '30m' } }));
  await gh.put('organizations', organization('cascade'));
  await gh.put('organizations', organization('cascade-east', { parentRef: { name: 'cascade' }, emailDomains: ['east.cascade.example'] }));
  await gh.put('organizations', organization('forge'));
  for (const org of ['cascade', 'cascade-east', 'forge']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('clients', console('cascade-console', 'cascade'));
  await gh.put('clients', client('cascade-web', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('clients', console('forge-console', 'forge', { audiences: ['https://admin.forge.example'] }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }));
  await gh.put('users', user('uma', 'cascade', { email: 'uma@cascade.example', roles: ['user-manager'] }));
  await gh.put('users', user('aud', 'cascade', { email: 'aud@cascade.example', roles: ['auditor'] }));
  await gh.put('users', user('pat', 'cascade', { email: 'pat@cascade.example' }));
  await gh.put('users', user('eve', 'cascade-east', { email: 'eve@east.cascade.example' }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example', roles: ['organization-admin'] }));
  for (const name of ['cascade-console', 'cascade-web', 'forge-console']) secrets[name] = (await gh.admin('POST', `${base}/clients/${name}/secret`)).body.clientSecret;
  for (const name of ['ana', 'uma', 'aud', 'pat', 'fred']) await setPassword(gh, name, PASSWORD);
  for (const name of ['ana', 'uma', 'aud']) tokens[name] = (await signIn(gh, 'cascade', 'cascade-console', secrets['cascade-console']!, { email: `${name}@cascade.example`, password: PASSWORD })).access_token;
  tokens.fred = (await signIn(gh, 'forge', 'forge-console', secrets['forge-console']!, { email: 'fred@forge.example', password: PASSWORD })).access_token;
  tokens['ana-app'] = (await signIn(gh, 'cascade', 'cascade-web', secrets['cascade-web']!, { email: 'ana@cascade.example', password: PASSWORD })).access_token;
  tokens['pat-console'] = (await signIn(gh, 'cascade', 'cascade-console', secrets['cascade-console']!, { email: 'pat@cascade.example', password: PASSWORD })).access_token;
});
afterAll(async () => {
  await gh.close();
});

describe('a partner administrator signs in through its own issuer and administers its organization', () => {
  let invited: string;

  it('lists its users, with no password hashes', async () => {
    const res = await as('ana')('GET', `${base}/organizations/cascade/users`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((u: { id: string }) => u.id)).toEqual(['ana', 'aud', 'pat', 'uma']);
    expect(JSON.stringify(res.body)).not.toContain('scrypt');
  });

  it("reads its own and its sub-organizations' effective settings", async () => {
    for (const org of ['cascade', 'cascade-east']) expect((await as('ana')('GET', `${base}/organizations/${org}/effective`)).status).toBe(200);
    expect((await as('ana')('GET', `${base}/organizations/cascade-east/effective`)).body.chain).toEqual(['cascade-east', 'cascade']);
  });

  it('sees its sub-organizations', async () => {
    const res = await as('ana')('GET', `${base}/organizations/cascade-east/users`);
    expect(res.body.items.map((u: { id: string }) => u.id)).toEqual(['eve']);
  });

  it('invites a user, who gets a one-time password link; the invitation is audited with who sent it', async () => {
    const res = await as('ana')('POST', `${base}/organizations/cascade/users`, { email: 'new.hire@cascade.example', displayName: 'New Hire', roles: ['auditor'] });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ organization: 'cascade', email: 'new.hire@cascade.example', roles: ['auditor'], active: true, managed: false });
    expect(res.body.passwordLink.url).toContain(`/${NS}/cascade/account/password?token=`);
    invited = res.body.user.id;
    const audit = await gh.admin('GET', `/admin/v1/audit?action=user.invited&limit=1`);
    expect(audit.body.items[0]).toMatchObject({ actor: `user:${NS}/cascade/ana`, organization: 'cascade', subject: invited });
  });

  it("refuses an invitation outside the organization's email domains, and a duplicate", async () => {
    expect((await as('ana')('POST', `${base}/organizations/cascade/users`, { email: 'someone@forge.example' })).status).toBe(422);
    expect((await as('ana')('POST', `${base}/organizations/cascade/users`, { email: 'new.hire@cascade.example' })).status).toBe(409);
  });

  it('an invitation never takes over, nor shadows, an account outside the organization', async () => {
    // A workspace administrator who happens to use a Cascade address, with a password and a session.
    await gh.put('users', user('root', undefined, { email: 'root@cascade.example', roles: ['admin'] }));
    await setPassword(gh, 'root', PASSWORD);
    const before = await gh.store.users.find(NS, 'root');
    const res = await as('ana')('POST', `${base}/organizations/cascade/users`, { email: 'Root@Cascade.example', roles: ['organization-admin'] });
    expect(res.status).toBe(409);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.detail).toContain('already has an account outside organization cascade');
    expect(JSON.stringify(res.body)).not.toContain('"root"');
    // Refused, not a second account: the address still signs in to the one it had, with its credentials.
    expect((await gh.store.users.findByEmail(NS, 'root@cascade.example')).map((u) => u.id)).toEqual(['root']);
    expect(before!.passwordHash).toBeTruthy();
    expect(await gh.store.users.find(NS, 'root')).toEqual(before);
    await gh.admin('DELETE', `${base}/users/root`);
  });

  it('an organization owning no email domain cannot invite anyone', async () => {
    await gh.admin('PUT', `${base}/organizations/cascade-east`, organization('cascade-east', { parentRef: { name: 'cascade' }, emailDomains: undefined }));
    try {
      const res = await as('ana')('POST', `${base}/organizations/cascade-east/users`, { email: 'new@east.cascade.example' });
      expect(res.status).toBe(422);
      expect(res.body.detail).toContain('owns no email domain');
    } finally {
      await gh.put('organizations', organization('cascade-east', { parentRef: { name: 'cascade' }, emailDomains: ['east.cascade.example'] }));
    }
  });

  it.each([['x@evilcascade.example'], ['x@sub.cascade.example'], ['x@east.cascade.example'], ['x@cascade.example.evil.example'], ['x@forge.example']])('refuses to invite %s into cascade (not a domain cascade owns)', async (email) => {
    const res = await as('ana')('POST', `${base}/organizations/cascade/users`, { email });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'email', message: 'must be in cascade.example' }]);
  });

  it('deactivates and reactivates a runtime user, idempotently', async () => {
    const off = await as('ana')('POST', `${base}/organizations/cascade/users/${invited}/deactivate`);
    expect(off.body).toMatchObject({ changed: true, user: { active: false } });
    expect((await as('ana')('POST', `${base}/organizations/cascade/users/${invited}/deactivate`)).body).toMatchObject({ changed: false });
    const on = await as('ana')('POST', `${base}/organizations/cascade/users/${invited}/reactivate`);
    expect(on.body).toMatchObject({ changed: true, user: { active: true } });
  });

  it("resets a user's MFA and sends a password link", async () => {
    const reset = await as('ana')('POST', `${base}/organizations/cascade/users/pat/reset-mfa`);
    expect(reset.status).toBe(200);
    // Sessions and tokens opened with the old factor end with it.
    expect(reset.body.revoked).toBeGreaterThan(0);
    expect((await as('pat-console')('GET', `${base}/organizations/cascade/users`)).status).toBe(401);
    expect((await as('ana')('POST', `${base}/organizations/cascade/users/pat/password-link`)).status).toBe(201);
    const audit = await gh.admin('GET', `/admin/v1/audit?action=user.mfa-reset&limit=1`);
    expect(audit.body.items[0]).toMatchObject({ actor: `user:${NS}/cascade/ana`, subject: 'pat' });
  });

  it("reads its organization's audit log, and only its own (sub-organizations included)", async () => {
    const res = await as('ana')('GET', '/admin/v1/audit?limit=1000');
    expect(res.status).toBe(200);
    const orgs = new Set(res.body.items.map((r: { organization: string }) => r.organization));
    expect([...orgs].sort()).toEqual(['cascade', 'cascade-east']);
  });

  it('reads its own declared objects, and lists show nothing of another partner', async () => {
    expect((await as('ana')('GET', `${base}/organizations/cascade`)).status).toBe(200);
    const orgs = await as('ana')('GET', '/admin/v1/organizations');
    expect(orgs.body.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['cascade', 'cascade-east']);
    const clients = await as('ana')('GET', `${base}/clients`);
    expect(clients.body.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['cascade-console', 'cascade-web']);
  });
});

describe('a partner administrator of Cascade cannot see or touch Forge', () => {
  const forgeOrg = organization('forge', { displayName: 'Taken over' });
  const routes: [string, string, unknown?][] = [
    ['GET', `${base}/organizations/forge`],
    ['GET', `${base}/organizations/forge/effective`],
    ['PUT', `${base}/organizations/forge`, forgeOrg],
    ['PUT', `${base}/clients/forge-console`, console('forge-console', 'forge')],
    ['PUT', `${base}/idpconnections/forge-idp`, { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'IdPConnection', metadata: { name: 'forge-idp', namespace: NS }, spec: { organizationRef: { name: 'forge' }, type: 'directory' } }],
    ['PUT', `${base}/organizations/forge/status`, { status: { conditions: [] } }],
    ['DELETE', `${base}/organizations/forge`],
    ['DELETE', `${base}/users/fred`],
    ['POST', `${base}/clients/forge-console/secret`],
    ['GET', `${base}/organizations/forge/users`],
    ['POST', `${base}/organizations/forge/users`, { email: 'mole@forge.example', roles: ['organization-admin'] }],
    ['POST', `${base}/organizations/forge/users/fred/deactivate`],
    ['POST', `${base}/organizations/forge/users/fred/reactivate`],
    ['POST', `${base}/organizations/forge/users/fred/reset-mfa`],
    ['POST', `${base}/organizations/forge/users/fred/password-link`],
    ['POST', `${base}/organizations/forge/certify`],
    ['POST', `${base}/deprovision`, { organization: 'forge' }],
    ['POST', `${base}/deprovision`, { user: 'fred' }],
    ['GET', '/admin/v1/audit?organization=forge'],
    ['GET', '/admin/v1/audit/export?organization=forge'],
    ['GET', '/admin/v1/audit/verify'],
    ['GET', `/admin/v1/audit/checkpoint?namespace=${NS}`],
    ['GET', '/admin/v1/namespaces/other-workspace/organizations'],
  ];

  // Every row has three cells: jest reads a shorter row as a test that takes a `done` callback.
  it.each(routes.map(([method, path, body]) => [method, path, body] as const))('%s %s → 403 problem, audited', async (method, path, body) => {
    const before = (await gh.admin('GET', `/admin/v1/audit?action=admin.denied&limit=1`)).body.items[0]?.seq ?? 0;
    const res = await as('ana')(method, path, body);
    expect(res.status).toBe(403);
    expect(res.type).toContain('application/problem+json');
    const denied = (await gh.admin('GET', `/admin/v1/audit?action=admin.denied&limit=1`)).body.items[0];
    expect(denied.seq).toBeGreaterThan(before);
    expect(denied).toMatchObject({ actor: `user:${NS}/cascade/ana`, organization: 'cascade', outcome: 'refused', data: { method, path: path.split('?')[0] } });
  });

  // Routes naming an object or user by id: another partner's answers exactly as a missing one,
  // so a partner administrator cannot probe which names exist elsewhere.
  const probes: [string, string, string][] = [
    ['GET', `${base}/clients/forge-console`, `${base}/clients/no-such-client`],
    ['GET', `${base}/idpconnections/forge-directory`, `${base}/idpconnections/no-such-idp`],
    ['GET', `${base}/users/fred`, `${base}/users/no-such-user`],
    ['GET', `${base}/workspaces/blixit`, `${base}/workspaces/no-such-workspace`],
    ['POST', `${base}/users/fred/password-link`, `${base}/users/no-such-user/password-link`],
    ['POST', `${base}/organizations/cascade/users/fred/deactivate`, `${base}/organizations/cascade/users/no-such-user/deactivate`],
    ['POST', `${base}/organizations/cascade/users/eve/reset-mfa`, `${base}/organizations/cascade/users/no-such-user/reset-mfa`],
    ['POST', `${base}/organizations/cascade/users/fred/password-link`, `${base}/organizations/cascade/users/no-such-user/password-link`],
  ];
  const answer = async (method: string, path: string) => {
    const res = await fetch(`${gh.url}${path}`, { method, headers: { authorization: `Bearer ${tokens.ana}` } });
    const headers: [string, string][] = [];
    res.headers.forEach((value, name) => {
      // Per response, whatever it answers: the date, the body's length, the request's own id.
      if (!['date', 'content-length', 'x-request-id'].includes(name)) headers.push([name, value]);
    });
    return { status: res.status, headers, body: (await res.json()) as { detail: string } };
  };
  const anonymise = (detail: string, name: string) => detail.replace(new RegExp(`(?<![\\w-])${name}(?![\\w-])`, 'g'), '<name>');

  it.each(probes)('%s %s → the same 404 as %s, audited without naming the owner', async (method, taken, missing) => {
    const before = (await gh.admin('GET', `/admin/v1/audit?action=admin.denied&limit=1`)).body.items[0]?.seq ?? 0;
    const a = await answer(method, taken);
    const b = await answer(method, missing);
    expect(a.status).toBe(404);
    expect(b.headers).toEqual(a.headers);
    const name = (p: string) =>
      p
        .split('/')
        .filter((s) => !['password-link', 'deactivate', 'reset-mfa'].includes(s))
        .at(-1)!;
    expect(anonymise(a.body.detail, name(taken))).toBe(anonymise(b.body.detail, name(missing)));
    expect({ ...a.body, detail: '' }).toEqual({ ...b.body, detail: '' });
    const denied = (await gh.admin('GET', `/admin/v1/audit?action=admin.denied&limit=2`)).body.items;
    expect(denied.map((d: { seq: number }) => d.seq).every((seq: number) => seq > before)).toBe(true);
    for (const d of denied) expect(d.data).toEqual({ method, path: expect.any(String), permission: expect.any(String), reason: 'not found among your organizations', requestId: expect.any(String) });
  });

  it('left Forge as it was', async () => {
    const forge = await gh.admin('GET', `${base}/organizations/forge`);
    expect(forge.body.spec.displayName).toBe('forge');
    expect(forge.body.metadata.generation).toBe(1);
    expect((await gh.admin('GET', `${base}/organizations/forge/users`)).body.items).toEqual([expect.objectContaining({ id: 'fred', active: true, roles: ['organization-admin'] })]);
  });

  it("and Forge's administrator cannot reach Cascade either (JWT access token)", async () => {
    expect(tokens.fred!.split('.')).toHaveLength(3);
    expect((await as('fred')('GET', `${base}/organizations/forge/users`)).status).toBe(200);
    expect((await as('fred')('GET', `${base}/organizations/cascade/users`)).status).toBe(403);
  });
});

describe('roles', () => {
  it('a user-manager manages users but cannot read the audit log or declared objects', async () => {
    expect((await as('uma')('GET', `${base}/organizations/cascade/users`)).status).toBe(200);
    expect((await as('uma')('GET', '/admin/v1/audit')).status).toBe(403);
    expect((await as('uma')('GET', '/admin/v1/audit/export')).status).toBe(403);
    expect((await as('uma')('GET', `${base}/organizations/cascade`)).status).toBe(403);
    const invite = await as('uma')('POST', `${base}/organizations/cascade/users`, { email: 'helper@cascade.example' });
    expect(invite.status).toBe(201);
    expect((await as('uma')('POST', `${base}/organizations/cascade/users/${invite.body.user.id}/deactivate`)).status).toBe(200);
  });

  it('a user-manager cannot escalate: no roles to give, no hand on administrators', async () => {
    expect((await as('uma')('POST', `${base}/organizations/cascade/users`, { email: 'boss@cascade.example', roles: ['organization-admin'] })).status).toBe(403);
    expect((await as('uma')('POST', `${base}/organizations/cascade/users/ana/password-link`)).status).toBe(403);
    expect((await as('uma')('POST', `${base}/organizations/cascade/users/ana/reset-mfa`)).status).toBe(403);
  });

  it('an auditor reads users, objects and the audit log, and writes nothing', async () => {
    expect((await as('aud')('GET', `${base}/organizations/cascade/users`)).status).toBe(200);
    expect((await as('aud')('GET', '/admin/v1/audit')).status).toBe(200);
    expect((await as('aud')('GET', `${base}/organizations/cascade`)).status).toBe(200);
    expect((await as('aud')('POST', `${base}/organizations/cascade/users`, { email: 'x@cascade.example' })).status).toBe(403);
    expect((await as('aud')('POST', `${base}/organizations/cascade/users/pat/reset-mfa`)).status).toBe(403);
    expect((await as('aud')('PUT', `${base}/organizations/cascade`, organization('cascade'))).status).toBe(403);
  });

  it('a user without a role, or an ordinary application token, gets no admin access', async () => {
    tokens['pat-console'] = (await signIn(gh, 'cascade', 'cascade-console', secrets['cascade-console']!, { email: 'pat@cascade.example', password: PASSWORD })).access_token;
    expect((await as('pat-console')('GET', `${base}/organizations/cascade/users`)).status).toBe(403);
    const app = await as('ana-app')('GET', `${base}/organizations/cascade/users`);
    expect(app.status).toBe(403);
    expect(app.body.detail).toContain('gatehouse.dev/admin-console');
  });

  it('a made-up token is 401', async () => {
    expect((await adminAs(gh, 'x'.repeat(43))('GET', `${base}/organizations/cascade/users`)).status).toBe(401);
  });
});

describe('guardrails', () => {
  it('a partner admin cannot change declared objects: no longer lifetimes, no MFA switched off, no IdP attached', async () => {
    const longer = await as('ana')('PUT', `${base}/organizations/cascade`, organization('cascade', { tokens: { accessToken: '24h' }, mfa: { required: false } }));
    expect(longer.status).toBe(403);
    expect(longer.body.detail).toContain('managed in git or Pulumi');
    const idp = await as('ana')('PUT', `${base}/idpconnections/cascade-idp`, { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'IdPConnection', metadata: { name: 'cascade-idp', namespace: NS }, spec: { organizationRef: { name: 'cascade' }, type: 'directory' } });
    expect(idp.status).toBe(403);
    expect((await gh.admin('GET', `${base}/organizations/cascade`)).body.spec.tokens).toBeUndefined();
  });

  it('a partner admin cannot deactivate a user declared in git', async () => {
    const res = await as('ana')('POST', `${base}/organizations/cascade/users/pat/deactivate`);
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('declared in git');
  });

  it("a partner admin changes a runtime user's roles (PUT …/users/{user}/roles), within what it could give", async () => {
    const invited = await as('ana')('POST', `${base}/organizations/cascade/users`, { email: 'roles@cascade.example', roles: ['auditor'] });
    const id = invited.body.user.id;
    const changed = await as('ana')('PUT', `${base}/organizations/cascade/users/${id}/roles`, { roles: ['user-manager', 'auditor'] });
    expect(changed.status).toBe(200);
    expect(changed.body.user.roles).toEqual(['user-manager', 'auditor']);
    // A user-manager gives no roles at all, so it changes none.
    expect((await as('uma')('PUT', `${base}/organizations/cascade/users/${id}/roles`, { roles: [] })).status).toBe(403);
    // Its own roles, a declared user's, another organization's user: refused (the last as absent).
    expect((await as('ana')('PUT', `${base}/organizations/cascade/users/ana/roles`, { roles: ['auditor'] })).body.detail).toContain('your own roles');
    expect((await as('ana')('PUT', `${base}/organizations/cascade/users/pat/roles`, { roles: ['auditor'] })).body.detail).toContain('declared in git');
    expect((await as('ana')('PUT', `${base}/organizations/cascade/users/fred/roles`, { roles: ['auditor'] })).status).toBe(404);
    const bad = await as('ana')('PUT', `${base}/organizations/cascade/users/${id}/roles`, { roles: ['root'] });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('roles.0');
  });

  it('workspace administrators see everything', async () => {
    expect((await gh.admin('GET', '/admin/v1/organizations')).body.items).toHaveLength(3);
    expect((await gh.admin('GET', `${base}/organizations/forge/users`)).status).toBe(200);
  });
});

describe('guardrails: requireMfaForAdmins', () => {
  const delegated: [string, string, unknown][] = [
    ['GET', `${base}/organizations/cascade/users`, undefined],
    ['POST', `${base}/organizations/cascade/users`, { email: 'mfa.less@cascade.example' }],
    ['POST', `${base}/organizations/cascade/users/ana/reset-mfa`, undefined],
    ['POST', `${base}/organizations/cascade/users/ana/password-link`, undefined],
    ['GET', `${base}/organizations/cascade`, undefined],
    ['GET', `${base}/clients/cascade-console`, undefined],
    ['GET', `${base}/users/ana`, undefined],
    ['GET', '/admin/v1/organizations', undefined],
    ['GET', '/admin/v1/audit', undefined],
    ['GET', '/admin/v1/audit/export', undefined],
  ];
  let mfaToken: string;

  beforeAll(async () => {
    await gh.put('workspaces', workspace({ guardrails: { maxAccessToken: '30m', requireMfaForAdmins: true } }));
  });
  afterAll(async () => {
    await gh.put('workspaces', workspace({ guardrails: { maxAccessToken: '30m' } }));
  });

  it.each(delegated)('%s %s with a password-only token → 403 saying why and what to do, audited', async (method, path, body) => {
    const before = (await gh.admin('GET', `/admin/v1/audit?action=admin.denied&limit=1`)).body.items[0]?.seq ?? 0;
    const res = await as('ana')(method, path, body);
    expect(res.status).toBe(403);
    expect(res.type).toContain('application/problem+json');
    expect(res.body.detail).toContain('spec.guardrails.requireMfaForAdmins');
    expect(res.body.detail).toContain('sign in to the admin console again');
    const denied = (await gh.admin('GET', `/admin/v1/audit?action=admin.denied&limit=1`)).body.items[0];
    expect(denied.seq).toBeGreaterThan(before);
    expect(denied).toMatchObject({ actor: `user:${NS}/cascade/ana`, organization: 'cascade', outcome: 'refused' });
  });

  it('refuses JWT access tokens without MFA too', async () => {
    expect(tokens.fred!.split('.')).toHaveLength(3);
    expect((await as('fred')('GET', `${base}/organizations/forge/users`)).status).toBe(403);
  });

  it('the admin console sign-in now asks for a second factor, and its token is accepted', async () => {
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/cascade`), `cascade-console.${NS}`, secrets['cascade-console']!, undefined, { execute: [oidc.allowInsecureRequests] });
    let s = await submit(await startSignIn(config, { scope: 'openid email' }), { email: 'ana@cascade.example' });
    s = await submit(s, { email: 'ana@cascade.example', password: PASSWORD });
    const html = await s.res.text();
    expect(html).toContain('Set up two-step verification');
    const key = /id="totp-secret">([A-Z2-7 ]+)</.exec(html)![1]!.replace(/ /g, '');
    s = await submit({ ...s, res: new Response(html) }, { code: new TOTP({ secret: Secret.fromBase32(key), digits: 6, period: 30 }).generate({ timestamp: gh.clock.now() }) });
    s = await submit(s, {});
    const t = await oidc.authorizationCodeGrant(config, new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
    mfaToken = t.access_token;
    for (const [method, path] of delegated.filter(([m]) => m === 'GET')) {
      expect((await adminAs(gh, mfaToken)(method, path)).status).toBe(200);
    }
    // The factor is sealed in the secret store, and the user list says it is there.
    const listed = await adminAs(gh, mfaToken)('GET', `${base}/organizations/cascade/users`);
    expect(listed.body.items.find((u: { id: string }) => u.id === 'ana')).toMatchObject({ mfaEnrolled: true });
    expect(listed.body.items.find((u: { id: string }) => u.id === 'uma')).toMatchObject({ mfaEnrolled: false });
  });

  it('admin tokens (machine credentials of the platform team) are not sessions and are unaffected', async () => {
    expect((await gh.admin('GET', `${base}/organizations/cascade/users`)).status).toBe(200);
  });
});

describe('deprovisioning hook', () => {
  it('deactivates one user, idempotently, each call audited', async () => {
    const first = await gh.admin('POST', `${base}/deprovision`, { user: 'pat', reason: 'left the company (HR-1182)' });
    expect(first.body).toMatchObject({ user: 'pat', deactivated: ['pat'] });
    const again = await gh.admin('POST', `${base}/deprovision`, { user: 'pat' });
    expect(again.body).toMatchObject({ user: 'pat', deactivated: [] });
    const audit = await gh.admin('GET', `/admin/v1/audit?action=user.deactivated&subject=pat&limit=2`);
    expect(audit.body.items.map((r: { data: { changed: boolean } }) => r.data.changed)).toEqual([false, true]);
    expect(audit.body.items[1].actor).toBe('admin-token:bootstrap');
  });

  it("deactivates a whole organization: its users and its administrators' tokens", async () => {
    const res = await gh.admin('POST', `${base}/deprovision`, { organization: 'forge' });
    expect(res.body).toMatchObject({ organization: 'forge', deactivated: ['fred'] });
    expect((await as('fred')('GET', `${base}/organizations/forge/users`)).status).toBe(401);
    expect((await gh.admin('POST', `${base}/deprovision`, { organization: 'forge' })).body.deactivated).toEqual([]);
  });

  it('needs exactly one target', async () => {
    expect((await gh.admin('POST', `${base}/deprovision`, { organization: 'forge', user: 'fred' })).status).toBe(400);
  });
});

describe('the kill switch ends partner administration too', () => {
  it("suspending Cascade revokes its administrators' tokens", async () => {
    expect((await as('aud')('GET', `${base}/organizations/cascade/users`)).status).toBe(200);
    await gh.put('organizations', organization('cascade', { suspended: true }));
    expect((await as('aud')('GET', `${base}/organizations/cascade/users`)).status).toBe(401);
    const kill = await gh.admin('GET', `/admin/v1/audit?action=Organization.kill-switch&limit=1`);
    expect(kill.body.items[0]).toMatchObject({ actor: 'admin-token:bootstrap', organization: 'cascade', data: { organizations: ['cascade', 'cascade-east'] } });
  });
});
