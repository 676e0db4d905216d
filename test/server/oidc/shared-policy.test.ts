import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { Browser } from '../../support/browser.ts';
import { CALLBACK, setPassword } from '../../support/sign-in.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';

/**
 * "No policy, no API access" at the namespace's shared-application issuer: a workspace
 * client declares the API scopes it may ask for, and the signed-in user's own organization's
 * AccessPolicies decide which of them its tokens carry — at sign-in, on refresh and as
 * introspection reports them. A machine (client credentials) has no organization: no API scope.
 */
const PASSWORD = 'a long enough password';
const ORDERS = 'https://orders.example';
const ALL = 'orders:read orders:write inventory:read';
const insecure = { execute: [oidc.allowInsecureRequests] };
let gh: TestServer;
const secrets: Record<string, string> = {};

const shared = (name = 'catalog') => oidc.discovery(new URL(`${gh.url}/${NS}`), `${name}.${NS}`, secrets[name], undefined, insecure);

async function signIn(config: oidc.Configuration, email: string, scope = `openid email offline_access ${ALL}`) {
  const browser = new Browser();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope, prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
  const form = await browser.follow(url.href, CALLBACK);
  const action = /action="([^"]+)"/.exec(await form.res.text())![1]!;
  const posted = await browser.submit(new URL(action.replace(/&amp;/g, '&'), form.url).href, { email, password: PASSWORD });
  expect(posted.status).toBe(303);
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href, CALLBACK);
  return oidc.authorizationCodeGrant(config, new URL(done.url), { pkceCodeVerifier: verifier, expectedState: state });
}

