// An organization's network.allowedCidrs and limits.requestsPerMinute, at its issuer's endpoints.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import * as oidc from 'openid-client';
import { RateLimiter, admits, clientAddress, networksOf } from '../../../server/oidc/admission.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, organization, template, workspace } from '../../support/objects.ts';

const INVENTORY = 'https://inventory.example';
const insecure = { execute: [oidc.allowInsecureRequests] };

const request = (peer: string, forwardedFor?: string) => ({ socket: { remoteAddress: peer }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } }) as unknown as IncomingMessage;

describe('networksOf and admits', () => {
  it('admits addresses inside the declared IPv4 and IPv6 blocks only, IPv4-mapped peers as IPv4', () => {
    const { list, unreadable } = networksOf(['203.0.113.0/24', '2001:db8::/32']);
    expect(unreadable).toEqual([]);
    expect(admits(list, '203.0.113.77')).toBe(true);
    expect(admits(list, '2001:db8::5')).toBe(true);
    expect(admits(list, '203.0.114.1')).toBe(false);
    expect(admits(list, '::1')).toBe(false);
    expect(admits(list, 'not-an-address')).toBe(false);
    expect(admits(list, clientAddress(request('::ffff:203.0.113.9'), undefined))).toBe(true);
    expect(admits(undefined, '198.51.100.1')).toBe(true);
  });

  it('leaves out a block it cannot read, which admits less, and says which', () => {
    const { list, unreadable } = networksOf([':::::/64', '10.0.0.0/33', '10.0.0.0/8', '10.1.0.0/x']);
    expect(unreadable).toEqual([':::::/64', '10.0.0.0/33', '10.1.0.0/x']);
    expect(admits(list, '10.2.3.4')).toBe(true);
    expect(admits(networksOf([':::::/64']).list, '10.2.3.4')).toBe(false);
  });
});

describe('clientAddress', () => {
  const proxies = networksOf(['10.0.0.0/8']).list;

  it("is the socket's peer, whatever X-Forwarded-For says, unless the peer is a trusted proxy", () => {
    expect(clientAddress(request('198.51.100.4', '203.0.113.7'), undefined)).toBe('198.51.100.4');
    expect(clientAddress(request('198.51.100.4', '203.0.113.7'), proxies)).toBe('198.51.100.4');
  });

  it('behind trusted proxies, is the nearest hop that is not one; what the client wrote further left is not believed', () => {
    expect(clientAddress(request('10.0.0.2', '203.0.113.7'), proxies)).toBe('203.0.113.7');
    expect(clientAddress(request('10.0.0.2', '203.0.113.7, 10.0.0.9'), proxies)).toBe('203.0.113.7');
    expect(clientAddress(request('10.0.0.2', '203.0.113.7, 198.51.100.4'), proxies)).toBe('198.51.100.4');
    expect(clientAddress(request('10.0.0.2', 'forged, 198.51.100.4'), proxies)).toBe('198.51.100.4');
    expect(clientAddress(request('10.0.0.2', '203.0.113.7, garbage'), proxies)).toBe('garbage');
    expect(clientAddress(request('10.0.0.2'), proxies)).toBe('10.0.0.2');
  });
});

describe('RateLimiter', () => {
  it("lets a minute's worth through at once, then one per 60/N s; the first refusal of a run is marked", () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i++) expect(limiter.take('a', 3, 0)).toEqual({ ok: true });
    expect(limiter.take('a', 3, 0)).toEqual({ ok: false, retryAfterSeconds: 20, first: true });
    expect(limiter.take('a', 3, 5_000)).toEqual({ ok: false, retryAfterSeconds: 15, first: false });
    expect(limiter.take('b', 3, 5_000)).toEqual({ ok: true });
    expect(limiter.take('a', 3, 20_000)).toEqual({ ok: true });
    expect(limiter.take('a', 3, 20_000)).toMatchObject({ ok: false, first: true });
  });

  it('forgets the oldest bucket beyond its bound', () => {
    const limiter = new RateLimiter({ maxKeys: 2 });
    limiter.take('a', 1, 0);
    limiter.take('b', 1, 0);
    limiter.take('c', 1, 0);
    expect(limiter.take('a', 1, 0)).toEqual({ ok: true });
  });
});

