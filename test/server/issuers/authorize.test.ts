// The authorization decision endpoint (`POST {issuer}/authorize`, Envoy ext_authz at
// `{issuer}/ext-authz/*`): an API gateway asks whether a bearer token may call a method and
// path, and the answer is an AccessPolicy's `api` entry opened by a scope the token holds —
// only while the token is valid here, its organization stands and the call comes from its networks.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, organization, workspace } from '../../support/objects.ts';

const INVENTORY = 'https://inventory.example';
let gh: TestServer;
const secrets: Record<string, string> = {};
const issuer = (org: string) => `${gh.url}/${NS}/${org}`;

async function machineToken(org: string, name: string, scope: string): Promise<string> {
  const config = await oidc.discovery(new URL(issuer(org)), `${name}.${NS}`, secrets[name]!, undefined, { execute: [oidc.allowInsecureRequests] });
  return (await oidc.clientCredentialsGrant(config, { scope, resource: INVENTORY })).access_token;
}

async function authorize(org: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${issuer(org)}/authorize`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** Envoy's check request: the original method and raw path (sent as written, no URL normalisation) below the prefix. */
function extAuthz(org: string, method: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(gh.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path: `/${NS}/${org}/ext-authz${rawPath}`, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const audited = async (action: string, org: string): Promise<{ data: Record<string, unknown>; outcome: string }[]> => (await gh.admin('GET', `/admin/v1/audit?action=${action}&organization=${org}&limit=100`)).body.items;

beforeAll(async () => {
  gh = await startTestServer({ trustedProxies: ['127.0.0.1/32'] });
  await gh.put('workspaces', workspace());
  for (const org of ['forge', 'cascade']) {
    await gh.put('organizations', organization(org, org === 'forge' ? { network: { allowedCidrs: ['127.0.0.0/8', '203.0.113.0/24'] } } : {}));
    await gh.put(
      'accesspolicies',
      accessPolicy(`${org}-inventory`, org, {
        scopes: [
          {
            scope: 'inventory:read',
            api: [
              { path: '/inventory', methods: ['GET'] },
              { path: '/inventory/*', methods: ['GET', 'HEAD'] },
            ],
          },
          { scope: 'inventory:write', api: [{ path: '/inventory/*', methods: ['POST', 'DELETE'] }] },
          // Granted, but opening no path at a gateway.
          { scope: 'inventory:audit' },
        ],
      }),
    );
    await gh.put('clients', client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read', 'inventory:audit'], audiences: [INVENTORY] }));
    secrets[`${org}-sync`] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-sync/secret`)).body.clientSecret;
  }
});
afterAll(async () => {
  await gh.close();
});

