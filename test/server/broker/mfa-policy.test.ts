import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { Browser } from '../../support/browser.ts';
import { setPassword } from '../../support/sign-in.ts';
import { NS, accessPolicy, client, idp, organization, template, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, startSignIn, submit, type Started } from './flow.ts';

/**
 * AccessPolicy `scopes[].requireMfa`: a scope that needs a second factor steps the sign-in
 * up like Client `mfa.requiredScopes` does, also for a session opened without it, and never
 * reaches a machine (client-credentials) token.
 */
let gh: TestServer;
const secrets: Record<string, string> = {};
let totpSecret = '';
const PASSWORD = 'correct horse battery staple';
const ORDERS = 'https://orders.example';
const issuer = (org?: string) => `${gh.url}/${NS}${org ? `/${org}` : ''}`;
/** `hub` is a workspace client, at the shared issuer; the others belong to Forge. */
const discover = (name: string) => oidc.discovery(new URL(issuer(name === 'hub' ? undefined : 'forge')), `${name}.${NS}`, secrets[name], undefined, { execute: [oidc.allowInsecureRequests] });
const code = () => new TOTP({ secret: Secret.fromBase32(totpSecret), digits: 6, period: 30 }).generate({ timestamp: gh.clock.now() });
const put = (plural: string, o: { metadata: { name: string } }) => gh.admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${o.metadata.name}`, o);
const policy = (writeNeedsMfa: boolean) => accessPolicy('forge-orders', 'forge', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireMfa: writeNeedsMfa }] });

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await put('organizations', organization('forge', { displayName: 'Forge Supplies' }));
  await put('clients', client('portal', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile', 'orders:read', 'orders:write'], audiences: [ORDERS] }));
  await put('clients', client('sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['orders:read', 'orders:write'], audiences: [ORDERS] }));
  await put('accesspolicies', policy(true));
  await put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined, emailDomains: ['forge.example'] }));
  await put('users', user('dana', 'forge', { email: 'dana@forge.example' }));
  // A workspace client at the shared issuer, and a second partner whose template requires MFA.
  await put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write'], audiences: [ORDERS] }));
  await put('organizationtemplates', template('strict', { mfa: { required: true } }));
  await put('organizations', organization('cascade', { templateRef: { name: 'strict' } }));
  await put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'] }));
  await put('users', user('ben', 'cascade', { email: 'ben@cascade.example' }));
  for (const name of ['portal', 'sync', 'hub']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  for (const name of ['dana', 'ben']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

/** Starts a sign-in for `scope` in `browser`; when a page asks for them, gives the email and the password. */
async function signIn(scope: string, browser = new Browser(), clientName = 'portal', email = 'dana@forge.example'): Promise<Started> {
  let s = await startSignIn(await discover(clientName), { scope }, browser);
  if (s.url.startsWith(CALLBACK)) return s; // the session was enough
  s = await submit(s, { email });
  return submit(s, { email, password: PASSWORD });
}

async function tokens(s: Started, clientName = 'portal') {
  expect(s.url.startsWith(CALLBACK)).toBe(true);
  return oidc.authorizationCodeGrant(await discover(clientName), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
}

describe('AccessPolicy requireMfa', () => {
  const browser = new Browser();

  it('does not step up a sign-in that does not ask for the scope', async () => {
    const s = await signIn('openid email orders:read', browser);
    const t = await tokens(s);
    expect(t.claims()).toMatchObject({ sub: 'dana', acr: 'urn:gatehouse:acr:pwd', amr: ['pwd'] });
    expect(decodeJwt(t.access_token)).toMatchObject({ aud: ORDERS, scope: 'orders:read', acr: 'urn:gatehouse:acr:pwd' });
  });

  it('steps up the same browser session when it later asks for the scope: TOTP enrolment, then acr/amr of MFA', async () => {
    gh.clock.advance(60_000);
    let s = await signIn('openid email orders:write', browser);
    expect(s.url.startsWith(CALLBACK)).toBe(false); // the password session alone does not carry orders:write
    const html = await s.res.text();
    expect(html).toContain('Set up two-step verification');
    totpSecret = /id="totp-secret">([A-Z2-7 ]+)</.exec(html)![1]!.replace(/ /g, '');
    s = await submit({ ...s, res: new Response(html) }, { code: code() });
    expect(await s.res.clone().text()).toContain('Save your recovery codes');
    s = await submit(s, {});
    const t = await tokens(s);
    expect(t.claims()).toMatchObject({ sub: 'dana', acr: 'urn:gatehouse:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });
    expect(decodeJwt(t.access_token)).toMatchObject({ scope: 'orders:write', acr: 'urn:gatehouse:acr:mfa', amr: ['pwd', 'otp', 'mfa'], organization_id: 'forge' });
    const audit = (await gh.admin('GET', '/admin/v1/audit?action=login.mfa-verified&limit=1')).body.items[0];
    expect(audit).toMatchObject({ organization: 'forge', subject: 'dana' });
  });

  it('lets a session that passed the second factor ask for the scope again without a new prompt', async () => {
    gh.clock.advance(60_000);
    const s = await startSignIn(await discover('portal'), { scope: 'openid orders:write' }, browser);
    const t = await tokens(s);
    expect(decodeJwt(t.access_token)).toMatchObject({ scope: 'orders:write', acr: 'urn:gatehouse:acr:mfa' });
  });

  it('asks an enrolled user for a code in a fresh browser, and refuses a wrong one', async () => {
    gh.clock.advance(60_000);
    const s = await signIn('openid orders:read orders:write');
    const page = await s.res.text();
    expect(page).toContain('Two-step verification');
    const wrong = await submit({ ...s, res: new Response(page) }, { code: '000000' });
    expect(wrong.res.status).toBe(401);
    expect(wrong.url.startsWith(CALLBACK)).toBe(false);
    const t = await tokens(await submit({ ...wrong, res: new Response(await wrong.res.text()) }, { code: code() }));
    expect(decodeJwt(t.access_token)).toMatchObject({ scope: 'orders:read orders:write', acr: 'urn:gatehouse:acr:mfa' });
  });

  it('is the policy that decides: without requireMfa the same sign-in is not stepped up', async () => {
    await put('accesspolicies', policy(false));
    try {
      gh.clock.advance(60_000);
      const t = await tokens(await signIn('openid orders:write'));
      expect(t.claims()).toMatchObject({ acr: 'urn:gatehouse:acr:pwd', amr: ['pwd'] });
      expect(decodeJwt(t.access_token).scope).toBe('orders:write');
    } finally {
      await put('accesspolicies', policy(true));
    }
  });

  it('applies a client-scoped policy only to its client', async () => {
    await put('accesspolicies', accessPolicy('forge-orders', 'forge', { clientRef: { name: 'sync' }, scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireMfa: true }] }));
    await put('accesspolicies', accessPolicy('forge-portal', 'forge', { clientRef: { name: 'portal' }, scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }] }));
    try {
      gh.clock.advance(60_000);
      const t = await tokens(await signIn('openid orders:write'));
      expect(t.claims()!.acr).toBe('urn:gatehouse:acr:pwd');
    } finally {
      await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/accesspolicies/forge-portal`);
      await put('accesspolicies', policy(true));
    }
  });
});

