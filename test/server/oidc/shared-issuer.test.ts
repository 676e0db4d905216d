import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { Browser } from '../../support/browser.ts';
import { CALLBACK, finishSignIn, setPassword, submitCredentials } from '../../support/sign-in.ts';
import { NS, idp, client, organization, user, workspace } from '../../support/objects.ts';

const PASSWORD = 'a long enough password';
const insecure = { execute: [oidc.allowInsecureRequests] };
let dataDir: string;
let gh: TestServer;
let secret: string;

async function signIn(config: oidc.Configuration, email: string) {
  const browser = new Browser();
  const submitted = await submitCredentials(browser, config, { email, password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' });
  if (submitted.posted.status !== 303) return { status: submitted.posted.status };
  return { tokens: await finishSignIn(browser, config, submitted) };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-shared-'));
  gh = await startTestServer({ dataDir });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('cascade'));
  await gh.put('organizations', organization('pinnacle'));
  await gh.put('organizations', organization('pinnacle-emea', { parentRef: { name: 'pinnacle' }, emailDomains: ['emea.pinnacle.example'] }));
  await gh.put('clients', client('portal', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
  await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
  await gh.put('idpconnections', idp('pinnacle-emea-directory', 'pinnacle-emea', { type: 'directory', oidc: undefined }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  await gh.put('users', user('piet', 'pinnacle-emea', { email: 'piet@emea.pinnacle.example' }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/portal/secret`)).body.clientSecret;
  for (const name of ['ana', 'piet']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
  await rm(dataDir, { recursive: true, force: true });
});

const shared = () => oidc.discovery(new URL(`${gh.url}/${NS}`), `portal.${NS}`, secret, undefined, insecure);

describe('the shared-application issuer of a namespace', () => {
  it("signs in users of every organization, each token naming the user's own organization", async () => {
    const config = await shared();
    expect(config.serverMetadata().issuer).toBe(`${gh.url}/${NS}`);
    const ana = await signIn(config, 'ana@cascade.example');
    expect(ana.tokens!.claims()).toMatchObject({ sub: 'ana', organization_id: 'cascade' });
    const piet = await signIn(config, 'piet@emea.pinnacle.example');
    expect(piet.tokens!.claims()).toMatchObject({ sub: 'piet', organization_id: 'pinnacle-emea', organization_parents: ['pinnacle'] });
  });

  it('refuses the user of an organization whose parent is suspended', async () => {
    await gh.put('organizations', organization('pinnacle', { suspended: true }));
    try {
      const config = await shared();
      expect((await signIn(config, 'piet@emea.pinnacle.example')).status).toBe(401);
      const emea = await fetch(`${gh.url}/${NS}/pinnacle-emea/.well-known/openid-configuration`);
      expect(emea.status).toBe(200);
      const auth = await fetch(`${gh.url}/${NS}/pinnacle-emea/auth?client_id=x`);
      expect(auth.status).toBe(403);
      expect(await auth.text()).toContain('parent organization pinnacle');
    } finally {
      await gh.put('organizations', organization('pinnacle'));
    }
  });

  it("is no way around a user's organization's networks: no tokens from outside them", async () => {
    await gh.put('organizations', organization('cascade', { network: { allowedCidrs: ['203.0.113.0/24'] } }));
    try {
      const config = await shared();
      // Refused at the sign-in step (server/oidc/admission.ts, test/server/oidc/shared-admission.test.ts), so no code ever reaches the client.
      expect(await signIn(config, 'ana@cascade.example')).toEqual({ status: 403 });
      // Another organization's users are not affected.
      expect((await signIn(config, 'piet@emea.pinnacle.example')).tokens!.claims()).toMatchObject({ sub: 'piet' });
    } finally {
      await gh.put('organizations', organization('cascade'));
    }
    expect((await signIn(await shared(), 'ana@cascade.example')).tokens!.claims()).toMatchObject({ sub: 'ana' });
  });
});

describe('signing keys', () => {
  it('rotation publishes the new key first, signs with it once active, and keeps the old one until its tokens expired', async () => {
    const config = await shared();
    const jwksUri = config.serverMetadata().jwks_uri!;
    const kids = async () => ((await (await fetch(jwksUri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const [old] = await kids();
    const { kid: next } = await gh.gatehouse.keys.rotate(NS, 'ES256', { publishAheadSeconds: 3600, retainForSeconds: 7200 });
    expect(await kids()).toEqual([old, next]);
    const before = await signIn(config, 'ana@cascade.example');
    expect(JSON.parse(Buffer.from(before.tokens!.id_token!.split('.')[0]!, 'base64url').toString()).kid).toBe(old);
    gh.clock.advance(3601 * 1000);
    expect((await kids()).sort()).toEqual([old, next].sort());
    const after = await signIn(config, 'ana@cascade.example');
    expect(JSON.parse(Buffer.from(after.tokens!.id_token!.split('.')[0]!, 'base64url').toString()).kid).toBe(next);
    gh.clock.advance(7200 * 1000);
    expect(await kids()).toEqual([next]);
  });

  it('can be rotated through the admin API, which answers when the new key takes over', async () => {
    const res = await gh.admin('POST', `/admin/v1/namespaces/${NS}/signing-keys/rotate?publishAhead=10m`);
    expect(res.status).toBe(200);
    expect(res.body.activatesAt).toBe(gh.clock.now() + 600_000);
    expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/signing-keys/rotate?publishAhead=soon`)).status).toBe(400);
    const audit = await gh.admin('GET', '/admin/v1/audit?action=SigningKey.rotated&limit=1');
    expect(audit.body.items[0].data.kid).toBe(res.body.kid);
  });

  it('keeps private keys sealed in the store', async () => {
    const rows = await gh.store.driver.all<{ private_jwk: string }>('SELECT private_jwk FROM signing_keys');
    for (const r of rows) expect(r.private_jwk).toMatch(/^v1\./);
  });
});

describe('state survives a restart', () => {
  it('a refresh token issued before a restart still works after it', async () => {
    const config = await shared();
    const { tokens } = await signIn(config, 'ana@cascade.example');
    await gh.close();
    gh = await startTestServer({ dataDir, now: new Date(gh.clock.now()).toISOString() });
    const again = await shared();
    const refreshed = await oidc.refreshTokenGrant(again, tokens!.refresh_token!);
    expect(refreshed.claims()?.organization_id).toBe('cascade');
  });
});
