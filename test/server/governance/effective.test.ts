import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import { paletteOf } from '../../../server/portal/contrast.ts';
import * as oidc from 'openid-client';
import { codeGrant, startSignIn, submit, text, throughSignIn } from '../broker/flow.ts';
import { Browser } from '../../support/browser.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, user, workspace } from '../../support/objects.ts';

/**
 * A three-level tree under one Workspace: Acme, its sub-organization Acme EU (built from the
 * "regional" template), and Acme EU's own Berlin and Lab. What the parents declare are
 * ceilings their descendants cannot lift, in real tokens as in GET …/effective.
 */
const PASSWORD = 'a long enough password';
const ORDERS = 'https://orders.example';
let gh: TestServer;
let secret: string;
let hubSecret: string;
const effective = async (org: string) => gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/${org}/effective`);
const child = (name: string, parent: string, spec: object = {}) => organization(name, { parentRef: { name: parent }, ...spec });

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace({ tokens: { accessToken: '15m' }, guardrails: { maxAccessToken: '2h', maxRefreshToken: '30d' } }));
  await gh.put('organizationtemplates', template('regional', { tokens: { accessToken: '10m' }, network: { allowedCidrs: ['127.0.0.0/8'] }, branding: { accentColor: '#ff8800' }, claims: [{ name: 'region', value: 'eu' }] }));
  await gh.put('organizations', organization('acme', { tokens: { accessToken: '30m', idToken: '5m', refreshToken: '1d' }, limits: { requestsPerMinute: 600 }, branding: { primaryColor: '#112233' } }));
  await gh.put('organizations', child('acme-eu', 'acme', { templateRef: { name: 'regional' } }));
  // Berlin asks for more than its parents allow, everywhere.
  await gh.put('organizations', child('acme-eu-berlin', 'acme-eu', { tokens: { accessToken: '1h', idToken: '1h', refreshToken: '30d' }, network: { allowedCidrs: ['0.0.0.0/0'] }, limits: { requestsPerMinute: 100_000 } }));
  await gh.put('organizations', child('acme-eu-lab', 'acme-eu', { network: { allowedCidrs: ['10.0.0.0/8'] } }));
  await gh.put(
    'claimmappings',
    claimMapping('acme-claims', 'acme', {
      claims: [
        { name: 'tier', value: 'gold' },
        { name: 'network', value: 'partners' },
      ],
    }),
  );
  await gh.put('claimmappings', claimMapping('berlin-claims', 'acme-eu-berlin', { claims: [{ name: 'tier', value: 'silver' }] }));
  await gh.put('accesspolicies', accessPolicy('acme-orders', 'acme', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }, { scope: 'invoices:read', requireMfa: true }] }));
  await gh.put('accesspolicies', accessPolicy('acme-eu-orders', 'acme-eu', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }] }));
  // Berlin's own policy grants what Acme EU was never allowed (invoices, admin): it cannot pass them on.
  await gh.put('accesspolicies', accessPolicy('berlin-orders', 'acme-eu-berlin', { scopes: [{ scope: 'orders:read' }, { scope: 'invoices:read' }, { scope: 'admin:all' }] }));
  await gh.put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write', 'invoices:read'], audiences: [ORDERS] }));
  await gh.put('clients', client('berlin-portal', 'acme-eu-berlin', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write', 'invoices:read', 'admin:all'], audiences: [ORDERS] }));
  for (const org of ['acme-eu-berlin', 'acme-eu-lab']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('users', user('bea', 'acme-eu-berlin'));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/berlin-portal/secret`)).body.clientSecret;
  hubSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/hub/secret`)).body.clientSecret;
  await setPassword(gh, 'bea', PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('GET /admin/v1/namespaces/{ns}/organizations/{name}/effective', () => {
  it('answers each setting of the grandchild with the level it came from', async () => {
    const res = await effective('acme-eu-berlin');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      kind: 'EffectiveOrganizationSettings',
      metadata: { namespace: NS, name: 'acme-eu-berlin' },
      chain: ['acme-eu-berlin', 'acme-eu', 'acme'],
      tokens: { accessToken: { value: 600, source: 'parent:acme-eu' }, idToken: { value: 300, source: 'parent:acme' }, refreshToken: { value: 86400, source: 'parent:acme' } },
      mfaRequired: { value: false, source: 'default' },
      allowedCidrs: { value: ['127.0.0.0/8'], source: 'organization', narrowedBy: 'parent:acme-eu' },
      requestsPerMinute: { value: 600, source: 'parent:acme' },
      emailDomains: { value: ['acme-eu-berlin.example'], source: 'organization' },
      branding: { primaryColor: { value: '#112233', source: 'parent:acme' }, accentColor: { value: '#ff8800', source: 'parent:acme-eu' } },
    });
    expect(Object.fromEntries(res.body.claims.map((c: { value: { name: string; value: string }; source: string }) => [c.value.name, [c.value.value, c.source]]))).toEqual({
      tier: ['silver', 'organization'],
      network: ['partners', 'parent:acme'],
      region: ['eu', 'parent:acme-eu'],
    });
    const general = res.body.accessPolicies.find((p: { client: string }) => p.client === '*');
    expect(general.scopes.map((s: { scope: string }) => s.scope)).toEqual(['orders:read']);
  });

  it('says the middle level got its values from its template', async () => {
    const res = await effective('acme-eu');
    expect(res.body.tokens.accessToken).toEqual({ value: 600, source: 'template:regional' });
    expect(res.body.allowedCidrs).toEqual({ value: ['127.0.0.0/8'], source: 'template:regional' });
    expect(res.body.tokens.refreshToken).toEqual({ value: 86400, source: 'parent:acme' });
  });

  it('shows a network narrowed to nothing as an empty list', async () => {
    expect((await effective('acme-eu-lab')).body.allowedCidrs).toEqual({ value: [], source: 'organization', narrowedBy: 'parent:acme-eu' });
  });

  it('is 404 for an organization that does not exist, 400 for a name that cannot be one, 401 without a token', async () => {
    const missing = await effective('nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toContain(`Organization ${NS}/nobody does not exist`);
    expect((await effective('Not_A_Name')).status).toBe(400);
    expect((await fetch(`${gh.url}/admin/v1/namespaces/${NS}/organizations/acme/effective`)).status).toBe(401);
  });
});

describe('status.effective', () => {
  it('summarises where each setting came from, without the values', async () => {
    const res = await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/acme-eu-berlin`);
    expect(res.body.status.effective).toEqual({
      'tokens.accessToken': 'parent:acme-eu',
      'tokens.idToken': 'parent:acme',
      'tokens.refreshToken': 'parent:acme',
      'mfa.required': 'default',
      'network.allowedCidrs': 'organization',
      'limits.requestsPerMinute': 'parent:acme',
      emailDomains: 'organization',
      'branding.primaryColor': 'parent:acme',
      'branding.accentColor': 'parent:acme-eu',
    });
  });
});

