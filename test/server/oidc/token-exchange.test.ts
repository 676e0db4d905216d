import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { Secret, TOTP } from 'otpauth';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';
import { startSignIn, submit } from '../broker/flow.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const PASSWORD = 'correct horse battery staple';
const PORTAL_API = 'https://portal.cascade.example/api';
const ORDERS = 'https://orders.cascade.example';
const REPORTS = 'https://reports.cascade.example';
const insecure = { execute: [oidc.allowInsecureRequests] };

let gh: TestServer;
const secrets: Record<string, string> = {};
const issuerOf = (org: string) => `${gh.url}/${NS}/${org}`;
const config = (org: string, name: string) => oidc.discovery(new URL(issuerOf(org)), `${name}.${NS}`, secrets[name], secrets[name] ? undefined : oidc.None(), insecure);
const exchange = async (org: string, name: string, params: Record<string, string>) => oidc.genericGrantRequest(await config(org, name), GRANT, { subject_token_type: ACCESS, ...params });

const m2m = (name: string, spec: object) => client(name, 'cascade', { type: 'm2m', redirectUris: [], ...spec });

/** A fresh user token of cascade-portal (code + PKCE), as the subject. */
const portalToken = async (email = 'ana@cascade.example') => (await signIn(gh, 'cascade', 'cascade-portal', secrets['cascade-portal']!, { email, password: PASSWORD }, 'openid email orders:read orders:write reports:read')).access_token;

