// An issuer's oidc-provider is built when a request needs it and let go when more are live than
// the pool holds: what it answered of metadata is answered again without it, and a sign-in
// whose provider is dropped between its steps finishes with the one built next.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, claimMapping, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword, signInAt } from '../../support/sign-in.ts';

const PASSWORD = 'correct horse battery staple 42';
let gh: TestServer;
let webSecret: string;
const issuer = (org: string) => `${gh.url}/${NS}/${org}`;
const registry = () => gh.gatehouse.issuers;

/** Headers that differ between two answers of the same thing. */
const VARYING = new Set(['date', 'x-request-id', 'content-length']);
function stable(res: Response): Record<string, string> {
  const kept: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!VARYING.has(name)) kept[name] = value;
  });
  return kept;
}

beforeAll(async () => {
  // One live provider at a time: every request to the other organization lets the first one's go.
  gh = await startTestServer({ maxProviders: 1 });
  await gh.put('workspaces', workspace());
  for (const org of ['forge', 'cascade', 'harbor']) {
    await gh.put('organizations', organization(org, { emailDomains: [`${org}.example`] }));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  }
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
  webSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`)).body.clientSecret;
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  await setPassword(gh, 'lena', PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('the pool of live providers', () => {
  it('keeps no more providers live than it holds', async () => {
    for (const org of ['forge', 'cascade', 'forge']) expect((await fetch(`${issuer(org)}/.well-known/oauth-authorization-server`)).status).toBe(200);
    expect(registry().liveProviders).toBe(1);
    expect(registry().cacheSize).toBeGreaterThanOrEqual(2);
  });

  it('answers discovery and JWKS again without a provider, byte for byte and header for header', async () => {
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const first = await fetch(`${issuer('forge')}${path}`, { headers: { origin: 'https://app.example' } });
      const firstBody = await first.text();
      // cascade's provider takes the pool's one place: forge's is let go.
      await fetch(`${issuer('cascade')}/.well-known/oauth-authorization-server`);
      const built = registry().providersBuilt;
      for (const origin of ['https://app.example', undefined]) {
        const again = await fetch(`${issuer('forge')}${path}`, origin ? { headers: { origin } } : {});
        expect({ path, status: again.status, body: await again.text() }).toEqual({ path, status: 200, body: firstBody });
        if (origin) expect(stable(again)).toEqual(stable(first));
        else expect(again.headers.get('access-control-allow-origin')).toBe('*');
      }
      expect(registry().providersBuilt).toBe(built);
    }
    // Served whole: every endpoint at forge's own issuer.
    const meta = (await (await fetch(`${issuer('forge')}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(meta.issuer).toBe(issuer('forge'));
    expect(meta.token_endpoint).toBe(`${issuer('forge')}/token`);
  });

  it('answers a document not kept yet with a provider built for that request alone: the pool keeps its own', async () => {
    await fetch(`${issuer('cascade')}/.well-known/oauth-authorization-server`);
    const built = registry().providersBuilt;
    const first = await fetch(`${issuer('harbor')}/.well-known/openid-configuration`);
    expect(first.status).toBe(200);
    expect(registry().providersBuilt).toBe(built + 1);
    expect(registry().liveProviders).toBe(1);
    // cascade's is still the live one: asking it builds nothing.
    await fetch(`${issuer('cascade')}/.well-known/oauth-authorization-server`);
    expect(registry().providersBuilt).toBe(built + 1);
    // And harbor's document is kept.
    expect(await (await fetch(`${issuer('harbor')}/.well-known/openid-configuration`)).text()).toBe(await first.text());
    expect(registry().providersBuilt).toBe(built + 1);
  });

  it('keeps what a changed configuration makes stale no longer', async () => {
    const before = (await (await fetch(`${issuer('forge')}/.well-known/openid-configuration`)).json()) as { claims_supported: string[] };
    expect(before.claims_supported).not.toContain('cost_center');
    await gh.put('claimmappings', claimMapping('forge-cost', 'forge', { claims: [{ name: 'cost_center', value: 'CC-7', tokens: ['id'] }] }));
    const after = (await (await fetch(`${issuer('forge')}/.well-known/openid-configuration`)).json()) as { claims_supported: string[] };
    expect(after.claims_supported).toContain('cost_center');
  });

  it('finishes a sign-in whose provider was let go between each of its steps', async () => {
    const between = registry().providersBuilt;
    // Before each request of the relying party and the browser, cascade's provider takes the pool's place.
    const transport: oidc.CustomFetch = async (url, init) => {
      await fetch(`${issuer('cascade')}/.well-known/oauth-authorization-server`);
      return fetch(url, init as RequestInit);
    };
    const tokens = await signInAt(issuer('forge'), 'forge-web', webSecret, { email: 'lena@forge.example', password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' }, transport);
    expect(tokens.claims()).toMatchObject({ sub: 'lena', organization_id: 'forge', email: 'lena@forge.example' });
    // Several steps, each with a provider built again.
    expect(registry().providersBuilt - between).toBeGreaterThanOrEqual(6);
    // The refresh token, kept by the store, is honoured by yet another.
    const config = await oidc.discovery(new URL(issuer('forge')), `forge-web.${NS}`, webSecret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: transport });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
  });
});