describe('the ceilings in real tokens', () => {
  it("the grandchild's tokens live no longer than its parents allow and carry the inherited claims", async () => {
    const t = await signIn(gh, 'acme-eu-berlin', 'berlin-portal', secret, { email: 'bea@acme-eu-berlin.example', password: PASSWORD }, 'openid email orders:read orders:write invoices:read admin:all');
    const access = decodeJwt(t.access_token);
    const id = t.claims()!;
    expect(access.exp! - access.iat!).toBe(600);
    expect(id.exp - id.iat).toBe(300);
    expect(id).toMatchObject({ organization_id: 'acme-eu-berlin', organization_parents: ['acme-eu', 'acme'], tier: 'silver', network: 'partners', region: 'eu' });
    expect(access).toMatchObject({ tier: 'silver', network: 'partners', region: 'eu' });
    // Only what Berlin, Acme EU and Acme all grant: not Berlin's invoices or admin, not Acme EU's write.
    expect(access.scope).toBe('orders:read');
  });

  it("the shared issuer gives the grandchild's users the same ceilings and inherited claims", async () => {
    gh.clock.advance(60_000);
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}`), `hub.${NS}`, hubSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const t = await codeGrant(config, (await throughSignIn(config, 'bea@acme-eu-berlin.example', PASSWORD, 'openid email orders:read orders:write invoices:read')).end);
    const access = decodeJwt(t.access_token);
    expect(access.exp! - access.iat!).toBe(600);
    expect(t.claims()!.exp - t.claims()!.iat).toBe(300);
    expect(access).toMatchObject({ sub: 'bea', organization_id: 'acme-eu-berlin', scope: 'orders:read', tier: 'silver', network: 'partners', region: 'eu' });
  });

  it("a parent's networks hold for a sub-organization that declares wider or other ones", async () => {
    await gh.put('organizations', organization('fort', { network: { allowedCidrs: ['203.0.113.0/24'] } }));
    await gh.put('organizations', child('fort-gate', 'fort', { network: { allowedCidrs: ['0.0.0.0/0'] } }));
    // The tests call from 127.0.0.1: inside Berlin's networks narrowed to Acme EU's, outside Fort's.
    for (const org of ['fort-gate', 'acme-eu-lab']) {
      const refused = await fetch(`${gh.url}/${NS}/${org}/auth?client_id=x&response_type=code&scope=openid`);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain(`outside the networks ${org} signs in from`);
    }
    expect((await fetch(`${gh.url}/${NS}/acme-eu-berlin/auth?client_id=x&response_type=code&scope=openid`)).status).not.toBe(403);
  });

  it('the pages of the grandchild carry the colours it inherits', async () => {
    const page = await new Browser().follow(`${gh.url}/${NS}/acme-eu-berlin/auth?client_id=berlin-portal.${NS}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CALLBACK)}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`, CALLBACK);
    const html = await page.res.text();
    // The declared colours, or the accessible shade of them the pages draw (server/portal/contrast.ts).
    const colours = paletteOf({ primaryColor: '#112233', accentColor: '#ff8800' });
    expect(html).toContain(`background:${colours.brand}`);
    expect(html).toContain(`border-left:4px solid ${colours.accent}`);
  });
});

describe('MFA down the tree', () => {
  beforeAll(async () => {
    await gh.put('organizations', organization('vault', { mfa: { required: true } }));
    await gh.put('organizations', child('vault-annex', 'vault', { mfa: { required: false } }));
    await gh.put('idpconnections', idp('vault-annex-directory', 'vault-annex', { type: 'directory', oidc: undefined }));
    await gh.put('clients', client('annex-portal', 'vault-annex', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
    await gh.put('users', user('vic', 'vault-annex'));
    await setPassword(gh, 'vic', PASSWORD);
  });

  it('a sub-organization cannot turn off the second factor its parent requires', async () => {
    expect((await effective('vault-annex')).body.mfaRequired).toEqual({ value: true, source: 'parent:vault' });
    const annexSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/annex-portal/secret`)).body.clientSecret;
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/vault-annex`), `annex-portal.${NS}`, annexSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const signedIn = await submit(await startSignIn(config, { scope: 'openid email' }), { email: 'vic@vault-annex.example', password: PASSWORD });
    expect(signedIn.url.startsWith(CALLBACK)).toBe(false);
    expect(await text(signedIn.res)).toContain('Set up two-step verification');
  });
});
