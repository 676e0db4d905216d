// IssuerRegistry.direct: once an issuer is built, its hot endpoints are handed to the provider
// without the server's Koa app, and answer exactly as they do through it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, organization, workspace } from '../../support/objects.ts';
import { API_CSP } from '../../../server/oidc/html.ts';

let gh: TestServer;
let secret: string;
/** For each request the server received: true when the direct path answered it. */
const taken: boolean[] = [];
const INVENTORY = 'https://inventory.example';
const insecure = { execute: [oidc.allowInsecureRequests] };
const config = () => oidc.discovery(new URL(`${gh.url}/${NS}/forge`), `forge-sync.${NS}`, secret, undefined, insecure);

/** What the requests made inside `fn` took: the direct path or the Koa app. */
async function paths(fn: () => Promise<unknown>): Promise<boolean[]> {
  const from = taken.length;
  await fn();
  return taken.slice(from);
}

async function audited(action: string): Promise<number> {
  return (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=100`)).body.items.length;
}

beforeAll(async () => {
  gh = await startTestServer();
  const registry = gh.gatehouse.issuers;
  const direct = registry.direct.bind(registry);
  registry.direct = (req, res) => {
    const answered = direct(req, res);
    taken.push(answered);
    return answered;
  };
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge', { contract: { id: 'BLX-7', partnerType: 'supplier', owner: 'o@blixit.example', endsAt: '2027-12-31T00:00:00Z' } }));
  await gh.put('clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('claimmappings', claimMapping('forge-claims', 'forge', { claims: [{ name: 'contract_id', from: 'contract.id' }] }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-sync/secret`)).body.clientSecret;
});
afterAll(async () => {
  await gh.close();
});

