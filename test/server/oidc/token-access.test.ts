// Introspection and revocation (RFC 7662, RFC 7009, RFC 9700 §2.x): only confidential clients
// that authenticate may call them; a caller learns about its own tokens and those issued for an
// audience it declares, and revokes only its own. The tokens oidc-provider keeps (refresh,
// opaque access) and the JWT access tokens the registry answers for follow the same rule, on
// the Koa app's path and on the direct path alike.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { setPassword, signIn } from '../../support/sign-in.ts';

const INVENTORY = 'https://inventory.example';
const LEDGER = 'https://ledger.example';
const PASSWORD = 'correct horse battery staple 42';
let gh: TestServer;
const secrets: Record<string, string> = {};
/** When false, the direct path is closed and every request goes through the Koa app. */
let directOpen = true;
const directAnswered: boolean[] = [];

const issuer = () => `${gh.url}/${NS}/forge`;
const basic = (name: string, secret = secrets[name]!) => `Basic ${Buffer.from(`${encodeURIComponent(`${name}.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function call(endpoint: 'introspection' | 'revocation', token: string, auth: { client: string; secret?: string } | { publicClient: string }): Promise<{ status: number; body: any; headers: Headers }> {
  const form = new URLSearchParams({ token });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if ('publicClient' in auth) form.set('client_id', `${auth.publicClient}.${NS}`);
  else headers.authorization = basic(auth.client, auth.secret);
  const res = await fetch(`${issuer()}/token/${endpoint}`, { method: 'POST', headers, body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}
const introspect = (token: string, caller: string) => call('introspection', token, { client: caller });
const revoke = (token: string, caller: string) => call('revocation', token, { client: caller });

async function machineToken(name: string, scope = 'inventory:read'): Promise<string> {
  const config = await oidc.discovery(new URL(issuer()), `${name}.${NS}`, secrets[name]!, undefined, { execute: [oidc.allowInsecureRequests] });
  return (await oidc.clientCredentialsGrant(config, { scope })).access_token;
}

/** Runs `check` through the Koa app, then again on the direct path (which must have answered at least once). */
async function onBothPaths(check: () => Promise<void>): Promise<void> {
  directOpen = false;
  try {
    await check();
  } finally {
    directOpen = true;
  }
  await fetch(`${issuer()}/.well-known/openid-configuration`); // builds the issuer and leaves no poll due
  const from = directAnswered.length;
  await check();
  expect(directAnswered.slice(from)).toContain(true);
}

beforeAll(async () => {
  gh = await startTestServer();
  const registry = gh.gatehouse.issuers;
  const direct = registry.direct.bind(registry);
  registry.direct = (req, res) => {
    const answered = directOpen && direct(req, res);
    directAnswered.push(answered);
    return answered;
  };
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge'));
  await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }, { scope: 'ledger:read' }] }));
  // forge-sync asks for inventory tokens; inventory-api is the resource server that serves that audience.
  await gh.put('clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('clients', client('inventory-api', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('clients', client('ledger-api', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['ledger:read'], audiences: [LEDGER] }));
  await gh.put('clients', client('forge-web', 'forge', { type: 'web', redirectUris: ['http://127.0.0.1:9/callback'], scopes: ['openid', 'email', 'offline_access'] }));
  await gh.put('clients', client('forge-spa', 'forge', { type: 'spa', redirectUris: ['http://127.0.0.1:9/callback'], scopes: ['openid', 'email'] }));
  for (const name of ['forge-sync', 'inventory-api', 'ledger-api', 'forge-web']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  await setPassword(gh, 'lena', PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('introspection of JWT access tokens', () => {
  it('is active for the client the token was issued to and for a client declaring its audience; inactive for any other', async () => {
    const token = await machineToken('forge-sync');
    await onBothPaths(async () => {
      expect((await introspect(token, 'forge-sync')).body).toMatchObject({ active: true, client_id: `forge-sync.${NS}`, aud: INVENTORY });
      expect((await introspect(token, 'inventory-api')).body).toMatchObject({ active: true, client_id: `forge-sync.${NS}` });
      // Same organization, same issuer, a valid signature: still nothing to learn for a client serving another API.
      const other = await introspect(token, 'ledger-api');
      expect(other.status).toBe(200);
      expect(other.body).toEqual({ active: false });
    });
  });

  it('refuses a public client that names itself with a bare client_id (401 invalid_client), whatever the token', async () => {
    const token = await machineToken('forge-sync');
    await onBothPaths(async () => {
      for (const t of [token, 'not-a-token', `${token.slice(0, -4)}AAAA`]) {
        const res = await call('introspection', t, { publicClient: 'forge-spa' });
        expect(res.status).toBe(401);
        expect(res.body.error).toBe('invalid_client');
        expect(res.body.active).toBeUndefined();
      }
    });
  });

  it('refuses a confidential client with a wrong secret or none', async () => {
    const token = await machineToken('forge-sync');
    expect((await call('introspection', token, { client: 'forge-sync', secret: 'wrong-secret-0123456789' })).status).toBe(401);
    expect((await call('introspection', token, { publicClient: 'forge-sync' })).status).toBe(401);
  });
});

describe('revocation of JWT access tokens', () => {
  it("refuses another client's token with unauthorized_client (RFC 7009 §2.1) and leaves it active — even the audience's resource server", async () => {
    const token = await machineToken('forge-sync');
    await onBothPaths(async () => {
      for (const caller of ['ledger-api', 'inventory-api']) {
        const res = await revoke(token, caller);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ error: 'unauthorized_client', error_description: 'the token was not issued to this client' });
      }
      expect((await introspect(token, 'forge-sync')).body.active).toBe(true);
    });
  });

  it("refuses a public client's bare client_id (401) and revokes nothing", async () => {
    const token = await machineToken('forge-sync');
    await onBothPaths(async () => {
      const res = await call('revocation', token, { publicClient: 'forge-spa' });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
      expect((await introspect(token, 'forge-sync')).body.active).toBe(true);
    });
  });

  it("revokes the caller's own token; an unknown token is a 200 no-op", async () => {
    for (const direct of [false, true]) {
      directOpen = direct;
      const token = await machineToken('forge-sync');
      expect((await revoke(token, 'forge-sync')).status).toBe(200);
      expect((await introspect(token, 'forge-sync')).body).toEqual({ active: false });
      expect((await revoke('unknown-token-value', 'forge-sync')).status).toBe(200);
    }
    directOpen = true;
  });
});

describe('the tokens oidc-provider keeps (refresh tokens, opaque access tokens)', () => {
  let tokens: { refresh: string; access: string };
  beforeAll(async () => {
    const t = await signIn(gh, 'forge', 'forge-web', secrets['forge-web']!, { email: 'lena@forge.example', password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' });
    tokens = { refresh: t.refresh_token!, access: t.access_token };
  });

  it('are introspected only by their own client', async () => {
    expect((await introspect(tokens.refresh, 'forge-web')).body).toMatchObject({ active: true, client_id: `forge-web.${NS}`, sub: expect.any(String) });
    expect((await introspect(tokens.access, 'forge-web')).body).toMatchObject({ active: true });
    for (const caller of ['forge-sync', 'inventory-api', 'ledger-api']) {
      expect((await introspect(tokens.refresh, caller)).body).toEqual({ active: false });
      expect((await introspect(tokens.access, caller)).body).toEqual({ active: false });
    }
    expect((await call('introspection', tokens.refresh, { publicClient: 'forge-spa' })).status).toBe(401);
  });

  it("are revoked only by their own client: another's attempt is unauthorized_client, a public one's 401", async () => {
    const res = await revoke(tokens.refresh, 'forge-sync');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'unauthorized_client', error_description: 'the token was not issued to this client' });
    expect((await call('revocation', tokens.refresh, { publicClient: 'forge-spa' })).status).toBe(401);
    expect((await introspect(tokens.refresh, 'forge-web')).body.active).toBe(true);
    expect((await revoke(tokens.refresh, 'forge-web')).status).toBe(200);
    expect((await introspect(tokens.refresh, 'forge-web')).body).toEqual({ active: false });
  });
});

describe('discovery', () => {
  it('advertises only the client authentication a declared client can use, per endpoint', async () => {
    const res = await fetch(`${issuer()}/.well-known/openid-configuration`);
    const meta = await res.json();
    expect(meta.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'none']);
    expect(meta.introspection_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post']);
    expect(meta.revocation_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post']);
    expect(meta.token_endpoint_auth_signing_alg_values_supported).toBeUndefined();
  });
});
