import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { Browser } from '../../support/browser.ts';
import { NS, idp, accessPolicy, claimMapping, client, organization, user, workspace } from '../../support/objects.ts';

let gh: TestServer;
const CALLBACK = 'http://127.0.0.1:9/callback';
const INVENTORY = 'https://inventory.example';
const TIMESHEETS = 'https://timesheets.example';
const secrets: Record<string, string> = {};
const issuerOf = (org: string) => `${gh.url}/${NS}/${org}`;
const insecure = { execute: [oidc.allowInsecureRequests] };
const discover = (org: string, name: string, secret?: string) => oidc.discovery(new URL(issuerOf(org)), `${name}.${NS}`, secret ?? secrets[name], secret === undefined && !secrets[name] ? oidc.None() : undefined, insecure);

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace({ tokens: { accessToken: '15m', refreshToken: '8h' }, guardrails: { maxAccessToken: '30m' } }));
  await gh.put('organizations', organization('cascade', { tokens: { accessToken: '2h' } }));
  await gh.put('organizations', organization('forge', { contract: { id: 'BLX-7', partnerType: 'supplier', owner: 'o@blixit.example', endsAt: '2027-12-31T00:00:00Z' } }));
  await gh.put('clients', client('cascade-web', 'cascade', { redirectUris: [CALLBACK], postLogoutRedirectUris: ['http://127.0.0.1:9/'], scopes: ['openid', 'email', 'profile', 'offline_access'] }));
  await gh.put('clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read', 'inventory:write'], audiences: [INVENTORY] }));
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK] }));
  await gh.put('clients', client('cascade-api', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'timesheets:read', 'timesheets:write'], audiences: [TIMESHEETS] }));
  await gh.put('accesspolicies', accessPolicy('cascade-timesheets', 'cascade', { clientRef: { name: 'cascade-api' }, scopes: [{ scope: 'timesheets:read' }] }));
  await gh.put(
    'claimmappings',
    claimMapping('cascade-claims', 'cascade', {
      claims: [
        { name: 'partner_type', from: 'contract.partnerType' },
        { name: 'cost_center', value: 'CC-4410', tokens: ['access'] },
      ],
    }),
  );
  await gh.put('claimmappings', claimMapping('forge-claims', 'forge', { claims: [{ name: 'contract_id', from: 'contract.id' }] }));
  await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', displayName: 'Ana Ruiz', givenName: 'Ana', familyName: 'Ruiz' }));
  for (const name of ['cascade-web', 'cascade-api', 'forge-sync', 'forge-web']) {
    secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  }
  const link = await gh.admin('POST', `/admin/v1/namespaces/${NS}/users/ana/password-link`);
  const browser = new Browser();
  expect((await browser.fetch(link.body.url)).status).toBe(200);
  expect((await browser.submit(link.body.url, { password: 'correct horse battery staple' })).status).toBe(200);
});
afterAll(async () => {
  await gh.close();
});

describe('discovery: one issuer per organization', () => {
  it('publishes its own issuer, endpoints and ES256 keys', async () => {
    const config = await discover('cascade', 'cascade-web');
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(issuerOf('cascade'));
    expect(meta.token_endpoint).toBe(`${issuerOf('cascade')}/token`);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0]!.d).toBeUndefined();
  });

  it('is absent for an organization that does not exist', async () => {
    expect((await fetch(`${gh.url}/${NS}/nobody/.well-known/openid-configuration`)).status).toBe(404);
  });
});