beforeAll(async () => {
  // The injected clock starts at wall time: oidc-provider stamps iat/exp from it too.
  gh = await startTestServer({ now: new Date().toISOString() });
  await gh.put('workspaces', workspace({ tokens: { accessToken: '15m' } }));
  await gh.put('organizations', organization('cascade'));
  await gh.put('organizations', organization('forge'));
  for (const org of ['cascade', 'forge']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('claimmappings', claimMapping('cascade-claims', 'cascade', { claims: [{ name: 'partner_type', from: 'contract.partnerType', tokens: ['access'] }] }));
  await gh.put('accesspolicies', accessPolicy('cascade-apis', 'cascade', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }] }));
  await gh.put('clients', client('cascade-portal', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read', 'orders:write', 'reports:read'], audiences: [PORTAL_API] }));
  // No audiences: its users' access tokens are opaque (userinfo only).
  await gh.put('clients', client('cascade-lite', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  // orders:write needs a second factor at sign-in here, so its users' tokens say they passed one.
  await gh.put('clients', client('cascade-secure', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:write'], audiences: [PORTAL_API], mfa: { requiredScopes: ['orders:write'] } }));
  await gh.put('clients', m2m('cascade-agent', { scopes: ['orders:read', 'orders:write', 'reports:read'], audiences: [ORDERS, REPORTS], mfa: { requiredScopes: ['orders:write'] }, tokenExchange: { enabled: true, subjectClients: [{ name: 'cascade-portal' }, { name: 'cascade-lite' }, { name: 'cascade-secure' }] } }));
  await gh.put('clients', m2m('cascade-chain', { scopes: ['orders:read'], audiences: [ORDERS], tokenExchange: { enabled: true, subjectClients: [{ name: 'cascade-agent' }] } }));
  await gh.put('clients', m2m('cascade-unlisted', { scopes: ['orders:read'], audiences: [ORDERS], tokenExchange: { enabled: true } }));
  await gh.put('clients', m2m('cascade-other', { scopes: ['orders:read'], audiences: [ORDERS], tokenExchange: { enabled: true, subjectClients: [{ name: 'cascade-chain' }] } }));
  await gh.put('clients', m2m('cascade-plain', { scopes: ['orders:read'], audiences: [ORDERS] }));
  await gh.put('clients', client('cascade-spa', 'cascade', { type: 'spa', redirectUris: [CALLBACK], scopes: ['openid'], audiences: [ORDERS], tokenExchange: { enabled: true, subjectClients: [{ name: 'cascade-portal' }] } }));
  await gh.put('clients', client('forge-portal', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'orders:read'], audiences: [PORTAL_API] }));
  // reports:read is the portal's alone: no policy lets the agent have it.
  await gh.put('accesspolicies', accessPolicy('cascade-portal-reports', 'cascade', { clientRef: { name: 'cascade-portal' }, scopes: [{ scope: 'reports:read' }] }));
  await gh.put('accesspolicies', accessPolicy('forge-apis', 'forge', { scopes: [{ scope: 'orders:read' }] }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  await gh.put('users', user('bo', 'cascade', { email: 'bo@cascade.example' }));
  await gh.put('users', user('mo', 'cascade', { email: 'mo@cascade.example' }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example' }));
  for (const name of ['cascade-portal', 'cascade-lite', 'cascade-secure', 'cascade-agent', 'cascade-chain', 'cascade-unlisted', 'cascade-other', 'cascade-plain', 'forge-portal']) {
    secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  }
  for (const name of ['ana', 'bo', 'mo', 'fred']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('RFC 8693 token exchange at an organization issuer', () => {
  let subject: string;
  let exchanged: oidc.TokenEndpointResponse;

  it('exchanges a user token of a listed client for a JWT access token that keeps the user and says who acts', async () => {
    subject = await portalToken();
    const before = decodeJwt(subject);
    expect(before).toMatchObject({ client_id: `cascade-portal.${NS}`, sub: 'ana', aud: PORTAL_API });
    exchanged = await exchange('cascade', 'cascade-agent', { subject_token: subject, audience: ORDERS });
    expect(exchanged).toMatchObject({ issued_token_type: ACCESS, token_type: 'bearer', scope: 'orders:read' });
    expect(exchanged.refresh_token).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(exchanged.access_token, createRemoteJWKSet(new URL(`${issuerOf('cascade')}/jwks`)), { issuer: issuerOf('cascade'), audience: ORDERS });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: 'ana', client_id: `cascade-agent.${NS}`, organization_id: 'cascade', partner_type: 'consultant', act: { sub: `cascade-agent.${NS}` }, amr: ['pwd'] });
    // orders:write needs a second factor at the agent (dropped: none was asked for); reports:read no policy allows it.
    expect(String(payload.scope).split(' ')).not.toContain('orders:write');
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(15 * 60);
  });

  it('is audited as token.exchanged with the subject, the acting client and the audience', async () => {
    const audit = await gh.admin('GET', '/admin/v1/audit?action=token.exchanged&limit=1');
    expect(audit.body.items[0]).toMatchObject({ organization: 'cascade', client: `cascade-agent.${NS}`, subject: 'ana', data: { grant: GRANT, subjectClient: `cascade-portal.${NS}`, actor: `cascade-agent.${NS}`, audience: ORDERS, scope: 'orders:read' } });
    expect(JSON.stringify(audit.body)).not.toContain(subject);
  });

  it('answers introspection of the exchanged token as active, with act', async () => {
    const result = await oidc.tokenIntrospection(await config('cascade', 'cascade-agent'), exchanged.access_token);
    expect(result).toMatchObject({ active: true, sub: 'ana', act: { sub: `cascade-agent.${NS}` }, aud: ORDERS });
  });

  it('takes audience as resource too, and an actor token of the requesting client names the actor', async () => {
    const actor = (await oidc.clientCredentialsGrant(await config('cascade', 'cascade-agent'), { resource: REPORTS })).access_token;
    const res = await exchange('cascade', 'cascade-agent', { subject_token: await portalToken(), resource: REPORTS, actor_token: actor, actor_token_type: ACCESS });
    expect(decodeJwt(res.access_token)).toMatchObject({ aud: REPORTS, act: { sub: `cascade-agent.${NS}` } });
  });

  it('nests the act chain when an exchanged token is exchanged again (RFC 8693 section 4.1)', async () => {
    const again = await exchange('cascade', 'cascade-chain', { subject_token: exchanged.access_token, audience: ORDERS });
    expect(decodeJwt(again.access_token)).toMatchObject({ sub: 'ana', client_id: `cascade-chain.${NS}`, act: { sub: `cascade-chain.${NS}`, act: { sub: `cascade-agent.${NS}` } } });
  });

  it('keeps a step-up scope when the subject signed in with a second factor', async () => {
    let s = await startSignIn(await config('cascade', 'cascade-secure'), { scope: 'openid email orders:write' });
    s = await submit(s, { email: 'mo@cascade.example', password: PASSWORD });
    const html = await s.res.text();
    const totp = /id="totp-secret">([A-Z2-7 ]+)</.exec(html)![1]!.replace(/ /g, '');
    s = await submit({ ...s, res: new Response(html) }, { code: new TOTP({ secret: Secret.fromBase32(totp), digits: 6, period: 30 }).generate({ timestamp: gh.clock.now() }) });
    s = await submit(s, {}); // the recovery codes page
    const t = await oidc.authorizationCodeGrant(await config('cascade', 'cascade-secure'), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
    expect(decodeJwt(t.access_token)).toMatchObject({ scope: 'orders:write', amr: ['pwd', 'otp', 'mfa'] });
    const res = await exchange('cascade', 'cascade-agent', { subject_token: t.access_token, audience: ORDERS, scope: 'orders:write' });
    expect(decodeJwt(res.access_token)).toMatchObject({ sub: 'mo', scope: 'orders:write', acr: 'urn:gatehouse:acr:mfa', amr: ['pwd', 'otp', 'mfa'], act: { sub: `cascade-agent.${NS}` } });
  });

  it("exchanges an opaque subject token, found through the provider's AccessToken model", async () => {
    const opaque = (await signIn(gh, 'cascade', 'cascade-lite', secrets['cascade-lite']!, { email: 'ana@cascade.example', password: PASSWORD })).access_token;
    expect(opaque.split('.')).toHaveLength(1);
    const res = await exchange('cascade', 'cascade-agent', { subject_token: opaque, audience: ORDERS });
    // The subject token carried no API scope, so neither does the result.
    expect(res.scope).toBeUndefined();
    expect(decodeJwt(res.access_token)).toMatchObject({ sub: 'ana', aud: ORDERS, organization_id: 'cascade', act: { sub: `cascade-agent.${NS}` } });
  });

  it("is bound to the subject's grant: when the user's grants are revoked, the exchanged token is inactive", async () => {
    const bo = (await signIn(gh, 'cascade', 'cascade-portal', secrets['cascade-portal']!, { email: 'bo@cascade.example', password: PASSWORD }, 'openid email orders:read')).access_token;
    const res = await exchange('cascade', 'cascade-agent', { subject_token: bo, audience: ORDERS });
    const agent = await config('cascade', 'cascade-agent');
    expect((await oidc.tokenIntrospection(agent, res.access_token)).active).toBe(true);
    const reset = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/users/bo/reset-mfa`);
    expect(reset.status).toBe(200);
    expect((await oidc.tokenIntrospection(agent, res.access_token)).active).toBe(false);
    await expect(exchange('cascade', 'cascade-agent', { subject_token: bo, audience: ORDERS })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('never outlives the subject token: the lifetime is cut to what the subject has left', async () => {
    const fresh = await portalToken();
    const subjectExp = decodeJwt(fresh).exp!;
    gh.clock.set(Date.now() + 10 * 60 * 1000);
    try {
      const res = await exchange('cascade', 'cascade-agent', { subject_token: fresh, audience: ORDERS });
      expect(res.expires_in).toBeLessThanOrEqual(5 * 60 + 1);
      expect(decodeJwt(res.access_token).exp!).toBeLessThanOrEqual(subjectExp);
    } finally {
      gh.clock.set(Date.now());
    }
  });
});

describe('refusals', () => {
  let subject: string;
  beforeAll(async () => {
    subject = await portalToken();
  });

  /** The client gets the error; the audit record says why (oidc-provider tells a client no more than "grant request is invalid"). */
  const refused = async (promise: Promise<unknown>, error: string, because: string) => {
    await expect(promise).rejects.toMatchObject({ error });
    const audit = await gh.admin('GET', '/admin/v1/audit?action=token.refused&limit=1');
    expect(audit.body.items[0]).toMatchObject({ outcome: 'refused', data: { grant: GRANT, error, reason: expect.stringContaining(because) } });
  };

  it('a confidential client without tokenExchange: unauthorized_client, audited with the reason', async () => {
    await refused(exchange('cascade', 'cascade-plain', { subject_token: subject, audience: ORDERS }), 'unauthorized_client', 'not enabled');
    const audit = await gh.admin('GET', '/admin/v1/audit?action=token.refused&limit=1');
    expect(audit.body.items[0]).toMatchObject({ client: `cascade-plain.${NS}`, outcome: 'refused', data: { grant: GRANT, error: 'unauthorized_client', reason: 'token exchange is not enabled for this client' } });
  });

  it('a public client, even with tokenExchange enabled: unauthorized_client', async () => {
    await refused(exchange('cascade', 'cascade-spa', { subject_token: subject, audience: ORDERS }), 'unauthorized_client', 'only a confidential client');
  });

  it('a client with no subjectClients list: unauthorized_client (explicit allow-list only)', async () => {
    await refused(exchange('cascade', 'cascade-unlisted', { subject_token: subject, audience: ORDERS }), 'unauthorized_client', 'declares no subjectClients');
  });

  it('a subject token of a client not in subjectClients: invalid_grant', async () => {
    await refused(exchange('cascade', 'cascade-other', { subject_token: subject, audience: ORDERS }), 'invalid_grant', 'may not act for');
  });

  it("a subject token from another organization's issuer: invalid_grant (one partner never acts as another)", async () => {
    const forge = (await signIn(gh, 'forge', 'forge-portal', secrets['forge-portal']!, { email: 'fred@forge.example', password: PASSWORD }, 'openid email orders:read')).access_token;
    expect(decodeJwt(forge).iss).toBe(issuerOf('forge'));
    await refused(exchange('cascade', 'cascade-agent', { subject_token: forge, audience: ORDERS }), 'invalid_grant', 'not an active access token of this issuer');
  });

  it('a tampered subject token: invalid_grant', async () => {
    const [h, p, s] = subject.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${s}`;
    await refused(exchange('cascade', 'cascade-agent', { subject_token: forged, audience: ORDERS }), 'invalid_grant', 'not an active access token of this issuer');
  });

  it('an expired subject token: invalid_grant', async () => {
    gh.clock.set(Date.now() + 16 * 60 * 1000);
    try {
      await refused(exchange('cascade', 'cascade-agent', { subject_token: subject, audience: ORDERS }), 'invalid_grant', 'not an active access token of this issuer');
    } finally {
      gh.clock.set(Date.now());
    }
  });

  it('a revoked subject token: invalid_grant', async () => {
    const token = await portalToken();
    await oidc.tokenRevocation(await config('cascade', 'cascade-portal'), token);
    await refused(exchange('cascade', 'cascade-agent', { subject_token: token, audience: ORDERS }), 'invalid_grant', 'not an active access token of this issuer');
  });

  it('a subject token of another type, and an actor token of another client: refused', async () => {
    await refused(exchange('cascade', 'cascade-agent', { subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', audience: ORDERS }), 'invalid_request', 'subject_token_type');
    await refused(exchange('cascade', 'cascade-agent', { subject_token: subject, audience: ORDERS, actor_token: subject, actor_token_type: ACCESS }), 'invalid_grant', 'actor_token');
  });

  it('an audience the requesting client does not declare: invalid_target', async () => {
    await refused(exchange('cascade', 'cascade-agent', { subject_token: subject, audience: PORTAL_API }), 'invalid_target', 'is not an audience of this client');
  });

  it('a scope no policy allows the requesting client: invalid_scope', async () => {
    await refused(exchange('cascade', 'cascade-agent', { subject_token: subject, audience: ORDERS, scope: 'reports:read' }), 'invalid_scope', 'not allowed for this client');
  });

  it('a step-up scope asked for when the subject signed in without a second factor: invalid_scope', async () => {
    expect(decodeJwt(subject).scope).toContain('orders:write');
    await refused(exchange('cascade', 'cascade-agent', { subject_token: subject, audience: ORDERS, scope: 'orders:write' }), 'invalid_scope', 'second factor');
  });

  it('a suspended organization: invalid_grant, like every other grant', async () => {
    await gh.put('organizations', organization('cascade', { suspended: true }));
    try {
      await expect(exchange('cascade', 'cascade-agent', { subject_token: subject, audience: ORDERS })).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'organization cascade is suspended' });
      const audit = await gh.admin('GET', '/admin/v1/audit?action=token.refused&limit=1');
      expect(audit.body.items[0]).toMatchObject({ organization: 'cascade', outcome: 'refused', data: { reason: 'suspended', path: '/token' } });
    } finally {
      await gh.put('organizations', organization('cascade'));
    }
  });
});