describe('the direct path to a built issuer', () => {
  it('answers token requests as the Koa app does: the same claims, and each one audited', async () => {
    const before = await audited('token.issued');
    let viaKoa = '';
    let viaDirect = '';
    const first = await paths(async () => {
      viaKoa = (await oidc.clientCredentialsGrant(await config(), { scope: 'inventory:read' })).access_token;
    });
    // Discovery and the first token built the issuer on the Koa app's path.
    expect(first).toContain(false);
    // Building can take longer than the poll interval on a loaded machine: a request on the Koa
    // path polls the store, so the next ones find nothing due and may go direct.
    await fetch(`${gh.url}/${NS}/forge/.well-known/openid-configuration`);
    expect(
      await paths(async () => {
        viaDirect = (await oidc.clientCredentialsGrant(await config(), { scope: 'inventory:read' })).access_token;
      }),
    ).toEqual([true, true]); // discovery, token
    const claims = (token: string) => {
      const { jti, iat, exp, ...rest } = decodeJwt(token);
      return rest;
    };
    expect(claims(viaDirect)).toEqual(claims(viaKoa));
    expect(claims(viaDirect)).toMatchObject({ organization_id: 'forge', contract_id: 'BLX-7', aud: INVENTORY, iss: `${gh.url}/${NS}/forge` });
    expect(await audited('token.issued')).toBe(before + 2);
  });

  it('introspects and revokes JWT access tokens, which the provider alone would refuse', async () => {
    const c = await config();
    const token = (await oidc.clientCredentialsGrant(c, { scope: 'inventory:read' })).access_token;
    const steps = await paths(async () => {
      expect(await oidc.tokenIntrospection(c, token)).toMatchObject({ active: true, organization_id: 'forge', client_id: `forge-sync.${NS}` });
      await oidc.tokenRevocation(c, token);
      expect((await oidc.tokenIntrospection(c, token)).active).toBe(false);
    });
    expect(steps).toEqual([true, true, true]);
  });

  it('answers a token request with the same headers as the Koa app: the API header policy, request id, no-store', async () => {
    const ask = () =>
      fetch(`${gh.url}/${NS}/forge/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=inventory%3Aread',
      });
    // Dropped issuers are built again on the Koa app's path; a discovery request there looks for changes, then tokens go direct.
    gh.gatehouse.issuers.invalidateAll();
    let viaKoa: Response | undefined;
    let viaDirect: Response | undefined;
    expect(await paths(async () => void (viaKoa = await ask()))).toEqual([false]);
    // On a loaded machine a look at the store may fall due between two requests: asked again until one goes direct.
    for (let i = 0; i < 5 && !viaDirect; i++) {
      await fetch(`${gh.url}/${NS}/forge/.well-known/openid-configuration`);
      const res = await ask();
      if (taken.at(-1)) viaDirect = res;
    }
    const varying = new Set(['date', 'content-length', 'x-request-id']);
    const headers = (res: Response) => {
      const kept: Record<string, string> = {};
      res.headers.forEach((value, name) => {
        if (!varying.has(name)) kept[name] = value;
      });
      return kept;
    };
    expect(viaDirect).toBeDefined();
    expect(viaKoa!.status).toBe(200);
    expect(viaDirect!.status).toBe(200);
    expect(headers(viaDirect!)).toEqual(headers(viaKoa!));
    expect(headers(viaDirect!)).toMatchObject({ 'cache-control': 'no-store', 'content-security-policy': API_CSP, 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' });
    // JSON for programs: the page policy's referrer rule has nothing to govern.
    expect(headers(viaDirect!)['referrer-policy']).toBeUndefined();
    for (const res of [viaKoa!, viaDirect!]) expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses every grant as soon as the organization is suspended', async () => {
    const c = await config();
    await gh.put('organizations', organization('forge', { suspended: true, contract: { id: 'BLX-7', partnerType: 'supplier', owner: 'o@blixit.example', endsAt: '2027-12-31T00:00:00Z' } }));
    const refusedBefore = await audited('token.refused');
    const steps = await paths(async () => {
      // The first request after a change takes the Koa app's path (it looks for the change); the next goes direct.
      for (let i = 0; i < 2; i++) await expect(oidc.clientCredentialsGrant(c, { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant' });
    });
    expect(steps).toEqual([false, true]);
    expect(await audited('token.refused')).toBe(refusedBefore + 2);
    await gh.put('organizations', organization('forge', { contract: { id: 'BLX-7', partnerType: 'supplier', owner: 'o@blixit.example', endsAt: '2027-12-31T00:00:00Z' } }));
  });

  it('answers a failure of its own as problem+json that reveals nothing, as the Koa app would', async () => {
    const c = await config();
    await oidc.clientCredentialsGrant(c, { scope: 'inventory:read' }); // built again after the last change
    const audit = gh.gatehouse.audit;
    const append = audit.append.bind(audit);
    audit.append = () => Promise.reject(new Error('disk /var/lib/gatehouse is full'));
    try {
      const auth = `Basic ${Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64')}`;
      let res: Response | undefined;
      expect(
        await paths(async () => {
          res = await fetch(`${gh.url}/${NS}/forge/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=inventory%3Aread' });
        }),
      ).toEqual([true]);
      expect(res!.status).toBe(500);
      expect(res!.headers.get('content-type')).toContain('application/problem+json');
      const body = await res!.text();
      expect(body).not.toContain('access_token');
      expect(body).not.toContain('/var/lib');
    } finally {
      audit.append = append;
    }
  });

  it('leaves to the Koa app what is not one of its endpoints', async () => {
    let res: Response | undefined;
    expect(
      await paths(async () => {
        res = await fetch(`${gh.url}/${NS}/forge/token`); // GET: no such endpoint
      }),
    ).toEqual([false]);
    expect(res!.status).toBe(404);
    expect(res!.headers.get('content-type')).toContain('application/problem+json');
    expect((await res!.json()) as unknown).toMatchObject({ detail: `no route for GET /${NS}/forge/token` });
  });
});