describe('client credentials', () => {
  let token: string;

  it('issues an RFC 9068 JWT that names the partner, for the declared audience only', async () => {
    const config = await discover('forge', 'forge-sync');
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'inventory:read' });
    token = tokens.access_token;
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: issuerOf('forge'), audience: INVENTORY, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ organization_id: 'forge', contract_id: 'BLX-7', client_id: `forge-sync.${NS}`, scope: 'inventory:read' });
    expect(payload.exp! - payload.iat!).toBe(15 * 60);
  });

  it("never grants a scope the client declares but the organization's policy does not allow", async () => {
    const config = await discover('forge', 'forge-sync');
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'inventory:read inventory:write' });
    expect(decodeJwt(tokens.access_token).scope).toBe('inventory:read');
    const writeOnly = await oidc.clientCredentialsGrant(config, { scope: 'inventory:write' });
    expect(decodeJwt(writeOnly.access_token).scope).toBeUndefined();
    // The audit record says what was asked for and not granted.
    const audit = await gh.admin('GET', `/admin/v1/audit?organization=forge&action=token.issued&client=forge-sync.${NS}&limit=2`);
    expect(audit.body.items.map((r: { data: object }) => r.data)).toMatchObject([
      { grant: 'client_credentials', scope: '', dropped: ['inventory:write'] },
      { grant: 'client_credentials', scope: 'inventory:read', dropped: ['inventory:write'] },
    ]);
  });

  it('refuses a wrong secret', async () => {
    const config = await discover('forge', 'forge-sync', 'not-the-secret-at-all');
    await expect(oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it('introspects its JWT as active at its own issuer, and as inactive after revocation', async () => {
    const config = await discover('forge', 'forge-sync');
    expect(await oidc.tokenIntrospection(config, token)).toMatchObject({ active: true, organization_id: 'forge', client_id: `forge-sync.${NS}` });
    const second = (await oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).access_token;
    await oidc.tokenRevocation(config, second);
    expect((await oidc.tokenIntrospection(config, second)).active).toBe(false);
  });
});

describe('isolation between partners', () => {
  it("a Forge client is unknown at Cascade's issuer", async () => {
    const config = await oidc.discovery(new URL(issuerOf('cascade')), `forge-sync.${NS}`, secrets['forge-sync'], undefined, insecure);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it("a Forge token is inactive at Cascade's introspection", async () => {
    const forge = await discover('forge', 'forge-sync');
    const token = (await oidc.clientCredentialsGrant(forge, { scope: 'inventory:read' })).access_token;
    const cascade = await discover('cascade', 'cascade-web');
    expect((await oidc.tokenIntrospection(cascade, token)).active).toBe(false);
  });
});

async function signIn(config: oidc.Configuration, browser: Browser, credentials: { email: string; password: string }, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: params.scope ?? 'openid email profile offline_access', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...params });
  const form = await browser.follow(url.href, CALLBACK);
  const html = await form.res.text();
  if (form.res.status !== 200)
    throw new Error(
      `sign-in page: ${form.res.status} ${html
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(-300)}`,
    );
  const action = /action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
  const posted = await browser.submit(new URL(action, form.url).href, credentials);
  if (posted.status !== 303 && posted.status !== 302) return { failed: posted };
  const done = await browser.follow(new URL(posted.headers.get('location')!, form.url).href, CALLBACK);
  return { callback: new URL(done.url), verifier, state };
}

describe('authorization code + PKCE with a directory user', () => {
  let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
  let config: oidc.Configuration;

  it('signs in with the password set through the one-time link and gets tokens that name the partner', async () => {
    config = await discover('cascade', 'cascade-web');
    const result = await signIn(config, new Browser(), { email: 'ana@cascade.example', password: 'correct horse battery staple' });
    expect(result.callback).toBeDefined();
    tokens = await oidc.authorizationCodeGrant(config, result.callback!, { pkceCodeVerifier: result.verifier, expectedState: result.state });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: issuerOf('cascade'), sub: 'ana', email: 'ana@cascade.example', organization_id: 'cascade', partner_type: 'consultant' });
    expect(claims.cost_center).toBeUndefined(); // an access-token-only claim
    expect(tokens.refresh_token).toBeDefined();
  });

  it("grants API scopes in an access token for the client's audience, only as far as the policy allows", async () => {
    const api = await discover('cascade', 'cascade-api');
    const result = await signIn(api, new Browser(), { email: 'ana@cascade.example', password: 'correct horse battery staple' }, { scope: 'openid email timesheets:read timesheets:write' });
    const t = await oidc.authorizationCodeGrant(api, result.callback!, { pkceCodeVerifier: result.verifier, expectedState: result.state });
    const at = decodeJwt(t.access_token);
    expect(at).toMatchObject({ aud: TIMESHEETS, scope: 'timesheets:read', organization_id: 'cascade', cost_center: 'CC-4410', sub: 'ana' });
    expect(t.claims()).toMatchObject({ organization_id: 'cascade', email: 'ana@cascade.example' });
  });

  it('answers userinfo with the partner, and the declared displayName, givenName and familyName (profile)', async () => {
    const info = await oidc.fetchUserInfo(config, tokens.access_token, 'ana');
    expect(info).toMatchObject({ sub: 'ana', email: 'ana@cascade.example', organization_id: 'cascade', name: 'Ana Ruiz', given_name: 'Ana', family_name: 'Ruiz' });
  });

  it('caps lifetimes at the workspace ceiling (the organization asked for 2h)', () => {
    expect(tokens.expires_in).toBe(30 * 60);
  });

  it('rotates refresh tokens; presenting a used one revokes the whole family and is audited', async () => {
    const first = tokens.refresh_token!;
    const rotated = await oidc.refreshTokenGrant(config, first);
    expect(rotated.refresh_token).not.toBe(first);
    await expect(oidc.refreshTokenGrant(config, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(config, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const audit = await gh.admin('GET', '/admin/v1/audit?action=token.refresh-reuse-detected');
    expect(audit.body.items[0]).toMatchObject({ organization: 'cascade', client: `cascade-web.${NS}`, outcome: 'refused' });
  });

  it('refuses a wrong password and a user of another organization, with an audit record', async () => {
    const wrong = await signIn(config, new Browser(), { email: 'ana@cascade.example', password: 'wrong password!!' });
    expect(wrong.failed?.status).toBe(401);
    const forge = await discover('forge', 'forge-web');
    const elsewhere = await signIn(forge, new Browser(), { email: 'ana@cascade.example', password: 'correct horse battery staple' }, { scope: 'openid' });
    expect(elsewhere.failed?.status).toBe(401);
    const audit = await gh.admin('GET', '/admin/v1/audit?action=login.failed');
    expect(audit.body.items.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit.body)).not.toContain('wrong password');
  });

  it('refuses a password for a partner that signs in with its own IdP, even when one was set', async () => {
    await gh.put('idpconnections', idp('forge-sso', 'forge'));
    await gh.put('users', user('bob', 'forge', { email: 'bob@forge.example' }));
    const link = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/users/bob/password-link`)).body.url;
    expect((await new Browser().submit(link, { password: 'correct horse battery staple' })).status).toBe(200);
    const forge = await discover('forge', 'forge-web');
    const attempt = await signIn(forge, new Browser(), { email: 'bob@forge.example', password: 'correct horse battery staple' }, { scope: 'openid' });
    // The broker sends a federated address to the partner's IdP (here not configured yet), never to the password check.
    expect(attempt.callback).toBeUndefined();
    expect(attempt.failed?.status).toBe(503);
    const audit = await gh.admin('GET', '/admin/v1/audit?action=login.succeeded&limit=100');
    expect(audit.body.items.filter((r: { subject: string }) => r.subject === 'bob')).toEqual([]);
  });

  it('refuses a redirect URI that is not registered exactly, and a request without PKCE', async () => {
    const browser = new Browser();
    const other = oidc.buildAuthorizationUrl(config, { redirect_uri: `${CALLBACK}/extra`, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    expect((await browser.follow(other.href)).res.status).toBe(400);
    const noPkce = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid' });
    const res = await browser.follow(noPkce.href, CALLBACK);
    expect(new URL(res.url).searchParams.get('error')).toBe('invalid_request');
  });

  it('ends the session at RP-initiated logout', async () => {
    const browser = new Browser();
    const result = await signIn(config, browser, { email: 'ana@cascade.example', password: 'correct horse battery staple' });
    const fresh = await oidc.authorizationCodeGrant(config, result.callback!, { pkceCodeVerifier: result.verifier, expectedState: result.state });
    const logout = oidc.buildEndSessionUrl(config, { id_token_hint: fresh.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/' });
    const page = await browser.follow(logout.href);
    expect(page.res.status).toBe(200);
    expect(await page.res.text()).toContain('logout');
  });
});

describe('DPoP is off: a proof is ignored, every token is a Bearer token', () => {
  const basic = (name: string) => `Basic ${Buffer.from(`${encodeURIComponent(`${name}.${NS}`)}:${encodeURIComponent(secrets[name]!)}`).toString('base64')}`;
  /** A DPoP proof (RFC 9449) that oidc-provider with DPoP on would accept for a POST to `htu`, now. */
  const proof = async (htu: string) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    return new SignJWT({ htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) }).sign(privateKey);
  };
  const token = async (org: string, client: string, fields: Record<string, string>) => {
    const endpoint = `${issuerOf(org)}/token`;
    const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client), dpop: await proof(endpoint) }, body: new URLSearchParams(fields).toString() });
    expect(res.status).toBe(200);
    return (await res.json()) as { access_token: string; token_type: string };
  };

  it('is not advertised in discovery', async () => {
    const document = await (await fetch(`${issuerOf('cascade')}/.well-known/openid-configuration`)).json();
    expect(document).not.toHaveProperty('dpop_signing_alg_values_supported');
    expect(JSON.stringify(document)).not.toMatch(/dpop/i);
  });

  it('gives a Bearer token, bound to no key, for a code exchanged with a proof', async () => {
    const config = await discover('cascade', 'cascade-web');
    const result = await signIn(config, new Browser(), { email: 'ana@cascade.example', password: 'correct horse battery staple' }, { scope: 'openid email' });
    const code = result.callback!.searchParams.get('code')!;
    const answer = await token('cascade', 'cascade-web', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: result.verifier! });
    expect(answer.token_type).toBe('Bearer');
    // A key-bound token would need a proof at userinfo and show its `cnf` to introspection.
    expect((await fetch(`${issuerOf('cascade')}/me`, { headers: { authorization: `Bearer ${answer.access_token}` } })).status).toBe(200);
    const introspected = await oidc.tokenIntrospection(config, answer.access_token);
    expect(introspected).toMatchObject({ active: true, token_type: 'Bearer' });
    expect(introspected).not.toHaveProperty('cnf');
  });

  it('gives a Bearer JWT without `cnf` for client credentials with a proof', async () => {
    const answer = await token('forge', 'forge-sync', { grant_type: 'client_credentials', scope: 'inventory:read' });
    expect(answer.token_type).toBe('Bearer');
    expect(decodeJwt(answer.access_token)).not.toHaveProperty('cnf');
  });
});

describe('lifecycle: the partnership stops at once', () => {
  it('suspending an organization turns its live tokens inactive for good and refuses every grant', async () => {
    const config = await discover('forge', 'forge-sync');
    const token = (await oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).access_token;
    expect((await oidc.tokenIntrospection(config, token)).active).toBe(true);
    const forge = organization('forge', { suspended: true, contract: { id: 'BLX-7', partnerType: 'supplier', owner: 'o@blixit.example', endsAt: '2027-12-31T00:00:00Z' } });
    await gh.put('organizations', forge);
    expect((await oidc.tokenIntrospection(config, token)).active).toBe(false);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant' });
    const audit = await gh.admin('GET', '/admin/v1/audit?organization=forge&action=token.refused');
    expect(audit.body.items[0].data.reason).toBe('suspended');
    await gh.put('organizations', { ...forge, spec: { ...forge.spec, suspended: false } });
    // Reinstating the partner does not revive what the kill switch ended, grant or no grant.
    expect((await oidc.tokenIntrospection(config, token)).active).toBe(false);
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5)); // tokens signed in the second of the switch count as before it
    const fresh = (await oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).access_token;
    expect((await oidc.tokenIntrospection(config, fresh)).active).toBe(true);
  });

  it('a contract that has ended refuses new grants, with no restart', async () => {
    const config = await discover('forge', 'forge-sync');
    gh.clock.set('2028-01-01T00:00:00Z');
    try {
      await expect(oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant' });
      const res = await fetch(`${issuerOf('forge')}/auth?client_id=forge-web.${NS}`);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('ended at 2027-12-31T00:00:00Z');
    } finally {
      gh.clock.set('2026-11-23T09:00:00Z');
    }
  });
});

describe('audit of issuance', () => {
  it('records every token issued, with organization, client, grant and scope', async () => {
    const audit = await gh.admin('GET', `/admin/v1/audit?organization=forge&action=token.issued&limit=1`);
    expect(audit.body.items[0]).toMatchObject({ client: `forge-sync.${NS}`, data: { grant: 'client_credentials', scope: 'inventory:read' } });
    expect((await gh.admin('GET', '/admin/v1/audit/verify')).body.ok).toBe(true);
  });

  it('never records a token or secret', async () => {
    const all = JSON.stringify((await gh.admin('GET', '/admin/v1/audit?limit=1000')).body);
    for (const secret of Object.values(secrets)) expect(all).not.toContain(secret);
  });
});