describe("at the shared issuer, the signed-in user's organization decides", () => {
  it("steps a Forge user up for a scope Forge's policy marks requireMfa, at a workspace client", async () => {
    gh.clock.advance(60_000);
    const plain = await tokens(await signIn('openid orders:read', new Browser(), 'hub'), 'hub');
    expect(plain.claims()).toMatchObject({ sub: 'dana', acr: 'urn:gatehouse:acr:pwd' });
    const s = await signIn('openid orders:write', new Browser(), 'hub');
    const page = await s.res.text();
    expect(page).toContain('Two-step verification');
    const t = await tokens(await submit({ ...s, res: new Response(page) }, { code: code() }), 'hub');
    expect(t.claims()).toMatchObject({ sub: 'dana', organization_id: 'forge', acr: 'urn:gatehouse:acr:mfa' });
    expect(decodeJwt(t.access_token)).toMatchObject({ scope: 'orders:write', acr: 'urn:gatehouse:acr:mfa' });
  });

  it('steps up every sign-in of an organization whose template requires MFA, and none of another organization', async () => {
    gh.clock.advance(60_000);
    const s = await signIn('openid email', new Browser(), 'hub', 'ben@cascade.example');
    expect(await s.res.text()).toContain('Set up two-step verification');
    // Forge has no such template: a plain sign-in of dana stays plain.
    const t = await tokens(await signIn('openid email', new Browser(), 'hub'), 'hub');
    expect(t.claims()!.acr).toBe('urn:gatehouse:acr:pwd');
  });
});

describe('client credentials and requireMfa', () => {
  it('drops a scope that needs MFA from a machine token, keeping the others', async () => {
    const config = await discover('sync');
    const both = await oidc.clientCredentialsGrant(config, { scope: 'orders:read orders:write' });
    expect(decodeJwt(both.access_token)).toMatchObject({ aud: ORDERS, scope: 'orders:read', organization_id: 'forge' });
    expect(both.scope).toBe('orders:read');
    const writeOnly = await oidc.clientCredentialsGrant(config, { scope: 'orders:write' });
    expect(decodeJwt(writeOnly.access_token).scope).toBeUndefined();
  });

  it('grants the scope to a machine once the policy no longer asks for MFA', async () => {
    await put('accesspolicies', policy(false));
    try {
      const t = await oidc.clientCredentialsGrant(await discover('sync'), { scope: 'orders:read orders:write' });
      expect(decodeJwt(t.access_token).scope).toBe('orders:read orders:write');
    } finally {
      await put('accesspolicies', policy(true));
    }
  });
});
