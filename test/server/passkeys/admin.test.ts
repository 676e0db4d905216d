// Administrators and a user's passkeys through the admin API: listed (no key material) and
// revoked, audited; a partner administrator only within its organization (the governance
// policy), and never on a user holding a role beyond its own.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PasskeyRecord } from '../../../server/store/index.ts';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import * as oidc from 'openid-client';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';
import { startSignIn, submit } from '../broker/flow.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const base = `/admin/v1/namespaces/${NS}`;
const tokens: Record<string, string> = {};
let consoleSecret = '';
const as = (who: string) => adminAs(gh, tokens[who]!);
const consoleClient = (name: string, org: string) => ({ ...client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }), metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });

const passkey = (id: string, userId: string, organization: string): PasskeyRecord => ({
  id,
  namespace: NS,
  organization,
  userId,
  rpId: '127.0.0.1',
  publicKey: 'pQECAyYgASFYIA',
  counter: 3,
  transports: ['internal'],
  name: `Key ${id}`,
  aaguid: '00000000-0000-0000-0000-000000000000',
  deviceType: 'singleDevice',
  backedUp: false,
  createdAt: Date.parse('2026-11-20T10:00:00Z'),
  lastUsedAt: null,
});

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  for (const org of ['cascade', 'forge']) {
    await gh.put('organizations', organization(org));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', consoleClient(`${org}-console`, org));
  }
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['user-manager'] }));
  await gh.put('users', user('pat', 'cascade', { email: 'pat@cascade.example' }));
  await gh.put('users', user('oli', 'cascade', { email: 'oli@cascade.example', roles: ['organization-admin'] }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example' }));
  // Passkeys as the sign-in pages store them (their enrolment is passkeys.test.ts's).
  for (const [id, u, org] of [
    ['pat-1', 'pat', 'cascade'],
    ['pat-2', 'pat', 'cascade'],
    ['oli-1', 'oli', 'cascade'],
    ['fred-1', 'fred', 'forge'],
  ] as const)
    await gh.store.passkeys.add(passkey(id, u, org));
  for (const name of ['ana', 'oli']) await setPassword(gh, name, PASSWORD);
  consoleSecret = (await gh.admin('POST', `${base}/clients/cascade-console/secret`)).body.clientSecret;
  for (const name of ['ana', 'oli']) tokens[name] = (await signIn(gh, 'cascade', 'cascade-console', consoleSecret, { email: `${name}@cascade.example`, password: PASSWORD })).access_token;
});
afterAll(async () => {
  await gh?.close();
});

describe('a workspace administrator', () => {
  it("lists a user's passkeys, without their public keys", async () => {
    const res = await gh.admin('GET', `${base}/organizations/cascade/users/pat/passkeys`);
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([{ id: 'pat-1', name: 'Key pat-1', rpId: '127.0.0.1', deviceType: 'singleDevice', backedUp: false, transports: ['internal'], aaguid: '00000000-0000-0000-0000-000000000000', createdAt: '2026-11-20T10:00:00.000Z', lastUsedAt: null }, expect.objectContaining({ id: 'pat-2' })]);
    expect(JSON.stringify(res.body)).not.toContain('pQECAyYgASFYIA');
  });

  it('revokes one, audited with who did it; a second revocation finds nothing', async () => {
    const res = await gh.admin('DELETE', `${base}/organizations/cascade/users/pat/passkeys/pat-1`);
    expect(res.status).toBe(200);
    expect(res.body.revoked).toMatchObject({ id: 'pat-1' });
    expect(await gh.store.passkeys.find('pat-1')).toBeUndefined();
    const audit = (await gh.admin('GET', '/admin/v1/audit?action=passkey.revoked&limit=1')).body.items[0];
    expect(audit).toMatchObject({ organization: 'cascade', subject: 'pat', data: { credential: 'pat-1', name: 'Key pat-1' } });
    expect((await gh.admin('DELETE', `${base}/organizations/cascade/users/pat/passkeys/pat-1`)).status).toBe(404);
  });

  it("cannot reach a passkey through another organization's path", async () => {
    expect((await gh.admin('DELETE', `${base}/organizations/cascade/users/fred/passkeys/fred-1`)).status).toBe(404);
    expect((await gh.admin('DELETE', `${base}/organizations/forge/users/fred/passkeys/pat-2`)).status).toBe(404);
    expect(await gh.store.passkeys.find('fred-1')).toBeDefined();
  });
});

