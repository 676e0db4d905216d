import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import * as oidc from 'openid-client';
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, type JWTPayload } from 'jose';
import { matchesFingerprint } from '../../../client/secret-fingerprint.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { Browser } from '../../support/browser.ts';
import { loopbackFetch } from '../../support/loopback.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startOidcPeer, type OidcPeer, type PeerUser } from '../../../demo/peers/oidc-idp.ts';
import { CALLBACK, resume, startSignIn, submit, text, type Started } from './flow.ts';

let gh: TestServer;
let forgeIdp: OidcPeer;
const INVENTORY = 'https://inventory.example';
const secrets: Record<string, string> = {};
const insecure = { execute: [oidc.allowInsecureRequests] };
const issuerOf = (org?: string) => `${gh.url}/${NS}${org ? `/${org}` : ''}`;
const discover = (org: string | undefined, name: string) => oidc.discovery(new URL(issuerOf(org)), `${name}.${NS}`, secrets[name], undefined, insecure);
const people: PeerUser[] = [
  { sub: 'f-1001', email: 'lena@forge.example', password: 'forge-pass', name: 'Lena Forge', department: 'procurement' },
  { sub: 'f-1002', email: 'omar@forge.example', password: 'forge-pass', name: 'Omar Forge', department: 'logistics' },
  { sub: 'f-1003', email: 'jo@forge.example', password: 'forge-pass', name: 'Jo Forge' },
  { sub: 'f-6666', email: 'ana@cascade.example', password: 'forge-pass', name: 'Not Ana' },
  // Passes a domain check that reads the text after the last '@'; names Cascade's user to anyone who reads it as a quoted local part.
  { sub: 'f-7777', email: '"ana@cascade.example"@forge.example', password: 'forge-pass', name: 'Quoted Ana' },
];

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  forgeIdp = await startOidcPeer({ clientId: 'gatehouse', clientSecret: 'forge-upstream-secret', redirectUris: [`${issuerOf('forge')}/broker/forge-oidc/callback`], users: people, title: 'Forge SSO' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', branding: { primaryColor: '#b42318' }, domains: ['sso.forge.example'] }));
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
  await gh.put(
    'idpconnections',
    idp('forge-oidc', 'forge', { displayName: 'Forge SSO', oidc: { issuer: forgeIdp.url, clientId: 'gatehouse', clientSecretRef: { name: 'forge-oidc', key: 'client-secret' } }, jit: { enabled: true, defaultRoles: ['supplier-user'] }, attributeMapping: { email: 'email', name: 'name', department: 'department' } }),
  );
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile', 'inventory:read'], audiences: [INVENTORY] }));
  await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('claimmappings', claimMapping('forge-claims', 'forge', { claims: [{ name: 'department', from: 'upstream.department', tokens: ['id', 'access'] }] }));
  await gh.put('clients', client('portal', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile'] }));
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  for (const name of ['forge-web', 'portal']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  const stored = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/secrets/forge-oidc`, { data: { 'client-secret': 'forge-upstream-secret' } });
  expect(stored.status).toBe(201);
});
afterAll(async () => {
  await gh.close();
  await forgeIdp.close();
});

/** Email at Gatehouse, password at Forge's IdP, back through Gatehouse to the client. */
async function federated(config: oidc.Configuration, email: string, options: { params?: Record<string, string>; beforeCallback?: (url: URL) => URL } = {}): Promise<Started> {
  let s = await startSignIn(config, options.params);
  if (!options.params?.login_hint) s = await submit(s, { email });
  if (!s.url.startsWith(forgeIdp.url)) throw new Error(`expected Forge's sign-in page, got ${s.res.status} at ${s.url}: ${await text(s.res)}`);
  const person = people.find((p) => p.email === email)!;
  const gatehouseCallback = `${issuerOf('forge')}/broker/`;
  s = await submit(s, { email, password: person.password }, gatehouseCallback);
  return resume(s, options.beforeCallback ? options.beforeCallback(new URL(s.url)).href : s.url);
}

async function tokensFor(config: oidc.Configuration, s: Started) {
  if (!s.url.startsWith(CALLBACK)) throw new Error(`expected the client's callback, got ${s.res.status} at ${s.url}: ${(await text(s.res)).slice(-400)}`);
  return oidc.authorizationCodeGrant(config, new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
}

const refusals = async (reason: string) => (await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=200')).body.items.filter((r: { data: { reason: string } }) => r.data.reason === reason);

describe('routing by email domain', () => {
  it('asks for an email address on a page branded for the organization, with no external assets', async () => {
    const s = await startSignIn(await discover('forge', 'forge-web'));
    const html = await s.res.text();
    expect(s.res.status).toBe(200);
    expect(html).toContain('Forge Supplies');
    expect(html).toContain('#b42318');
    expect(html).toMatch(/name="email"/);
    expect(html).not.toMatch(/name="password"/);
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('answers an unknown domain with a clear message, not a stack trace', async () => {
    const s = await submit(await startSignIn(await discover('forge', 'forge-web')), { email: 'someone@nowhere.example' });
    expect(s.res.status).toBe(400);
    expect(await text(s.res)).toContain('No organization signs in with nowhere.example addresses here');
  });

  it("keeps another partner's domain out of an organization's issuer", async () => {
    const s = await submit(await startSignIn(await discover('forge', 'forge-web')), { email: 'ana@cascade.example' });
    expect(s.res.status).toBe(400);
  });

  it('skips the question when the client sends login_hint', async () => {
    const s = await startSignIn(await discover('forge', 'forge-web'), { login_hint: 'lena@forge.example' });
    expect(s.url.startsWith(forgeIdp.url)).toBe(true);
    expect(await s.res.text()).toContain('value="lena@forge.example"');
  });

  it('routes a directory domain to the password form on the shared issuer', async () => {
    const s = await submit(await startSignIn(await discover(undefined, 'portal')), { email: 'ana@cascade.example' });
    const html = await s.res.text();
    expect(html).toMatch(/name="password"/);
    expect(html).toContain('Cascade Consulting');
  });

  it('serves an organization issuer on its vanity host', async () => {
    const { port } = new URL(gh.url);
    const body = await new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/.well-known/openid-configuration', headers: { host: `sso.forge.example:${port}` } }, (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve(data));
      })
        .on('error', reject)
        .end();
    });
    // The vanity host is an issuer of its own (Discovery §4.3: the issuer is where the metadata was fetched).
    const meta = JSON.parse(body) as { issuer: string; authorization_endpoint: string };
    expect(meta.issuer).toBe(`http://sso.forge.example:${port}`);
    expect(meta.authorization_endpoint).toBe(`http://sso.forge.example:${port}/${NS}/forge/auth`);
  });

  it("signs in through the partner IdP from the vanity host: the upstream's registered callback is the canonical one, and the browser is sent back to the vanity host", async () => {
    const { port } = new URL(gh.url);
    const vanity = `http://sso.forge.example:${port}`;
    const loopback = loopbackFetch(port);
    // A browser that resolves the vanity host to this server; every other host as usual.
    const transport = (url: string, init?: RequestInit) => (new URL(url).hostname === 'sso.forge.example' ? loopback(url, init as Parameters<typeof loopback>[1]) : fetch(url, init));
    const config = await oidc.discovery(new URL(vanity), `forge-web.${NS}`, secrets['forge-web'], undefined, { ...insecure, [oidc.customFetch]: transport as oidc.CustomFetch });
    let s = await startSignIn(config, {}, new Browser(transport));
    expect(s.url.startsWith(`${vanity}/${NS}/forge/interaction/`)).toBe(true);
    s = await submit(s, { email: 'omar@forge.example' });
    expect(s.url.startsWith(forgeIdp.url)).toBe(true);
    s = await submit(s, { email: 'omar@forge.example', password: 'forge-pass' }, `${issuerOf('forge')}/broker/`);
    const back = await s.browser.fetch(s.url);
    expect(back.status).toBe(303);
    const federatedUrl = new URL(back.headers.get('location')!);
    expect(federatedUrl.origin).toBe(vanity);
    // The same hand-back at the canonical host is not this browser's sign-in there.
    const elsewhere = await s.browser.fetch(`${gh.url}${federatedUrl.pathname}${federatedUrl.search}`);
    expect(elsewhere.status).toBeGreaterThanOrEqual(400);
    s = await resume(s, federatedUrl.href);
    const tokens = await tokensFor(config, s);
    expect(tokens.claims()).toMatchObject({ iss: vanity, email: 'omar@forge.example', organization_id: 'forge', amr: ['fed'] });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ iss: vanity, aud: INVENTORY, organization_id: 'forge' });
  });
});

describe('upstream OpenID Connect (Forge Supplies)', () => {
  let first: Awaited<ReturnType<typeof tokensFor>>;

  it('signs in at the partner IdP and returns tokens naming the organization, with mapped claims, acr and amr', async () => {
    const config = await discover('forge', 'forge-web');
    first = await tokensFor(config, await federated(config, 'lena@forge.example', {}));
    expect(first.claims()).toMatchObject({ iss: issuerOf('forge'), email: 'lena@forge.example', organization_id: 'forge', department: 'procurement', acr: 'urn:gatehouse:acr:fed', amr: ['fed'] });
    const access = decodeJwt(first.access_token);
    expect(access).toMatchObject({ organization_id: 'forge', department: 'procurement', acr: 'urn:gatehouse:acr:fed', amr: ['fed'], aud: INVENTORY });
  });

  it('provisions the user on first sign-in, keyed by connection and upstream subject, with the default roles', async () => {
    const record = await gh.store.users.findBySubject(NS, 'forge-oidc', 'f-1001');
    expect(record).toMatchObject({ organization: 'forge', email: 'lena@forge.example', roles: ['supplier-user'], active: true, passwordHash: null });
    expect(first.claims()!.sub).toBe(record!.id);
    expect((await gh.admin('GET', '/admin/v1/audit?action=user.provisioned')).body.items[0]).toMatchObject({ subject: record!.id, organization: 'forge' });
  });

  it('updates mapped attributes on later sign-ins, and keeps the same user', async () => {
    people[0]!.department = 'finance';
    const config = await discover('forge', 'forge-web');
    const again = await tokensFor(config, await federated(config, 'lena@forge.example'));
    expect(again.claims()).toMatchObject({ sub: first.claims()!.sub, department: 'finance' });
    expect((await gh.store.users.findByEmail(NS, 'lena@forge.example')).length).toBe(1);
  });

  it('routes across the organizations of the namespace on the shared issuer', async () => {
    const config = await discover(undefined, 'portal');
    const tokens = await tokensFor(config, await federated(config, 'omar@forge.example'));
    expect(tokens.claims()).toMatchObject({ iss: issuerOf(), organization_id: 'forge', email: 'omar@forge.example', amr: ['fed'] });
  });

  it("refuses Forge's IdP asserting a Cascade Consulting address", async () => {
    const config = await discover('forge', 'forge-web');
    let s = await startSignIn(config);
    // The user types a Forge address; the IdP signs in someone else.
    s = await submit(s, { email: 'jo@forge.example' });
    s = await submit(s, { email: 'ana@cascade.example', password: 'forge-pass' });
    expect(s.res.status).toBe(403);
    expect(await text(s.res)).toContain("not in the organization's email domains");
    expect(await refusals('email-domain-not-allowed')).toHaveLength(1);
    expect(await gh.store.users.findBySubject(NS, 'forge-oidc', 'f-6666')).toBeUndefined();
  });

  it("refuses an upstream email that is not a plain address, though its last '@' names Forge's domain", async () => {
    const config = await discover('forge', 'forge-web');
    let s = await startSignIn(config);
    s = await submit(s, { email: 'jo@forge.example' });
    s = await submit(s, { email: '"ana@cascade.example"@forge.example', password: 'forge-pass' });
    expect(s.res.status).toBe(403);
    expect(await text(s.res)).toContain('not a plain address');
    expect(await refusals('invalid-email')).toHaveLength(1);
    expect(await gh.store.users.findBySubject(NS, 'forge-oidc', 'f-7777')).toBeUndefined();
  });

  it('refuses a deactivated user, with an audit record', async () => {
    const config = await discover('forge', 'forge-web');
    await tokensFor(config, await federated(config, 'jo@forge.example'));
    const jo = (await gh.store.users.findBySubject(NS, 'forge-oidc', 'f-1003'))!;
    await gh.store.users.upsert({ ...jo, active: false });
    const s = await federated(config, 'jo@forge.example');
    expect(s.res.status).toBe(403);
    expect(await text(s.res)).toContain('This account is deactivated');
    expect((await refusals('deactivated'))[0]).toMatchObject({ organization: 'forge', outcome: 'refused' });
  });
});

describe('upstream ID tokens that must be refused', () => {
  let otherKey: CryptoKey;
  beforeAll(async () => {
    otherKey = (await generateKeyPair('RS256')).privateKey;
  });
  afterAll(() => {
    forgeIdp.tamper = undefined;
  });

  const resign =
    (change: (claims: JWTPayload) => JWTPayload, how: { key?: 'other' } = {}) =>
    async (idToken: string) => {
      const claims = change(decodeJwt(idToken));
      const key = how.key === 'other' ? otherKey : await importJWK(forgeIdp.privateJwk as JsonWebKey, 'RS256');
      return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(idToken).kid! }).sign(key);
    };
  const unsigned = async (idToken: string) => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return `${b64({ alg: 'none' })}.${b64(decodeJwt(idToken))}.`;
  };

  it.each([
    ['a wrong issuer', resign((c) => ({ ...c, iss: 'https://evil.example' }))],
    ['a wrong audience', resign((c) => ({ ...c, aud: 'someone-else' }))],
    ['a bad nonce', resign((c) => ({ ...c, nonce: 'not-the-nonce' }))],
    ['an expired token', resign((c) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }))],
    ['alg: none', unsigned],
    ['a signature by another key', resign((c) => c, { key: 'other' })],
  ])('refuses %s, with a clear page and an audit record', async (_label, tamper) => {
    forgeIdp.tamper = tamper;
    const before = (await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=500')).body.items.length;
    const config = await discover('forge', 'forge-web');
    const s = await federated(config, 'omar@forge.example');
    expect(s.res.status).toBe(401);
    expect(await text(s.res)).toMatch(/Sign-in failed .*refused/);
    expect((await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=500')).body.items.length).toBe(before + 1);
    forgeIdp.tamper = undefined;
  });

  it('refuses a state that matches no sign-in in progress', async () => {
    const config = await discover('forge', 'forge-web');
    const s = await federated(config, 'omar@forge.example', {
      beforeCallback: (url) => (url.searchParams.set('state', 'forged-state'), url),
    });
    expect(s.res.status).toBe(400);
    expect(await text(s.res)).toContain('does not match a sign-in in progress');
    expect((await refusals('state-mismatch')).length).toBeGreaterThanOrEqual(1);
  });

  it('refuses an authorization response whose RFC 9207 iss names another IdP (mix-up)', async () => {
    const config = await discover('forge', 'forge-web');
    const s = await federated(config, 'omar@forge.example', {
      beforeCallback: (url) => (url.searchParams.set('iss', 'https://evil.example'), url),
    });
    expect(s.res.status).toBe(401);
  });
});

describe('upstream secrets', () => {
  it('are write-only: the admin API shows key names, never values, and audits without them', async () => {
    const got = await gh.admin('GET', `/admin/v1/namespaces/${NS}/secrets/forge-oidc`);
    expect(got.body).toMatchObject({ name: 'forge-oidc', keys: ['client-secret'] });
    // A salted fingerprint lets a writer skip a write that changes nothing, without the value ever leaving the server.
    expect(Object.keys(got.body).sort()).toEqual(['fingerprint', 'keys', 'name', 'namespace', 'updatedAt']);
    expect(await matchesFingerprint(got.body.fingerprint, { 'client-secret': 'forge-upstream-secret' })).toBe(true);
    expect(await matchesFingerprint(got.body.fingerprint, { 'client-secret': 'forge-upstream-secreT' })).toBe(false);
    const all = JSON.stringify([got.body, (await gh.admin('GET', `/admin/v1/namespaces/${NS}/secrets`)).body, (await gh.admin('GET', '/admin/v1/audit?action=Secret.created')).body]);
    expect(all).not.toContain('forge-upstream-secret');
  });

  it('show the redirect URI to register at the IdP in the connection status', async () => {
    const conn = await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/forge-oidc`);
    expect(conn.body.status.redirectUri).toBe(`${issuerOf('forge')}/broker/forge-oidc/callback`);
  });

  it('when missing, make the sign-in page say the connection is not configured', async () => {
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/secrets/forge-oidc`)).status).toBe(200);
    try {
      const s = await submit(await startSignIn(await discover('forge', 'forge-web')), { email: 'omar@forge.example' });
      expect(s.res.status).toBe(503);
      expect(await text(s.res)).toContain('is not configured yet');
    } finally {
      await gh.admin('PUT', `/admin/v1/namespaces/${NS}/secrets/forge-oidc`, { data: { 'client-secret': 'forge-upstream-secret' } });
    }
  });
});
