import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { loopbackFetch } from '../../support/loopback.ts';
import { adminAs, setPassword, signInAt } from '../../support/sign-in.ts';

/**
 * An Organization's vanity domain is an issuer of its own: discovery at the vanity host names
 * the vanity origin as issuer (OpenID Connect Discovery §4.3, RFC 8414 §3.3), and its tokens are
 * the organization's: the same clients and keys, grants keyed under the organization's path, so
 * the kill switch reaches them.
 */
let gh: TestServer;
let port: string;
const VANITY = 'sso.forge.example';
const INVENTORY = 'https://inventory.example';
const secrets: Record<string, string> = {};
const vanityIssuer = () => `http://${VANITY}:${port}`;
const issuerOf = (org: string) => `${gh.url}/${NS}/${org}`;

/** Fetch as a client on the network would: to this server's socket, with the URL's host as Host. */
const viaLoopback = (url: string, init?: oidc.CustomFetchOptions) => loopbackFetch(port)(url, init);
const PASSWORD = 'correct horse battery staple';
const CALLBACK = 'http://127.0.0.1:9/callback';

const rp = { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: viaLoopback as oidc.CustomFetch };
const discoverAt = (issuer: string, name: string) => oidc.discovery(new URL(issuer), `${name}.${NS}`, secrets[name], undefined, rp);