describe('POST {issuer}/authorize', () => {
  it('allows a method and path an api entry of a held scope opens, naming the policy, scope and entry', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    expect(await authorize('forge', { token, method: 'GET', path: '/inventory/items/42?expand=1' })).toEqual({
      status: 200,
      body: { allow: true, organization: 'forge', sub: `forge-sync.${NS}`, client_id: `forge-sync.${NS}`, policy: 'forge-inventory', scope: 'inventory:read', pattern: '/inventory/*' },
    });
    // The token may come in the Authorization header instead.
    expect((await authorize('forge', { method: 'GET', path: '/inventory' }, { authorization: `Bearer ${token}` })).body).toMatchObject({ allow: true, pattern: '/inventory' });
  });

  it('matches exact paths exactly and "/*" prefixes below them only', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    const decide = async (path: string) => (await authorize('forge', { token, method: 'GET', path })).body.allow;
    expect(await decide('/inventory')).toBe(true);
    expect(await decide('/inventory/')).toBe(true);
    expect(await decide('/inventory/a/b')).toBe(true);
    expect(await decide('/inventoryx')).toBe(false);
    expect(await decide('/inventory-admin/1')).toBe(false);
    expect(await decide('/Inventory/1')).toBe(false);
  });

  it('denies a method no entry of a held scope opens (a scope of the policy the token lacks opens nothing)', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read inventory:audit');
    for (const method of ['POST', 'DELETE', 'PUT', 'OPTIONS']) {
      const res = await authorize('forge', { token, method, path: '/inventory/items/42' });
      expect(res.body).toMatchObject({ allow: false, reason: 'no-matching-scope' });
    }
    // HEAD is its own method: `/inventory` opens GET only.
    expect((await authorize('forge', { token, method: 'HEAD', path: '/inventory' })).body.allow).toBe(false);
    const denied = await audited('api.denied', 'forge');
    expect(denied).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'refused', data: expect.objectContaining({ method: 'DELETE', path: '/inventory/items/42', reason: 'no-matching-scope' }) })]));
  });

  it('denies a token of another organization, whatever its scopes', async () => {
    const token = await machineToken('cascade', 'cascade-sync', 'inventory:read');
    expect((await authorize('cascade', { token, method: 'GET', path: '/inventory/1' })).body.allow).toBe(true);
    expect((await authorize('forge', { token, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'invalid-token' });
  });

  it('denies no token, a forged one and a tampered one', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    expect((await authorize('forge', { method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'no-token' });
    for (const bad of ['not-a-token', `${token.slice(0, -4)}AAAA`, `${token.split('.')[0]}.${Buffer.from(JSON.stringify({ scope: 'inventory:write' })).toString('base64url')}.${token.split('.')[2]}`]) {
      expect((await authorize('forge', { token: bad, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'invalid-token' });
    }
  });

  it('denies a key-bound (DPoP, cnf) token signed by the issuer itself: no proof here could hold it to its key', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    const [header, payload] = token.split('.') as [string, string];
    // As the issuer signed bound tokens before DPoP was turned off: the same claims, and the key they were bound to.
    const bound = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), cnf: { jkt: 'bvN0p0ZlYQ1a4Ku6bwnX6q4Ok7pJZ4Y6bZ0xJZx2d3Q' } })).toString('base64url');
    const ring = await gh.gatehouse.keys.keyRing(NS, 'ES256');
    const signature = Buffer.from(await ring.signers[0]!.sign(Buffer.from(`${header}.${bound}`))).toString('base64url');
    expect((await authorize('forge', { token, method: 'GET', path: '/inventory/1' })).body.allow).toBe(true);
    expect((await authorize('forge', { token: `${header}.${bound}.${signature}`, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'invalid-token' });
  });

  it('refuses a malformed request with problem+json naming the field', async () => {
    const res = await authorize('forge', { method: 'TRACE', path: '/inventory' });
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/^method: /);
    const get = await fetch(`${issuer('forge')}/authorize`);
    expect(get.status).toBe(405);
  });

  it('samples allows (the first per token, method and path each minute) and audits every denial', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    const path = `/inventory/sampled-${Date.now()}`;
    const before = (await audited('api.allowed', 'forge')).filter((r) => r.data.path === path).length;
    for (let i = 0; i < 5; i++) expect((await authorize('forge', { token, method: 'GET', path })).body.allow).toBe(true);
    const allowed = (await audited('api.allowed', 'forge')).filter((r) => r.data.path === path);
    expect(allowed.length - before).toBe(1);
    expect(allowed[0]!.data).toMatchObject({ method: 'GET', policy: 'forge-inventory', scope: 'inventory:read', pattern: '/inventory/*' });
    const denies = (await audited('api.denied', 'forge')).length;
    for (let i = 0; i < 3; i++) await authorize('forge', { token, method: 'DELETE', path });
    expect((await audited('api.denied', 'forge')).length - denies).toBe(3);
  });
});

