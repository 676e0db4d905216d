// The declared second-factor policy (Workspace and Organization `mfa`, inherited through
// templates and parents, tightened never loosened) as sign-ins meet it: which factors a page
// offers and accepts (`mfa.methods`), where only a passkey will do
// (`mfa.requirePhishingResistant` for administrators and for Client `mfa.highValueScopes`),
// and whether a partner IdP's sign-in counts as a second factor (`mfa.upstreamMfa`).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import * as oidc from 'openid-client';
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import { startOidcPeer, type OidcPeer } from '../../../demo/peers/oidc-idp.ts';
import { SoftAuthenticator } from '../../support/authenticator.ts';
import { NS, accessPolicy, client, idp, organization, template, user, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { CALLBACK, resume, startSignIn, submit, type Started } from '../broker/flow.ts';

let gh: TestServer;
let peer: OidcPeer;
const secrets = new Map<string, string>();
const PASSWORD = 'correct horse battery staple';
const issuer = (org: string) => `${gh.url}/${NS}/${org}`;
const discover = (org: string, app: string) => oidc.discovery(new URL(issuer(org)), `${app}.${NS}`, secrets.get(app)!, undefined, { execute: [oidc.allowInsecureRequests] });

async function declare(org: string, spec: object, clientSpec: object = {}) {
  await gh.put('organizations', organization(org, { displayName: org, ...spec }));
  await gh.put('clients', client(`${org}-app`, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'payments:write'], ...clientSpec }));
  secrets.set(`${org}-app`, (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-app/secret`)).body.clientSecret);
}

async function directory(org: string, users: { name: string; roles?: string[] }[]) {
  await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined, emailDomains: [`${org}.example`] }));
  for (const u of users) {
    await gh.put('users', user(u.name, org, { email: `${u.name}@${org}.example`, ...(u.roles ? { roles: u.roles } : {}) }));
    await setPassword(gh, u.name, PASSWORD);
  }
}

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  // The Workspace requires a second factor of everybody, and a local one of federated users.
  await gh.put('workspaces', workspace({ mfa: { required: true, upstreamMfa: 'require-local', requirePhishingResistant: { highValueScopes: true } } }));
  // Only TOTP here; a template narrows another to passkeys; administrators of a third need a passkey.
  await declare('alder', { mfa: { methods: ['totp'] } });
  await gh.put('organizationtemplates', template('passkeys-only', { mfa: { methods: ['webauthn'], requirePhishingResistant: { administrators: true } } }));
  await declare('birch', { templateRef: { name: 'passkeys-only' } });
  // A child cannot widen what its parent (through its template) allows.
  await declare('birch-labs', { parentRef: { name: 'birch' }, mfa: { methods: ['totp', 'webauthn'] } });
  await declare('cedar', { mfa: { requirePhishingResistant: { administrators: true } } }, { audiences: ['https://payments.example'], mfa: { highValueScopes: ['payments:write'] } });
  await gh.put('accesspolicies', accessPolicy('cedar-payments', 'cedar', { scopes: [{ scope: 'payments:write' }] }));
  await directory('alder', [{ name: 'al' }, { name: 'ali', roles: ['user-manager'] }]);
  await directory('birch', [{ name: 'bo' }]);
  await directory('birch-labs', [{ name: 'bea' }]);
  await directory('cedar', [{ name: 'cy' }, { name: 'cleo', roles: ['user-manager'] }]);
  // Two federated partners: one trusts its IdP, one does not say (the Workspace's require-local).
  peer = await startOidcPeer({ clientId: 'gatehouse', clientSecret: 'peer-secret', redirectUris: ['dogwood', 'elm'].map((o) => `${issuer(o)}/broker/${o}-oidc/callback`), users: ['dora@dogwood.example', 'eli@elm.example'].map((email, i) => ({ sub: `p-${i}`, email, password: 'peer-pass', name: email })) });
  await gh.admin('PUT', `/admin/v1/namespaces/${NS}/secrets/peer`, { data: { 'client-secret': 'peer-secret' } });
  await declare('dogwood', { mfa: { upstreamMfa: 'trust' } });
  await declare('elm', {});
  await gh.put('workspaces', workspace({ mfa: { required: true, requirePhishingResistant: { highValueScopes: true } } }));
  for (const org of ['dogwood', 'elm']) {
    await gh.put('idpconnections', idp(`${org}-oidc`, org, { emailDomains: [`${org}.example`], oidc: { issuer: peer.url, clientId: 'gatehouse', clientSecretRef: { name: 'peer', key: 'client-secret' } }, jit: { enabled: true } }));
  }
});
afterAll(async () => {
  await gh?.close();
  await peer?.close();
});

const unhtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
const passkeyForm = (html: string) => /<form id="passkey-form" method="post" action="([^"]+)" data-mode="(\w+)" data-autofill="\w+" data-options="([^"]+)">/.exec(html);

async function password(org: string, name: string, scope = 'openid email'): Promise<{ s: Started; html: string }> {
  const email = `${name}@${org}.example`;
  let s = await submit(await startSignIn(await discover(org, `${org}-app`), { scope }), { email });
  s = await submit(s, { email, password: PASSWORD });
  const html = await s.res.text();
  return { s: { ...s, res: new Response(html, { status: s.res.status }) }, html };
}

describe('mfa.methods: what the second-factor page offers and accepts', () => {
  it('TOTP only: no passkey offered at the second factor nor on the email-first page, and a posted one is refused', async () => {
    const { s, html } = await password('alder', 'al');
    expect(html).toContain('Set up two-step verification');
    expect(passkeyForm(html)).toBeNull();
    const first = await (await startSignIn(await discover('alder', 'alder-app'))).res.text();
    expect(passkeyForm(first)).toBeNull();
    const refused = await s.browser.submit(`${s.url}/passkey`, { ceremony: 'register', response: '{}' });
    expect(refused.status).toBe(403);
    expect((await gh.admin('GET', '/admin/v1/audit?action=login.mfa-failed&limit=1')).body.items[0]).toMatchObject({ subject: 'al', data: { reason: 'method-not-allowed' } });
  });

  it('passkeys only (from the template): no TOTP enrolment, a code is refused, a passkey is enrolled', async () => {
    const { s, html } = await password('birch', 'bo');
    expect(html).not.toContain('totp-secret');
    const form = passkeyForm(html)!;
    expect(form[2]).toBe('register');
    const code = await s.browser.submit(s.url, { code: '123456' });
    expect(code.status).toBe(403);
    const soft = new SoftAuthenticator(new URL(gh.url).origin);
    const answer = soft.register(JSON.parse(unhtml(form[3]!)) as PublicKeyCredentialCreationOptionsJSON);
    const posted = await s.browser.submit(new URL(unhtml(form[1]!), s.url).href, { ceremony: 'register', response: JSON.stringify(answer) });
    const done = await resume(s, new URL(posted.headers.get('location')!, s.url).href);
    expect(done.url.startsWith(CALLBACK)).toBe(true);
  });

  it("a child organization cannot allow what its parent's template took away", async () => {
    const { html } = await password('birch-labs', 'bea');
    expect(html).not.toContain('totp-secret');
    expect(passkeyForm(html)?.[2]).toBe('register');
    const effective = (await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/birch-labs/effective`)).body;
    expect(JSON.stringify(effective)).toContain('webauthn');
  });
});