const scopeOf = (token: string) => ((decodeJwt(token).scope as string | undefined) ?? '').split(' ').filter(Boolean).sort();

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace());
  for (const org of ['forge', 'cascade', 'pinnacle']) await gh.put('organizations', organization(org));
  await gh.put('organizations', organization('pinnacle-emea', { parentRef: { name: 'pinnacle' } }));
  // Two workspace clients at the shared issuer, declaring every API scope of the orders API.
  await gh.put('clients', client('catalog', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access', ...ALL.split(' ')], audiences: [ORDERS] }));
  await gh.put('clients', client('feed', undefined, { type: 'm2m', redirectUris: undefined, scopes: ALL.split(' '), audiences: [ORDERS] }));
  // Forge: a policy for the catalog (read and write), and one for another client that must not leak onto it.
  await gh.put('accesspolicies', accessPolicy('forge-catalog', 'forge', { clientRef: { name: 'catalog' }, scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }] }));
  await gh.put('clients', client('other', 'forge'));
  await gh.put('accesspolicies', accessPolicy('forge-other', 'forge', { clientRef: { name: 'other' }, scopes: [{ scope: 'inventory:read' }] }));
  // Cascade: a general policy (no clientRef) — it applies to the shared clients its users sign in to.
  await gh.put('accesspolicies', accessPolicy('cascade-general', 'cascade', { scopes: [{ scope: 'inventory:read' }] }));
  // Pinnacle (the parent) has a policy; its sub-organization pinnacle-emea has none of its own.
  await gh.put('accesspolicies', accessPolicy('pinnacle-catalog', 'pinnacle', { clientRef: { name: 'catalog' }, scopes: [{ scope: 'orders:read' }] }));
  for (const org of ['forge', 'cascade', 'pinnacle-emea']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('users', user('fred', 'forge'));
  await gh.put('users', user('ana', 'cascade'));
  await gh.put('users', user('piet', 'pinnacle-emea'));
  for (const name of ['catalog', 'feed']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  for (const name of ['fred', 'ana', 'piet']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('API scopes at the shared-application issuer', () => {
  it("a Forge user gets only what Forge's policy for the client allows", async () => {
    const config = await shared();
    const t = await signIn(config, 'fred@forge.example');
    expect(t.claims()).toMatchObject({ sub: 'fred', organization_id: 'forge' });
    expect(decodeJwt(t.access_token)).toMatchObject({ aud: ORDERS, organization_id: 'forge' });
    expect(scopeOf(t.access_token)).toEqual(['orders:read', 'orders:write']);

    const introspected = await oidc.tokenIntrospection(config, t.access_token);
    expect(introspected).toMatchObject({ active: true, organization_id: 'forge' });
    expect((introspected.scope ?? '').split(' ').sort()).toEqual(['orders:read', 'orders:write']);

    gh.clock.advance(60_000);
    const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!);
    expect(scopeOf(refreshed.access_token)).toEqual(['orders:read', 'orders:write']);
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).scope?.split(' ').sort()).toEqual(['orders:read', 'orders:write']);
  });

  it("a Cascade user gets Cascade's (its general policy applies to the shared client), not Forge's", async () => {
    const config = await shared();
    const t = await signIn(config, 'ana@cascade.example');
    expect(decodeJwt(t.access_token)).toMatchObject({ organization_id: 'cascade' });
    expect(scopeOf(t.access_token)).toEqual(['inventory:read']);
    expect((await oidc.tokenIntrospection(config, t.access_token)).scope).toBe('inventory:read');
    gh.clock.advance(60_000);
    const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!);
    expect(scopeOf(refreshed.access_token)).toEqual(['inventory:read']);
  });

  it("a user of an organization without a policy of its own gets no API scope (its parent's policy is not its own)", async () => {
    const config = await shared();
    const t = await signIn(config, 'piet@pinnacle-emea.example');
    expect(t.claims()).toMatchObject({ sub: 'piet', organization_id: 'pinnacle-emea' });
    expect(scopeOf(t.access_token)).toEqual([]);
    const introspected = await oidc.tokenIntrospection(config, t.access_token);
    expect(introspected.active).toBe(true);
    expect(introspected.scope ?? '').toBe('');
    gh.clock.advance(60_000);
    const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!);
    expect(scopeOf(refreshed.access_token)).toEqual([]);
  });

  it('a refresh never gains what the policy took away meanwhile, nor what it adds later', async () => {
    const config = await shared();
    const t = await signIn(config, 'fred@forge.example');
    expect(scopeOf(t.access_token)).toEqual(['orders:read', 'orders:write']);
    await gh.put('accesspolicies', accessPolicy('forge-catalog', 'forge', { clientRef: { name: 'catalog' }, scopes: [{ scope: 'orders:read' }, { scope: 'inventory:read' }] }));
    try {
      gh.clock.advance(60_000);
      const refreshed = await oidc.refreshTokenGrant(config, t.refresh_token!);
      // orders:write is gone at once; inventory:read needs a new sign-in (the grant is the upper bound).
      expect(scopeOf(refreshed.access_token)).toEqual(['orders:read']);
      const again = await signIn(config, 'fred@forge.example');
      expect(scopeOf(again.access_token)).toEqual(['inventory:read', 'orders:read']);
    } finally {
      await gh.put('accesspolicies', accessPolicy('forge-catalog', 'forge', { clientRef: { name: 'catalog' }, scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }] }));
    }
  });

  it('a workspace machine client (client credentials, no user, no organization) gets no API scope', async () => {
    const config = await shared('feed');
    const t = await oidc.clientCredentialsGrant(config, { scope: ALL, resource: ORDERS });
    expect(decodeJwt(t.access_token)).toMatchObject({ aud: ORDERS });
    expect(decodeJwt(t.access_token).scope).toBeUndefined();
    expect(t.scope).toBeUndefined();
    expect((await oidc.tokenIntrospection(config, t.access_token)).scope).toBeUndefined();
  });

  it('the sweep of expired rows leaves reuse detection intact: a used, unexpired refresh token still revokes the grant', async () => {
    const config = await shared();
    const t = await signIn(config, 'fred@forge.example');
    gh.clock.advance(60_000);
    const rotated = await oidc.refreshTokenGrant(config, t.refresh_token!);
    gh.clock.advance(10 * 60_000); // the code, the interaction and earlier tests' rows have expired
    expect((await gh.gatehouse.sweeper.tick()).oidcModels).toBeGreaterThan(0);
    await expect(oidc.refreshTokenGrant(config, t.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The reuse revoked the whole grant: the token it was rotated into is refused too.
    await expect(oidc.refreshTokenGrant(config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(config, rotated.access_token)).active).toBe(false);
  });
});