async function introspect(config: oidc.Configuration, token: string): Promise<Record<string, unknown>> {
  return (await oidc.tokenIntrospection(config, token)) as Record<string, unknown>;
}

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  port = new URL(gh.url).port;
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge', { domains: [VANITY] }));
  await gh.put('organizations', organization('cascade'));
  await gh.put('clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('clients', client('cascade-sync', 'cascade', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('accesspolicies', accessPolicy('cascade-inventory', 'cascade', { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
  await gh.put('clients', { ...client('forge-console', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email'], audiences: ['https://admin.forge.example'] }), metadata: { name: 'forge-console', namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access', 'inventory:read'], audiences: [INVENTORY] }));
  await gh.put('clients', client('forge-agent', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY], tokenExchange: { enabled: true, subjectClients: [{ name: 'forge-console' }] } }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example', roles: ['organization-admin'] }));
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  for (const name of ['fred', 'lena']) await setPassword(gh, name, PASSWORD);
  for (const name of ['forge-sync', 'cascade-sync', 'forge-console', 'forge-web', 'forge-agent']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
});
afterAll(async () => {
  await gh.close();
});

describe('a vanity domain is an issuer', () => {
  let vanity: oidc.Configuration;
  let token: string;

  it('answers discovery at its host with its own origin as issuer, and endpoints on that host', async () => {
    vanity = await discoverAt(vanityIssuer(), 'forge-sync');
    const meta = vanity.serverMetadata();
    expect(meta.issuer).toBe(vanityIssuer());
    for (const endpoint of [meta.token_endpoint, meta.jwks_uri, meta.introspection_endpoint, meta.revocation_endpoint]) expect(new URL(endpoint!).origin).toBe(vanityIssuer());
    // The same discovery document under the organization's path on the vanity host.
    const prefixed = (await (await viaLoopback(`${vanityIssuer()}/${NS}/forge/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(prefixed.issuer).toBe(vanityIssuer());
  });

  it("is listed in the organization's status", async () => {
    const res = await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/forge`);
    expect(res.body.status).toMatchObject({ issuer: issuerOf('forge'), vanityIssuers: [`http://${VANITY}`] });
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/cascade`)).body.status.vanityIssuers).toBeUndefined();
  });

  it('is not the canonical issuer, which keeps its own identifier', async () => {
    const canonical = await discoverAt(issuerOf('forge'), 'forge-sync');
    expect(canonical.serverMetadata().issuer).toBe(issuerOf('forge'));
    expect(canonical.serverMetadata().token_endpoint).toBe(`${issuerOf('forge')}/token`);
  });

  it('issues client-credentials tokens naming it, signed with the namespace keys its JWKS publishes', async () => {
    token = (await oidc.clientCredentialsGrant(vanity, { scope: 'inventory:read' })).access_token;
    const jwks = (await (await viaLoopback(vanity.serverMetadata().jwks_uri!)).json()) as JSONWebKeySet;
    const canonicalJwks = (await (await fetch(`${issuerOf('forge')}/jwks`)).json()) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toEqual(canonicalJwks.keys.map((k) => k.kid));
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: vanityIssuer(), audience: INVENTORY, typ: 'at+jwt' });
    expect(payload).toMatchObject({ organization_id: 'forge', client_id: `forge-sync.${NS}`, scope: 'inventory:read' });
  });

  it('introspects its own tokens as active', async () => {
    expect(await introspect(vanity, token)).toMatchObject({ active: true, iss: vanityIssuer(), client_id: `forge-sync.${NS}` });
  });

  it('a vanity token is inactive at another organization, and at the canonical issuer (a different identifier)', async () => {
    expect(await introspect(await discoverAt(issuerOf('cascade'), 'cascade-sync'), token)).toEqual({ active: false });
    expect(await introspect(await discoverAt(issuerOf('forge'), 'forge-sync'), token)).toEqual({ active: false });
  });

  it('does not accept a canonical token as its own', async () => {
    const canonical = (await oidc.clientCredentialsGrant(await discoverAt(issuerOf('forge'), 'forge-sync'), { scope: 'inventory:read' })).access_token;
    expect(decodeJwt(canonical).iss).toBe(issuerOf('forge'));
    expect(await introspect(vanity, canonical)).toEqual({ active: false });
  });

  it('revokes its own tokens (keyed under the organization in the store)', async () => {
    const other = (await oidc.clientCredentialsGrant(vanity, { scope: 'inventory:read' })).access_token;
    expect((await introspect(vanity, other)).active).toBe(true);
    await oidc.tokenRevocation(vanity, other);
    expect(await introspect(vanity, other)).toEqual({ active: false });
  });

  it('serves another organization neither by its path on the vanity host', async () => {
    expect((await viaLoopback(`${vanityIssuer()}/${NS}/cascade/.well-known/openid-configuration`)).status).toBe(404);
  });

  it("serves the declared host on no other port than the default or PUBLIC_URL's", async () => {
    const other = Number(port) === 1 ? 2 : 1;
    expect((await viaLoopback(`http://${VANITY}:${other}/.well-known/openid-configuration`)).status).toBe(404);
  });

  it('serves an undeclared host nothing of forge', async () => {
    const res = await viaLoopback(`http://sso.unknown.example:${port}/.well-known/openid-configuration`);
    expect(res.status).toBe(404);
    await expect(discoverAt(`http://sso.unknown.example:${port}`, 'forge-sync')).rejects.toThrow();
  });

  let fred: string;

  it('signs a partner administrator in; its token works on the admin API', async () => {
    const tokens = await signInAt(vanityIssuer(), 'forge-console', secrets['forge-console']!, { email: 'fred@forge.example', password: PASSWORD }, 'openid email', {}, viaLoopback as oidc.CustomFetch);
    expect(tokens.claims()).toMatchObject({ iss: vanityIssuer(), sub: 'fred', organization_id: 'forge' });
    fred = tokens.access_token;
    expect(decodeJwt(fred)).toMatchObject({ iss: vanityIssuer(), sub: 'fred', aud: 'https://admin.forge.example' });
    const res = await adminAs(gh, fred)('GET', `/admin/v1/namespaces/${NS}/organizations/forge/users`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((u: { id: string }) => u.id)).toEqual(['fred', 'lena']);
  });

  it("exchanges (RFC 8693) its own subject tokens, not the canonical issuer's", async () => {
    const agent = await discoverAt(vanityIssuer(), 'forge-agent');
    const exchange = (subject: string) => oidc.genericGrantRequest(agent, 'urn:ietf:params:oauth:grant-type:token-exchange', { subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource: INVENTORY });
    const exchanged = await exchange(fred).catch((e: { error?: string; error_description?: string }) => {
      throw new Error(`${e.error}: ${e.error_description}`);
    });
    expect(decodeJwt(exchanged.access_token)).toMatchObject({ iss: vanityIssuer(), sub: 'fred', aud: INVENTORY, act: { sub: `forge-agent.${NS}` } });
    const canonical = await signInAt(issuerOf('forge'), 'forge-console', secrets['forge-console']!, { email: 'fred@forge.example', password: PASSWORD });
    const refused = await exchange(canonical.access_token).catch((e: unknown) => e);
    expect(refused).toMatchObject({ error: 'invalid_grant' });
  });

  it('a host two organizations declare is served as neither, and admin tokens naming it are refused', async () => {
    // The admin API refuses the second claim to a domain, naming the field and the holder.
    const refused = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/cascade`, organization('cascade', { domains: [VANITY] }));
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([{ path: 'spec.domains[0]', message: `"${VANITY}" is already a vanity domain of Organization ${NS}/forge` }]);
    // Should two declarations meet anyway (written before this check, or by replicas racing), the host is served as neither.
    const cascade = (await gh.store.objects.get('Organization', NS, 'cascade'))!;
    const declare = async (domains: string[]) => {
      await gh.store.objects.put({ ...cascade, object: { ...cascade.object, spec: { ...(cascade.object.spec as object), domains } } as typeof cascade.object });
      await gh.store.objects.bumpConfigVersion(NS, [{ kind: 'Organization', name: 'cascade' }]);
      gh.gatehouse.issuers.invalidateAll();
    };
    await declare([VANITY]);
    expect((await viaLoopback(`${vanityIssuer()}/.well-known/openid-configuration`)).status).toBe(404);
    expect((await adminAs(gh, fred)('GET', `/admin/v1/namespaces/${NS}/organizations/forge/users`)).status).toBe(401);
    await declare([]);
    expect((await viaLoopback(`${vanityIssuer()}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await adminAs(gh, fred)('GET', `/admin/v1/namespaces/${NS}/organizations/forge/users`)).status).toBe(200);
  });

  it('an admin token of a vanity host the organization no longer declares is refused', async () => {
    await gh.put('organizations', organization('forge', { domains: [VANITY, 'login.forge.example'] }));
    const other = `http://login.forge.example:${port}`;
    const tokens = await signInAt(other, 'forge-console', secrets['forge-console']!, { email: 'fred@forge.example', password: PASSWORD }, 'openid email', {}, viaLoopback as oidc.CustomFetch);
    expect(decodeJwt(tokens.access_token).iss).toBe(other);
    expect((await adminAs(gh, tokens.access_token)('GET', `/admin/v1/namespaces/${NS}/organizations/forge/users`)).status).toBe(200);
    await gh.put('organizations', organization('forge', { domains: [VANITY] }));
    expect((await adminAs(gh, tokens.access_token)('GET', `/admin/v1/namespaces/${NS}/organizations/forge/users`)).status).toBe(401);
    expect((await viaLoopback(`${other}/.well-known/openid-configuration`)).status).toBe(404);
  });

  it("deactivating a user ends the user's vanity-issuer tokens and refresh tokens", async () => {
    const web = await discoverAt(vanityIssuer(), 'forge-web');
    const tokens = await signInAt(vanityIssuer(), 'forge-web', secrets['forge-web']!, { email: 'lena@forge.example', password: PASSWORD }, 'openid email offline_access', { resource: INVENTORY, prompt: 'consent' }, viaLoopback as oidc.CustomFetch);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ iss: vanityIssuer(), sub: 'lena', aud: INVENTORY });
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);
    expect((await introspect(vanity, refreshed.access_token)).active).toBe(true);
    const off = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/forge/users/lena/deactivate`);
    expect(off.status).toBe(200);
    expect(off.body.revoked).toBeGreaterThan(0);
    expect(await introspect(vanity, refreshed.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(web, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('the kill switch reaches the vanity issuer: its tokens go inactive and grants are refused, for good', async () => {
    expect((await introspect(vanity, token)).active).toBe(true);
    await gh.put('organizations', organization('forge', { domains: [VANITY], suspended: true }));
    expect(await introspect(vanity, token)).toEqual({ active: false });
    await expect(oidc.clientCredentialsGrant(vanity, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant' });
    // Reinstated, the tokens minted before the switch stay dead (the organization's cutoff covers its vanity issuer).
    await gh.put('organizations', organization('forge', { domains: [VANITY], suspended: false }));
    expect(await introspect(vanity, token)).toEqual({ active: false });
    // The cutoff is the second after the switch (JWT iat has whole seconds): a token of the next second is live.
    // The switch was before now, so its cutoff is at most the next whole second: wait for that, not a fixed 1.1 s.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));
    const fresh = (await oidc.clientCredentialsGrant(vanity, { scope: 'inventory:read' })).access_token;
    expect((await introspect(vanity, fresh)).active).toBe(true);
  });
});

describe('a change in the namespace, at a vanity issuer (issue #23)', () => {
  const discovery = async () => (await viaLoopback(`${vanityIssuer()}/.well-known/openid-configuration`)).status;
  const providersBuilt = () => gh.gatehouse.issuers.providersBuilt;

  it("is carried past another organization's change, its kept discovery document answered without a provider", async () => {
    await gh.put('organizations', organization('forge', { domains: [VANITY] }));
    expect(await discovery()).toBe(200);
    const built = providersBuilt();
    await gh.put('organizations', organization('cascade', { displayName: 'Cascade, renamed' }));
    expect(await discovery()).toBe(200);
    expect(providersBuilt()).toBe(built);
  });

  it("takes its own organization's change at its next request", async () => {
    expect(await discovery()).toBe(200);
    const built = providersBuilt();
    await gh.put('organizations', organization('forge', { domains: [VANITY], tokens: { accessToken: '5m' } }));
    const vanity = await discoverAt(vanityIssuer(), 'forge-sync');
    expect(providersBuilt()).toBe(built + 1);
    expect((await oidc.clientCredentialsGrant(vanity, { scope: 'inventory:read' })).expires_in).toBe(300);
  });
});