describe("the Workspace's mfa binds every organization", () => {
  it('methods and requirePhishingResistant.administrators declared on the Workspace hold where an organization asks otherwise', async () => {
    await gh.put('workspaces', workspace({ mfa: { required: true, methods: ['webauthn'], requirePhishingResistant: { administrators: false, highValueScopes: true } } }));
    // Alder says TOTP only; nothing of the Workspace's list is left, so the Workspace's stands.
    const { html } = await password('alder', 'al');
    expect(html).not.toContain('totp-secret');
    expect(passkeyForm(html)?.[2]).toBe('register');
    await gh.put('workspaces', workspace({ mfa: { required: true, requirePhishingResistant: { administrators: true, highValueScopes: true } } }));
    const admin = await password('alder', 'ali');
    expect(admin.html).toContain('needs a passkey');
    const plain = await password('alder', 'al');
    expect(plain.html).toContain('totp-secret');
    expect(passkeyForm(plain.html)).toBeNull();
    await gh.put('workspaces', workspace({ mfa: { required: true, requirePhishingResistant: { highValueScopes: true } } }));
  });
});

describe('mfa.requirePhishingResistant', () => {
  it('administrators: TOTP is not offered, only a passkey', async () => {
    const { s, html } = await password('cedar', 'cleo');
    expect(html).toContain('needs a passkey');
    expect(html).not.toContain('totp-secret');
    expect(passkeyForm(html)?.[2]).toBe('register');
    expect((await s.browser.submit(s.url, { code: '123456' })).status).toBe(403);
  });

  it('a user without a role keeps the choice of TOTP', async () => {
    const { html } = await password('cedar', 'cy');
    expect(html).toContain('totp-secret');
    expect(passkeyForm(html)?.[2]).toBe('register');
  });

  it("a Client's highValueScopes (the Workspace requires phishing resistance for them): only a passkey", async () => {
    const { html } = await password('cedar', 'cy', 'openid email payments:write');
    expect(html).toContain('needs a passkey');
    expect(html).not.toContain('totp-secret');
  });
});

