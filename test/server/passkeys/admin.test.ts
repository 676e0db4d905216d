// Administrators and a user's passkeys through the admin API: listed (no key material) and
// revoked, audited; a partner administrator only within its organization (the governance
// policy), and never on a user holding a role beyond its own.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PasskeyRecord } from '../../../server/store/index.ts';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const base = `/admin/v1/namespaces/${NS}`;
const tokens: Record<string, string> = {};
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
  await setPassword(gh, 'ana', PASSWORD);
  const secret = (await gh.admin('POST', `${base}/clients/cascade-console/secret`)).body.clientSecret;
  tokens.ana = (await signIn(gh, 'cascade', 'cascade-console', secret, { email: 'ana@cascade.example', password: PASSWORD })).access_token;
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