describe('a partner administrator (user-manager of Cascade)', () => {
  it("lists and revokes its organization's users' passkeys", async () => {
    expect((await as('ana')('GET', `${base}/organizations/cascade/users/pat/passkeys`)).body.items.map((p: { id: string }) => p.id)).toEqual(['pat-2']);
    expect((await as('ana')('DELETE', `${base}/organizations/cascade/users/pat/passkeys/pat-2`)).status).toBe(200);
    expect((await gh.admin('GET', '/admin/v1/audit?action=passkey.revoked&limit=1')).body.items[0]).toMatchObject({ actor: expect.stringContaining('ana'), subject: 'pat' });
  });

  it("is refused another organization's users", async () => {
    for (const [method, path] of [
      ['GET', `${base}/organizations/forge/users/fred/passkeys`],
      ['DELETE', `${base}/organizations/forge/users/fred/passkeys/fred-1`],
    ] as const)
      expect((await as('ana')(method, path)).status).toBeGreaterThanOrEqual(403);
    expect(await gh.store.passkeys.find('fred-1')).toBeDefined();
  });

  it('is refused a user holding a role beyond its own', async () => {
    expect((await as('ana')('DELETE', `${base}/organizations/cascade/users/oli/passkeys/oli-1`)).status).toBe(403);
    expect(await gh.store.passkeys.find('oli-1')).toBeDefined();
  });
});

describe('a partner administrator tightens its organization’s second-factor policy (never loosens it)', () => {
  it('organization-admin: required, passkeys only, phishing-resistant administrators, audited, in effect at the next sign-in', async () => {
    const res = await as('oli')('PUT', `${base}/organizations/cascade/mfa`, { required: true, methods: ['webauthn'], requirePhishingResistant: { administrators: true } });
    expect(res.status).toBe(200);
    expect(res.body.effective).toMatchObject({ required: { value: true, source: 'partner' }, methods: { value: ['webauthn'], source: 'partner' }, requirePhishingResistant: { administrators: { value: true, source: 'partner' } } });
    expect((await gh.admin('GET', '/admin/v1/audit?action=organization.mfa-tightened&limit=1')).body.items[0]).toMatchObject({ actor: expect.stringContaining('oli'), organization: 'cascade', data: { policy: { required: true } } });
    expect((await gh.admin('GET', `${base}/organizations/cascade/effective`)).body.mfaRequired).toEqual({ value: true, source: 'partner' });
    // The next sign-in (of a user without a role, in a client that is not the console) goes through a passkey.
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/cascade`), `cascade-console.${NS}`, consoleSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    await setPassword(gh, 'pat', PASSWORD);
    const s = await submit(await submit(await startSignIn(config, { scope: 'openid email' }), { email: 'pat@cascade.example' }), { email: 'pat@cascade.example', password: PASSWORD });
    expect(s.url).toMatch(/\/mfa$/);
    const html = await s.res.text();
    expect(html).not.toContain('totp-secret');
    expect(html).toContain('passkey-form');
  });

  it('what would loosen a declaration is ignored, and an empty policy clears the tightening', async () => {
    await gh.put('organizations', organization('forge', { mfa: { required: true, upstreamMfa: 'require-local', methods: ['webauthn'] } }));
    const res = await gh.admin('PUT', `${base}/organizations/forge/mfa`, { required: false, upstreamMfa: 'trust', methods: ['totp', 'webauthn'], requirePhishingResistant: { administrators: false } });
    expect(res.status).toBe(200);
    expect(res.body.effective).toEqual({
      required: { value: true, source: 'organization' },
      methods: { value: ['webauthn'], source: 'organization' },
      requirePhishingResistant: { administrators: { value: false, source: 'default' }, highValueScopes: { value: false, source: 'default' } },
      upstreamMfa: { value: 'require-local', source: 'organization' },
    });
    const cleared = await as('oli')('PUT', `${base}/organizations/cascade/mfa`, {});
    expect(cleared.body).toMatchObject({ tightening: {}, effective: { required: { value: false, source: 'default' } } });
  });

  it("is refused another organization's policy, a role without sso.write, and a field it does not know", async () => {
    expect((await as('oli')('PUT', `${base}/organizations/forge/mfa`, { required: true })).status).toBeGreaterThanOrEqual(403);
    expect((await as('ana')('PUT', `${base}/organizations/cascade/mfa`, { required: true })).status).toBe(403);
    const bad = await as('oli')('PUT', `${base}/organizations/cascade/mfa`, { required: true, methods: ['sms'] });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('methods');
  });
});