describe('mfa.upstreamMfa: a federated sign-in and its IdP’s second factor', () => {
  const resign = (amr: string[] | undefined) => async (idToken: string) => {
    const claims = { ...decodeJwt(idToken), ...(amr ? { amr } : {}) };
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(idToken).kid! }).sign(await importJWK(peer.privateJwk as JsonWebKey, 'RS256'));
  };
  async function federated(org: string, email: string): Promise<Started> {
    let s = await submit(await startSignIn(await discover(org, `${org}-app`), { scope: 'openid email' }), { email });
    s = await submit(s, { email, password: 'peer-pass' }, `${issuer(org)}/broker/`);
    return resume(s, s.url);
  }

  it('require-local (the default): without the IdP asserting MFA the user adds a Gatehouse factor', async () => {
    peer.tamper = resign(undefined);
    const s = await federated('elm', 'eli@elm.example');
    expect(s.url).toMatch(/\/mfa$/);
  });

  it('require-local: an IdP that asserts MFA (amr mfa) is taken at its word', async () => {
    peer.tamper = resign(['pwd', 'mfa']);
    const s = await federated('elm', 'eli@elm.example');
    expect(s.url.startsWith(CALLBACK)).toBe(true);
    const t = await oidc.authorizationCodeGrant(await discover('elm', 'elm-app'), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
    expect(t.claims()).toMatchObject({ amr: ['fed', 'mfa'], acr: 'urn:gatehouse:acr:mfa' });
  });

  it('trust: the IdP’s sign-in is complete without a Gatehouse factor, and the token does not claim one', async () => {
    peer.tamper = resign(undefined);
    const s = await federated('dogwood', 'dora@dogwood.example');
    expect(s.url.startsWith(CALLBACK)).toBe(true);
    const t = await oidc.authorizationCodeGrant(await discover('dogwood', 'dogwood-app'), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
    expect(t.claims()).toMatchObject({ amr: ['fed'], acr: 'urn:gatehouse:acr:fed' });
  });

  it('a Workspace that declares require-local binds an organization that says trust', async () => {
    await gh.put('workspaces', workspace({ mfa: { required: true, upstreamMfa: 'require-local' } }));
    peer.tamper = resign(undefined);
    const s = await federated('dogwood', 'dora@dogwood.example');
    expect(s.url).toMatch(/\/mfa$/);
    await gh.put('workspaces', workspace({ mfa: { required: true, requirePhishingResistant: { highValueScopes: true } } }));
  });
});