async function declareMachineClient(gh: TestServer, org: string, spec: object = {}): Promise<string> {
  await gh.put('organizations', organization(org, spec));
  await gh.put('clients', client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('accesspolicies', accessPolicy(`${org}-inventory`, org, { scopes: [{ scope: 'inventory:read' }] }));
  return (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-sync/secret`)).body.clientSecret;
}

/** A client_credentials request by hand, so that headers can be set: the status, body and Retry-After. */
async function tokenRequest(gh: TestServer, org: string, secret: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gh.url}/${NS}/${org}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${org}-sync.${NS}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: 'grant_type=client_credentials&scope=inventory%3Aread',
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get('retry-after') };
}

async function audited(gh: TestServer, action: string, organization: string): Promise<{ data: Record<string, unknown>; outcome: string }[]> {
  return (await gh.admin('GET', `/admin/v1/audit?action=${action}&organization=${organization}&limit=100`)).body.items;
}

describe("an organization's allowed networks", () => {
  let gh: TestServer;
  let secret: string;

  beforeAll(async () => {
    gh = await startTestServer();
    await gh.put('workspaces', workspace());
    secret = await declareMachineClient(gh, 'pinnacle', { network: { allowedCidrs: ['203.0.113.0/24'] } });
  });
  afterAll(async () => {
    await gh.close();
  });

  it('refuses tokens to a caller outside them, and audits it with the address', async () => {
    const refused = await tokenRequest(gh, 'pinnacle', secret);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: 'access_denied', error_description: 'requests from 127.0.0.1 are outside the networks pinnacle signs in from' });
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/pinnacle`), `pinnacle-sync.${NS}`, secret, undefined, insecure);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'access_denied' });
    expect((await audited(gh, 'access.refused-network', 'pinnacle'))[0]).toMatchObject({ outcome: 'refused', data: { address: '127.0.0.1', path: '/token' } });
  });

  it('does not believe X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    expect((await tokenRequest(gh, 'pinnacle', secret, { 'x-forwarded-for': '203.0.113.7' })).status).toBe(403);
  });

  it('turns sign-in away with a page, and leaves discovery, keys, introspection and revocation to resource servers anywhere', async () => {
    const auth = await fetch(`${gh.url}/${NS}/pinnacle/auth?client_id=x&response_type=code&scope=openid`);
    expect(auth.status).toBe(403);
    expect(auth.headers.get('content-type')).toMatch(/text\/html/);
    expect(await auth.text()).toContain('outside the networks pinnacle signs in from');
    for (const path of ['/.well-known/openid-configuration', '/jwks']) expect((await fetch(`${gh.url}/${NS}/pinnacle${path}`)).status).toBe(200);
    const introspection = await fetch(`${gh.url}/${NS}/pinnacle/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`pinnacle-sync.${NS}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=unknown',
    });
    expect(await introspection.json()).toEqual({ active: false });
  });

  it('follows the declaration at once: a network added admits, one removed refuses again', async () => {
    await gh.put('organizations', organization('pinnacle', { network: { allowedCidrs: ['203.0.113.0/24', '127.0.0.0/8'] } }));
    expect((await tokenRequest(gh, 'pinnacle', secret)).status).toBe(200);
    await gh.put('organizations', organization('pinnacle', { network: { allowedCidrs: ['203.0.113.0/24'] } }));
    expect((await tokenRequest(gh, 'pinnacle', secret)).status).toBe(403);
  });

  it("come from the organization's template unless it declares its own", async () => {
    await gh.put('organizationtemplates', template('offshore', { network: { allowedCidrs: ['198.51.100.0/24'] } }));
    const forge = await declareMachineClient(gh, 'forge', { templateRef: { name: 'offshore' } });
    expect((await tokenRequest(gh, 'forge', forge)).status).toBe(403);
    await gh.put('organizations', organization('forge', { templateRef: { name: 'offshore' }, network: { allowedCidrs: ['127.0.0.1/32'] } }));
    expect((await tokenRequest(gh, 'forge', forge)).status).toBe(200);
  });
});

describe('behind a trusted proxy', () => {
  let gh: TestServer;
  let secret: string;

  beforeAll(async () => {
    gh = await startTestServer({ trustedProxies: ['127.0.0.1/32'] });
    await gh.put('workspaces', workspace());
    secret = await declareMachineClient(gh, 'pinnacle', { network: { allowedCidrs: ['203.0.113.0/24'] } });
  });
  afterAll(async () => {
    await gh.close();
  });

  it("the client is the proxy's nearest forwarded hop", async () => {
    expect((await tokenRequest(gh, 'pinnacle', secret, { 'x-forwarded-for': '203.0.113.7' })).status).toBe(200);
    expect((await tokenRequest(gh, 'pinnacle', secret)).status).toBe(403);
    // An allowed address the client wrote before the hop the proxy saw is not believed.
    const spoofed = await tokenRequest(gh, 'pinnacle', secret, { 'x-forwarded-for': '203.0.113.7, 198.51.100.9' });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.error_description).toContain('198.51.100.9');
  });

  it('a trusted proxy list that cannot be read stops the server from starting', async () => {
    await expect(startTestServer({ trustedProxies: ['10.0.0.0/8', 'proxy.internal'] })).rejects.toThrow('GATEHOUSE_TRUSTED_PROXIES: "proxy.internal" is not a CIDR block such as "10.0.0.0/8"');
  });
});

describe("an organization's request rate", () => {
  let gh: TestServer;
  let cascade: string;
  let forge: string;

  beforeAll(async () => {
    gh = await startTestServer();
    await gh.put('workspaces', workspace());
    cascade = await declareMachineClient(gh, 'cascade', { limits: { requestsPerMinute: 3 } });
    forge = await declareMachineClient(gh, 'forge');
  });
  afterAll(async () => {
    await gh.close();
  });

  it("answers 429 with Retry-After beyond a minute's worth, audits the run once, and spares other organizations", async () => {
    for (let i = 0; i < 3; i++) expect((await tokenRequest(gh, 'cascade', cascade)).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const limited = await tokenRequest(gh, 'cascade', cascade);
      expect(limited).toMatchObject({ status: 429, retryAfter: '20', body: { error: 'too_many_requests' } });
    }
    expect(await audited(gh, 'access.rate-limited', 'cascade')).toEqual([expect.objectContaining({ outcome: 'refused', data: expect.objectContaining({ requestsPerMinute: 3, path: '/token' }) })]);
    expect((await tokenRequest(gh, 'forge', forge)).status).toBe(200);
    // Discovery does not count against the partner.
    expect((await fetch(`${gh.url}/${NS}/cascade/.well-known/openid-configuration`)).status).toBe(200);
  });

  it('lets the next request through once the bucket has refilled by one', async () => {
    gh.clock.advance(20_000);
    expect((await tokenRequest(gh, 'cascade', cascade)).status).toBe(200);
    expect((await tokenRequest(gh, 'cascade', cascade)).status).toBe(429);
  });
});