describe('Envoy ext_authz at {issuer}/ext-authz/*', () => {
  it('answers 200 with the decision in headers for an allowed method and path', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    const res = await extAuthz('forge', 'GET', '/inventory/items/42?x=1', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'x-gatehouse-policy': 'forge-inventory', 'x-gatehouse-scope': 'inventory:read', 'x-gatehouse-organization': 'forge' });
  });

  it('answers 403 with a reason header for a wrong method, 401 without a token', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    const wrong = await extAuthz('forge', 'DELETE', '/inventory/items/42', { authorization: `Bearer ${token}` });
    expect(wrong.status).toBe(403);
    expect(wrong.headers['x-gatehouse-reason']).toBe('no-matching-scope');
    const none = await extAuthz('forge', 'GET', '/inventory/items/42');
    expect(none.status).toBe(401);
    expect(none.headers['x-gatehouse-reason']).toBe('no-token');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
  });

  it.each([['/inventory/../admin'], ['/inventory/./items'], ['/inventory/%2e%2e/admin'], ['/inventory/%2E%2E/admin'], ['/inventory/..%2fadmin'], ['/inventory%2F..%2Fadmin'], ['/inventory/%252e%252e/admin'], ['/inventory/..%5cadmin'], ['/inventory/a\\..\\admin']])(
    'denies a path that leaves its prefix or hides a separator: %s',
    async (raw) => {
      const token = await machineToken('forge', 'forge-sync', 'inventory:read');
      const res = await extAuthz('forge', 'GET', raw, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(403);
      expect(res.headers['x-gatehouse-reason']).toBe('path-not-canonical');
      expect((await authorize('forge', { token, method: 'GET', path: raw })).body).toMatchObject({ allow: false, reason: 'path-not-canonical' });
    },
  );
});

describe('standing and networks', () => {
  it("denies calls forwarded from outside the organization's networks (X-Forwarded-For past a trusted proxy)", async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    expect((await extAuthz('forge', 'GET', '/inventory/1', { authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.7' })).status).toBe(200);
    const outside = await extAuthz('forge', 'GET', '/inventory/1', { authorization: `Bearer ${token}`, 'x-forwarded-for': '198.51.100.9' });
    expect(outside.status).toBe(403);
    expect(outside.headers['x-gatehouse-reason']).toBe('network');
  });

  it('denies every token of a suspended organization, for good: the kill switch ends them (only tokens issued after it is lifted pass)', async () => {
    const token = await machineToken('cascade', 'cascade-sync', 'inventory:read');
    await gh.put('organizations', organization('cascade', { suspended: true }));
    try {
      expect((await authorize('cascade', { token, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'invalid-token' });
    } finally {
      await gh.put('organizations', organization('cascade'));
    }
    expect((await authorize('cascade', { token, method: 'GET', path: '/inventory/1' })).body.allow).toBe(false);
    // The cutoff is to the second of the system clock, which stamps `iat`: the next second's tokens pass.
    await new Promise((resolve) => setTimeout(resolve, 1010 - (Date.now() % 1000)));
    const fresh = await machineToken('cascade', 'cascade-sync', 'inventory:read');
    expect((await authorize('cascade', { token: fresh, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: true });
  });

  it('denies an expired token and a contract that has ended', async () => {
    const token = await machineToken('forge', 'forge-sync', 'inventory:read');
    const start = gh.clock.now();
    try {
      // The workspace's access tokens live 15 minutes (oidc-provider stamps them with the real time).
      gh.clock.set(Date.now() + 16 * 60_000);
      expect((await authorize('forge', { token, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'invalid-token' });
      gh.clock.set(start);
      const fresh = await machineToken('cascade', 'cascade-sync', 'inventory:read');
      await gh.put('organizations', organization('cascade', { contract: { id: 'C-cascade', partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: new Date(start + 5 * 60_000).toISOString() } }));
      expect((await authorize('cascade', { token: fresh, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: true });
      gh.clock.advance(6 * 60_000);
      expect((await authorize('cascade', { token: fresh, method: 'GET', path: '/inventory/1' })).body).toMatchObject({ allow: false, reason: 'contract-ended' });
    } finally {
      gh.clock.set(start);
      await gh.put('organizations', organization('cascade'));
    }
  });
});
