/**
 * Guided IdP setup through the admin API, as the portal drives it: a partner administrator
 * inspects its IdP, saves a draft, tests it with a real sign-in at the demo peers (nobody is
 * provisioned; the claims that came back are shown), then enables it as an IdPConnection
 * marked `source: portal`. Every guardrail a delegated administrator could try to cross.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { Browser } from '../../support/browser.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';
import * as oidc from 'openid-client';
import { formAction, hiddenFields, startSignIn, submit, text } from '../broker/flow.ts';
import { startOidcPeer, type OidcPeer } from '../../../demo/peers/oidc-idp.ts';
import { startSamlPeer, type SamlPeer } from '../../../demo/peers/saml-idp.ts';

let gh: TestServer;
let acmeOidc: OidcPeer;
let acmeSaml: SamlPeer;
const PASSWORD = 'correct horse battery staple';
const tokens: Record<string, string> = {};
const as = (who: string) => adminAs(gh, tokens[who]!);
const sso = (org = 'acme') => `/admin/v1/namespaces/${NS}/organizations/${org}/sso`;
const issuerOf = (org: string) => `${gh.url}/${NS}/${org}`;
const consoleClient = (name: string, org: string) => ({ ...client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }), metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString(), federationSetup: { allowLoopbackHttp: true } });
  acmeOidc = await startOidcPeer({
    clientId: 'gatehouse-acme',
    clientSecret: 'acme-upstream-secret',
    redirectUris: [`${issuerOf('acme')}/broker/acme-oidc/callback`],
    users: [
      { sub: 'a-1', email: 'ada@acme.example', password: 'acme-pass', name: 'Ada Acme' },
      { sub: 'a-2', email: 'mallory@elsewhere.example', password: 'acme-pass', name: 'Mallory' },
    ],
    title: 'Acme SSO',
  });
  acmeSaml = await startSamlPeer({ users: [{ email: 'sam@labs.acme.example', password: 'acme-pass', name: 'Sam Labs' }], title: 'Acme ADFS' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('acme', { displayName: 'Acme Industries', emailDomains: ['acme.example', 'labs.acme.example'] }));
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', emailDomains: ['forge.example', 'forge-staff.example'] }));
  await gh.put('idpconnections', idp('acme-directory', 'acme', { type: 'directory', oidc: undefined }));
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
  await gh.put('idpconnections', idp('forge-oidc', 'forge', { emailDomains: ['forge.example'] }));
  await gh.put('clients', consoleClient('acme-console', 'acme'));
  await gh.put('clients', consoleClient('forge-console', 'forge'));
  await gh.put('users', user('root', 'acme', { email: 'root@acme.example', roles: ['organization-admin'] }));
  await gh.put('users', user('aud', 'acme', { email: 'aud@acme.example', roles: ['auditor'] }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge-staff.example', roles: ['organization-admin'] }));
  for (const [name, org] of [
    ['root', 'acme'],
    ['aud', 'acme'],
    ['fred', 'forge'],
  ] as const) {
    const secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-console/secret`)).body.clientSecret;
    await setPassword(gh, name, PASSWORD);
    tokens[name] = (await signIn(gh, org, `${org}-console`, secret, { email: (await gh.store.users.find(NS, name))!.email, password: PASSWORD })).access_token;
  }
});
afterAll(async () => {
  await gh.close();
  await acmeOidc.close();
  await acmeSaml.close();
});

/** The test tab: the IdP's sign-in form, then back to Gatehouse's callback or ACS, which shows the result. */
async function testTab(url: string, credentials: { email: string; password: string }): Promise<{ status: number; page: string }> {
  const browser = new Browser();
  const form = await browser.follow(url);
  const html = await form.res.text();
  if (!/action="/.test(html)) throw new Error(`no sign-in form at ${form.url} (${form.res.status}): ${html.slice(0, 300)}`);
  const posted = await browser.submit(formAction(html, form.url), { ...hiddenFields(html), ...credentials });
  let last = posted.status >= 300 && posted.status < 400 ? await browser.follow(new URL(posted.headers.get('location')!, form.url).href) : { url: form.url, res: posted };
  let body = await last.res.text();
  if (/name="SAMLResponse"/.test(body)) {
    // The SAML IdP's self-posting form (HTTP-POST binding), as a browser would submit it.
    const acs = await browser.submit(formAction(body, last.url), hiddenFields(body));
    last = { url: last.url, res: acs };
    body = await acs.text();
  }
  return {
    status: last.res.status,
    page: body
      .replace(/<[^>]+>/g, ' ')
      .replace(/&#39;/g, "'")
      .replace(/\s+/g, ' '),
  };
}

const oidcDraft = { type: 'oidc', displayName: 'Acme SSO', emailDomains: ['acme.example'], oidc: { issuer: '', clientId: 'gatehouse-acme', clientSecret: 'acme-upstream-secret' } };
const auditOf = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=100`)).body.items as { actor: string; organization: string; outcome: string; data: Record<string, unknown> }[];

describe('OpenID Connect, from the issuer URL to an enabled connection', () => {
  it('inspects the issuer: what was read', async () => {
    const res = await as('root')('POST', `${sso()}/inspect`, { type: 'oidc', issuer: acmeOidc.url });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: 'oidc', entityId: acmeOidc.url, endpoints: { authorization: `${acmeOidc.url}/auth` }, keys: [{ kid: 'peer-1' }] });
    expect((await auditOf('federation.inspected'))[0]).toMatchObject({ organization: 'acme', data: { source: 'portal', target: acmeOidc.url } });
  });

  it('saves a draft, keeps the client secret write-only, and says what to register at the IdP', async () => {
    const res = await as('root')('PUT', `${sso()}/drafts/acme-oidc`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'acme-oidc', state: 'draft', revision: 1, register: { redirectUri: `${issuerOf('acme')}/broker/acme-oidc/callback` }, spec: { oidc: { clientSecretRef: { name: 'acme-oidc-client-secret', key: 'client-secret' } }, jit: { enabled: true } } });
    expect(JSON.stringify(res.body)).not.toContain('acme-upstream-secret');
    expect(JSON.stringify(await auditOf('Secret.created'))).not.toContain('acme-upstream-secret');
  });

  it('is not enabled before a test sign-in succeeded', async () => {
    const res = await as('root')('POST', `${sso()}/drafts/acme-oidc/enable`);
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/has not been tested: run a test sign-in that succeeds/);
  });

  it('records a failed test when the IdP vouches for an address outside the connection’s domains', async () => {
    const { url } = (await as('root')('POST', `${sso()}/drafts/acme-oidc/test`)).body;
    const tab = await testTab(url, { email: 'mallory@elsewhere.example', password: 'acme-pass' });
    expect(tab.page).toMatch(/Test sign-in failed .* mallory@elsewhere.example, which is not in this connection's domains \(acme.example\)/);
    expect((await as('root')('GET', `${sso()}/drafts/acme-oidc`)).body).toMatchObject({ state: 'test-failed', test: { ok: false, reason: 'email-domain' } });
    expect((await as('root')('POST', `${sso()}/drafts/acme-oidc/enable`)).status).toBe(409);
  });

  it('tests with a real sign-in in another tab: shows the claims, signs nobody in, provisions nobody', async () => {
    const before = (await gh.store.users.list(NS, ['acme'])).length;
    const started = await as('root')('POST', `${sso()}/drafts/acme-oidc/test`);
    expect(started.status).toBe(201);
    expect(new URL(started.body.url).origin).toBe(acmeOidc.url);
    const tab = await testTab(started.body.url, { email: 'ada@acme.example', password: 'acme-pass' });
    expect(tab.status).toBe(200);
    expect(tab.page).toMatch(/Test sign-in succeeded The IdP signed in ada@acme.example\. Nobody was signed in to any application and no user was created\./);
    expect(tab.page).toMatch(/email ada@acme.example/);
    expect(tab.page).toMatch(/name Ada Acme/);
    expect((await gh.store.users.list(NS, ['acme'])).length).toBe(before);
    expect((await as('root')('GET', `${sso()}/drafts/acme-oidc`)).body).toMatchObject({ state: 'tested', test: { ok: true, revision: 1, email: 'ada@acme.example', subject: 'a-1' } });
    expect((await auditOf('federation.tested'))[0]).toMatchObject({ organization: 'acme', outcome: 'success', data: { ok: true, revision: 1 } });
  });

  it('enables the tested draft as an IdPConnection marked source: portal, which then signs users in', async () => {
    const res = await as('root')('POST', `${sso()}/drafts/acme-oidc/enable`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ kind: 'IdPConnection', metadata: { name: 'acme-oidc', annotations: { 'gatehouse.dev/source': 'portal' } }, spec: { organizationRef: { name: 'acme' }, type: 'oidc' }, status: { source: { type: 'portal', author: expect.any(String) } } });
    expect(res.body.metadata.annotations['gatehouse.dev/managed-by']).toBeUndefined();
    expect((await auditOf('IdPConnection.created'))[0]).toMatchObject({ organization: 'acme', data: expect.objectContaining({ provenance: { source: 'portal' } }) });
    expect((await auditOf('federation.enabled'))[0]).toMatchObject({ organization: 'acme', data: { source: 'portal', revision: 1 } });
    expect((await as('root')('GET', sso())).body).toMatchObject({ drafts: [], connections: expect.arrayContaining([{ name: 'acme-oidc', type: 'oidc', source: 'portal', displayName: 'Acme SSO', emailDomains: ['acme.example'] }, expect.objectContaining({ name: 'acme-directory', source: 'declared' })]) });
    // Ahead of the declared directory: ada now signs in at Acme's own IdP, and is provisioned then.
    await gh.put('clients', client('acme-web', 'acme', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile'] }));
    const secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/acme-web/secret`)).body.clientSecret;
    const config = await oidc.discovery(new URL(issuerOf('acme')), `acme-web.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const atIdp = await submit(await startSignIn(config), { email: 'ada@acme.example' });
    expect(new URL(atIdp.url).origin).toBe(acmeOidc.url);
    const back = await submit(atIdp, { email: 'ada@acme.example', password: 'acme-pass' });
    expect(back.url.startsWith(CALLBACK)).toBe(true);
    expect((await gh.store.users.list(NS, ['acme'])).find((u) => u.email === 'ada@acme.example')).toMatchObject({ connection: 'acme-oidc', roles: [] });
  });
});

describe('SAML, from metadata to an enabled connection', () => {
  it('reads metadata by URL or pasted XML, tests through the draft’s own ACS and SP metadata, and enables', async () => {
    const pasted = await as('root')('POST', `${sso()}/inspect`, { type: 'saml', metadataXml: acmeSaml.metadataXml });
    expect(pasted.body).toMatchObject({ entityId: acmeSaml.entityId, endpoints: { singleSignOn: `${acmeSaml.url}/sso` }, certificates: [{ subject: expect.stringMatching(/^CN=pinnacle-idp/), status: 'valid' }] });
    const saved = await as('root')('PUT', `${sso()}/drafts/acme-saml`, { type: 'saml', emailDomains: ['labs.acme.example'], saml: { metadataUrl: `${acmeSaml.url}/metadata` } });
    expect(saved.body.register).toEqual({ acsUrl: `${issuerOf('acme')}/saml/acme-saml/acs`, spEntityId: `${issuerOf('acme')}/saml/acme-saml/metadata`, spMetadataUrl: `${issuerOf('acme')}/saml/acme-saml/metadata` });
    const spMetadata = await fetch(saved.body.register.spMetadataUrl);
    expect(spMetadata.status).toBe(200);
    expect(await spMetadata.text()).toContain(saved.body.register.acsUrl);
    const { url } = (await as('root')('POST', `${sso()}/drafts/acme-saml/test`)).body;
    const tab = await testTab(url, { email: 'sam@labs.acme.example', password: 'acme-pass' });
    expect(tab.page).toMatch(/Test sign-in succeeded The IdP signed in sam@labs.acme.example/);
    expect((await gh.store.users.list(NS, ['acme'])).some((u) => u.email === 'sam@labs.acme.example')).toBe(false);
    const enabled = await as('root')('POST', `${sso()}/drafts/acme-saml/enable`);
    expect(enabled.body).toMatchObject({ spec: { type: 'saml', saml: { metadataUrl: `${acmeSaml.url}/metadata` } }, status: { source: { type: 'portal' } } });
  });
});

describe('guardrails', () => {
  it('a partner administrator cannot inspect for, draft for, or attach an IdP to another organization', async () => {
    for (const [method, path, body] of [
      ['POST', `${sso('forge')}/inspect`, { type: 'oidc', issuer: acmeOidc.url }],
      ['PUT', `${sso('forge')}/drafts/evil`, oidcDraft],
      ['GET', sso('forge'), undefined],
    ] as const) {
      const res = await as('root')(method, path, body);
      expect([path, res.status]).toEqual([path, 403]);
    }
    // Naming the other organization in the draft itself is not a field it has.
    const smuggled = await as('root')('PUT', `${sso()}/drafts/smuggled`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url }, organizationRef: { name: 'forge' } });
    expect(smuggled.status).toBe(400);
    expect(smuggled.body.detail).toMatch(/Unrecognized key: "organizationRef"/);
  });

  it('only its own email domains', async () => {
    const res = await as('root')('PUT', `${sso()}/drafts/acme-more`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url }, emailDomains: ['acme.example', 'forge.example'] });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ detail: expect.stringMatching(/emailDomains: forge.example is not among your organization's domains \(acme.example, labs.acme.example\)/), errors: [{ path: 'emailDomains' }] });
  });

  it('never over a connection declared in git, nor under its name, nor another organization’s name', async () => {
    const declaredDomain = await as('fred')('PUT', `${sso('forge')}/drafts/forge-own`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url }, emailDomains: ['forge.example'] });
    expect(declaredDomain.status).toBe(409);
    expect(declaredDomain.body.detail).toMatch(/forge.example already signs in through forge-oidc, declared by your platform team/);
    const declaredName = await as('fred')('PUT', `${sso('forge')}/drafts/forge-oidc`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url }, emailDomains: ['forge-staff.example'] });
    expect(declaredName.status).toBe(409);
    const othersName = await as('fred')('PUT', `${sso('forge')}/drafts/acme-oidc`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url }, emailDomains: ['forge-staff.example'] });
    expect(othersName.status).toBe(409);
    expect(othersName.body.detail).not.toMatch(/acme/i.source.replace('acme', 'Acme Industries'));
    expect((await as('fred')('GET', `${sso('forge')}/drafts/acme-oidc`)).status).toBe(404);
  });

  it('never attaches the IdP-provisioned users to roles, and https only outside tests', async () => {
    const saved = await as('root')('PUT', `${sso()}/drafts/acme-roles`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url }, jit: { enabled: true, defaultRoles: ['organization-admin'] } });
    expect(saved.status).toBe(400);
    expect(saved.body.detail).toMatch(/Unrecognized key: "jit"/);
    const metadata = await as('root')('POST', `${sso()}/inspect`, { type: 'saml', metadataUrl: 'https://169.254.169.254/latest/meta-data/' });
    expect(metadata.status).toBe(422);
    expect(metadata.body).toMatchObject({ title: 'IdP could not be read', errors: [{ path: 'metadataUrl', message: expect.stringMatching(/private or reserved address/) }] });
  });

  it('an auditor reads the setup but changes nothing', async () => {
    expect((await as('aud')('GET', sso())).status).toBe(200);
    expect((await as('aud')('POST', `${sso()}/inspect`, { type: 'oidc', issuer: acmeOidc.url })).status).toBe(403);
  });

  it('a draft signs nobody in: its callback without a test in progress is refused', async () => {
    await as('root')('PUT', `${sso()}/drafts/acme-late`, { ...oidcDraft, oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url, clientSecret: undefined } });
    const res = await fetch(`${issuerOf('acme')}/broker/acme-late/callback?code=x&state=unknown`);
    expect(res.status).toBe(400);
    expect(await text(res)).toMatch(/does not match a sign-in in progress/);
  });

  it('a test that changed under it is not recorded, and enabling needs a test of the current revision', async () => {
    await as('root')('PUT', `${sso()}/drafts/acme-oidc`, { ...oidcDraft, displayName: 'one', oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url } });
    const { url } = (await as('root')('POST', `${sso()}/drafts/acme-oidc/test`)).body;
    await as('root')('PUT', `${sso()}/drafts/acme-oidc`, { ...oidcDraft, displayName: 'two', oidc: { ...oidcDraft.oidc, issuer: acmeOidc.url } });
    const tab = await testTab(url, { email: 'ada@acme.example', password: 'acme-pass' });
    expect(tab.page).toMatch(/The draft changed while this test ran: this result was not recorded/);
    expect((await as('root')('POST', `${sso()}/drafts/acme-oidc/enable`)).status).toBe(409);
  });

  it('disables only what the portal enabled', async () => {
    expect((await as('root')('DELETE', `${sso()}/connections/acme-directory`)).status).toBe(409);
    expect((await as('fred')('DELETE', `${sso('forge')}/connections/acme-saml`)).status).toBe(404);
    expect((await as('root')('DELETE', `${sso()}/connections/acme-saml`)).status).toBe(204);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/acme-saml`)).status).toBe(404);
  });
});
