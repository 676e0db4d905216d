import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { issuerPath } from '../../../api/index.ts';
import { startOidcPeer, type OidcPeer } from '../../../demo/peers/oidc-idp.ts';
import { Browser } from '../../support/browser.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword } from '../../support/sign-in.ts';
import { resume, startSignIn, submit, text } from '../broker/flow.ts';

/*
 * Token lifecycle (issue #15): every path that ends access ends every token — opaque and
 * JWT access tokens, refresh tokens, the sign-in session, token-exchange results — at the
 * organization's issuer and at the shared issuer, in the transaction of the change, audited.
 * Each block first obtains every kind of token with openid-client as the relying party and
 * shows them live, then makes the change through the admin API.
 *
 * The injected clock starts at wall time (oidc-provider stamps iat/exp from the machine's).
 */

let gh: TestServer;
let quayIdp: OidcPeer;
const PASSWORD = 'correct horse battery staple';
const API = 'https://api.blixit.example';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const insecure = { execute: [oidc.allowInsecureRequests] };
const base = `/admin/v1/namespaces/${NS}`;
const secrets: Record<string, string> = {};
const issuerOf = (org?: string) => `${gh.url}/${NS}${org ? `/${org}` : ''}`;
const contract = (id: string, endsAt: string) => ({ id, partnerType: 'supplier', owner: 'owner@blixit.example', endsAt });
const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');

/** A fresh relying-party configuration (a re-created client has a new secret). */
const rp = (org: string | undefined, name: string) => oidc.discovery(new URL(issuerOf(org)), `${name}.${NS}`, secrets[name], undefined, insecure);
const newSecret = async (name: string) => (secrets[name] = (await gh.admin('POST', `${base}/clients/${name}/secret`)).body.clientSecret);

const webClient = (name: string, org: string | undefined) => client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] });
const agentClient = (name: string, org: string | undefined, subject: string) => client(name, org, { type: 'm2m', redirectUris: undefined, scopes: ['api:read'], audiences: [API], tokenExchange: { enabled: true, subjectClients: [{ name: subject }] } });
const syncClient = (name: string, org: string | undefined) => client(name, org, { type: 'm2m', redirectUris: undefined, scopes: ['api:read'], audiences: [API] });

/** An organization with its own directory, `{org}-web` (users), `{org}-agent` (machine, exchanges `{org}-web`'s tokens), `{org}-sync` (a bystander serving the API's audience, which introspects API tokens). */
async function partner(org: string, spec: object = {}) {
  await gh.put('organizations', organization(org, spec));
  await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('accesspolicies', accessPolicy(`${org}-api`, org, { scopes: [{ scope: 'api:read' }] }));
  await gh.put('clients', webClient(`${org}-web`, org));
  await gh.put('clients', agentClient(`${org}-agent`, org, `${org}-web`));
  await gh.put('clients', syncClient(`${org}-sync`, org));
  for (const c of ['web', 'agent', 'sync']) await newSecret(`${org}-${c}`);
}

async function directoryUser(name: string, org: string) {
  await gh.put('users', user(name, org, { email: `${name}@${org}.example` }));
  await setPassword(gh, name, PASSWORD);
  return { email: `${name}@${org}.example`, password: PASSWORD };
}

interface Holdings {
  org: string | undefined;
  clients: { web: string; agent: string; sync: string };
  browser: Browser;
  /** Opaque (the web client declares no audience): userinfo's. */
  access: string;
  refresh: string;
  idToken: string;
  /** The agent's token-exchange result for `access` (a JWT bound to the user's grant). */
  exchanged: string;
  /** The agent's own client-credentials JWT. */
  machine: string;
}

type SignIn = (config: oidc.Configuration, browser: Browser, params: Record<string, string>) => Promise<string>;

/** Directory sign-in: the password form, in one browser that keeps its session cookie. */
const withPassword =
  (credentials: { email: string; password: string }): SignIn =>
  async (config, browser, params) => {
    const s = await submit(await startSignIn(config, params, browser), credentials);
    return s.url;
  };

/** Federated sign-in: email at Gatehouse, password at Quay's own IdP, back through Gatehouse. */
const atQuay =
  (email: string, password: string): SignIn =>
  async (config, browser, params) => {
    let s = await submit(await startSignIn(config, params, browser), { email });
    if (!s.url.startsWith(quayIdp.url)) throw new Error(`expected Quay's sign-in page, got ${s.res.status} at ${s.url}: ${await text(s.res)}`);
    s = await submit(s, { email, password }, `${issuerOf('quay')}/broker/`);
    return (await resume(s, s.url)).url;
  };

/** Every kind of token for one user through one issuer's clients. */
async function obtain(org: string | undefined, clients: Holdings['clients'], signIn: SignIn): Promise<Holdings> {
  const browser = new Browser();
  const config = await rp(org, clients.web);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const callback = await signIn(config, browser, { scope: 'openid email offline_access', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
  if (!callback.startsWith(CALLBACK)) throw new Error(`sign-in did not come back to the client: ${callback}`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
  const agent = await rp(org, clients.agent);
  const exchanged = await oidc.genericGrantRequest(agent, GRANT, { subject_token: tokens.access_token, subject_token_type: ACCESS });
  // At the shared issuer a machine gets no API scope (no organization's policy applies to it).
  const machine = await oidc.clientCredentialsGrant(agent, org ? { scope: 'api:read' } : {});
  return { org, clients, browser, access: tokens.access_token, refresh: tokens.refresh_token!, idToken: tokens.id_token!, exchanged: exchanged.access_token, machine: machine.access_token };
}

/**
 * Waits for the machine's clock to reach the next whole second. Cutoffs fail closed: a token
 * signed in the same second as the change that ended its predecessors (iat has whole seconds)
 * counts as from before it, so new grants are asked for after that second.
 */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));

/** A partner, one directory user of it, and every kind of token the user holds at the organization's issuer and at the shared one. */
async function heldAtBoth(org: string, name: string, spec: object = {}) {
  await partner(org, spec);
  const credentials = await directoryUser(name, org);
  return { credentials, h: await obtain(org, own(org), withPassword(credentials)), atShared: await obtain(undefined, shared, withPassword(credentials)) };
}

/**
 * Asked by a caller entitled to the answer (token-access.ts): the user's own tokens by their
 * client, API tokens by the bystander that serves the API's audience. A deleted client cannot
 * authenticate, so its user's tokens are then asked by the bystander.
 */
const introspect = async (h: Holdings, token: string): Promise<boolean> => {
  const asked = async (caller: string) => (await oidc.tokenIntrospection(await rp(h.org, caller), token)).active;
  if (token !== h.access && token !== h.refresh) return asked(h.clients.sync);
  try {
    return await asked(h.clients.web);
  } catch (error) {
    if ((error as { error?: string }).error !== 'invalid_client') throw error;
    return asked(h.clients.sync);
  }
};
const userinfo = async (h: Holdings) => oidc.fetchUserInfo(await rp(h.org, h.clients.web), h.access, oidc.skipSubjectCheck);
const refresh = async (h: Holdings) => oidc.refreshTokenGrant(await rp(h.org, h.clients.web), h.refresh);
const exchange = async (h: Holdings) => oidc.genericGrantRequest(await rp(h.org, h.clients.agent), GRANT, { subject_token: h.access, subject_token_type: ACCESS });

/** The sign-in session, asked without any page (prompt=none): the code it hands the client, if any. */
async function silently(h: Holdings): Promise<URLSearchParams> {
  const url = oidc.buildAuthorizationUrl(await rp(h.org, h.clients.web), { redirect_uri: CALLBACK, scope: 'openid email', prompt: 'none', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: oidc.randomState() });
  const { url: landed } = await h.browser.follow(url.href, CALLBACK);
  return landed.startsWith(CALLBACK) ? new URL(landed).searchParams : new URLSearchParams({ error: 'refused-page' });
}

async function expectLive(h: Holdings, options: { machine?: boolean } = {}) {
  for (const token of [h.access, h.refresh, h.exchanged, ...(options.machine === false ? [] : [h.machine])]) expect(await introspect(h, token)).toBe(true);
  expect((await userinfo(h)).sub).toBeDefined();
  expect((await silently(h)).get('code')).toBeTruthy();
}

/** Every token of `h` is inactive everywhere it is presented. `web`/`agent`: what refresh and exchange answer (a deleted client cannot authenticate). */
async function expectEnded(h: Holdings, options: { machine?: boolean; refresh?: string; exchange?: string; session?: boolean } = {}) {
  for (const token of [h.access, h.refresh, h.exchanged, ...(options.machine ? [h.machine] : [])]) expect(await introspect(h, token)).toBe(false);
  await expect(userinfo(h)).rejects.toMatchObject({ status: 401 });
  await expect(refresh(h)).rejects.toMatchObject({ error: options.refresh ?? 'invalid_grant' });
  await expect(exchange(h)).rejects.toMatchObject({ error: options.exchange ?? 'invalid_grant' });
  if (options.session === false) return;
  const session = await silently(h);
  expect(session.get('code')).toBeNull();
  expect(session.get('error')).toBeTruthy();
}

async function audit(action: string, filter: string) {
  return (await gh.admin('GET', `/admin/v1/audit?action=${action}&${filter}&limit=50`)).body.items as any[];
}

const shared = { web: 'lounge', agent: 'lounge-agent', sync: 'lounge-sync' };
const own = (org: string) => ({ web: `${org}-web`, agent: `${org}-agent`, sync: `${org}-sync` });

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  await gh.put('workspaces', workspace({ tokens: { accessToken: '1h', idToken: '1h', refreshToken: '8h' } }));
  await gh.put('clients', webClient('lounge', undefined));
  await gh.put('clients', agentClient('lounge-agent', undefined, 'lounge'));
  await gh.put('clients', syncClient('lounge-sync', undefined));
  for (const name of Object.values(shared)) await newSecret(name);
});
afterAll(async () => {
  await gh.close();
  await quayIdp?.close();
});

describe('a Client deleted ends its tokens, and one re-created under the same name revives none of them', () => {
  let h: Holdings;
  let atShared: Holdings;
  let control: Holdings;
  let kept: { payload: string; grantId: string };
  const kiosk = { web: 'kiosk', agent: 'kiosk-agent', sync: 'lounge-sync' };

  beforeAll(async () => {
    await partner('kilo');
    const kira = await directoryUser('kira', 'kilo');
    await gh.put('clients', webClient('kiosk', undefined));
    await gh.put('clients', agentClient('kiosk-agent', undefined, 'kiosk'));
    for (const name of ['kiosk', 'kiosk-agent']) await newSecret(name);
    h = await obtain('kilo', own('kilo'), withPassword(kira));
    atShared = await obtain(undefined, kiosk, withPassword(kira));
    control = await obtain(undefined, shared, withPassword(kira));
    const row = await gh.store.oidc.find(issuerPath(NS, 'kilo'), 'RefreshToken', 'id', h.refresh, gh.clock.now());
    kept = { payload: row!.payload, grantId: JSON.parse(row!.payload).grantId };
  });

  /** Puts the refresh token's row back as a replica still serving the old client would have written it; introspects and revokes it by the raw endpoints. */
  async function outlive() {
    await gh.store.oidc.upsert(issuerPath(NS, 'kilo'), 'RefreshToken', h.refresh, kept.payload, { grantId: kept.grantId }, gh.clock.now() + 3600_000);
    for (const endpoint of ['introspection', 'revocation']) {
      const res = await fetch(`${issuerOf('kilo')}/token/${endpoint}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`kilo-sync.${NS}:${secrets['kilo-sync']}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: h.refresh }),
      });
      expect(res.status).toBe(200);
      if (endpoint === 'introspection') expect(await res.json()).toEqual({ active: false });
    }
  }

  it('before: every token is live at both issuers', async () => {
    await expectLive(h);
    await expectLive(atShared);
  });

  it('DELETE ends them in the same change, audited with what it revoked', async () => {
    // The agents first: they name the web clients as whose tokens they may exchange.
    for (const name of ['kilo-agent', 'kilo-web', 'kiosk-agent', 'kiosk']) expect((await gh.admin('DELETE', `${base}/clients/${name}`)).status).toBe(200);
    const deleted = new Map((await audit('Client.deleted', `namespace=${NS}`)).map((r) => [r.name, r.data.revoked]));
    for (const name of ['kilo-web', 'kiosk']) expect(deleted.get(name)).toBeGreaterThan(0);
    // A machine's tokens are JWTs the store never held: they end by the client's cutoff.
    expect(deleted.get('kilo-agent')).toBe(0);
    // Gone clients cannot authenticate at all.
    await expectEnded(h, { machine: true, refresh: 'invalid_client', exchange: 'invalid_client' });
    await expectEnded(atShared, { refresh: 'invalid_client', exchange: 'invalid_client' });
    // Another client of the same user at the shared issuer is untouched.
    await expectLive(control);
    // A row of the deleted client found after all: an inactive answer, not a model whose client is gone.
    await outlive();
  });

  it('re-created under the same name (and client_id), nothing of the old one comes back', async () => {
    await gh.put('clients', webClient('kilo-web', 'kilo'));
    await gh.put('clients', agentClient('kilo-agent', 'kilo', 'kilo-web'));
    await gh.put('clients', webClient('kiosk', undefined));
    await gh.put('clients', agentClient('kiosk-agent', undefined, 'kiosk'));
    for (const name of ['kilo-web', 'kilo-agent', 'kiosk', 'kiosk-agent']) await newSecret(name);
    // The user's sign-in session is the issuer's, not the client's: it signs the user in to the
    // new client (single sign-on, with a new grant), as it would to any other; see below.
    await expectEnded(h, { machine: true, session: false });
    await expectEnded(atShared, { session: false });
    // New grants work: in a new browser, and in the old one, whose sign-in session outlived the client.
    await nextSecond();
    await expectLive(await obtain('kilo', own('kilo'), withPassword({ email: 'kira@kilo.example', password: PASSWORD })));
    const sameSession: SignIn = async (config, _browser, params) => (await startSignIn(config, params, h.browser)).url;
    const again = await obtain('kilo', own('kilo'), sameSession);
    expect(decodeJwt(again.idToken).sub).toBe('kira');
    await expectLive({ ...again, browser: h.browser });
    // …and the old tokens stay ended beside the new ones.
    await expectEnded(h, { machine: true, session: false });
  });

  it('a refresh token of the old client that outlived the delete (a stale replica wrote it) is inactive, never a 500', async () => {
    await outlive();
    await expect(refresh(h)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('an IdPConnection deleted ends its just-in-time users’ grants and sessions', () => {
  let h: Holdings;
  let atShared: Holdings;
  let declared: Holdings;

  beforeAll(async () => {
    quayIdp = await startOidcPeer({ clientId: 'gatehouse', clientSecret: 'quay-upstream-secret', redirectUris: [`${issuerOf('quay')}/broker/quay-sso/callback`], users: [{ sub: 'q-1', email: 'ivo@quay.example', password: 'quay-pass', name: 'Ivo' }], title: 'Quay SSO' });
    await partner('quay');
    // The directory serves another domain of Quay's: its declared users are not the connection's.
    await gh.put('organizations', organization('quay', { emailDomains: ['quay.example', 'staff.quay.example'] }));
    await gh.put('idpconnections', idp('quay-directory', 'quay', { type: 'directory', oidc: undefined, emailDomains: ['staff.quay.example'] }));
    expect((await gh.admin('PUT', `${base}/secrets/quay-sso`, { data: { 'client-secret': 'quay-upstream-secret' } })).status).toBe(201);
    await gh.put('idpconnections', idp('quay-sso', 'quay', { oidc: { issuer: quayIdp.url, clientId: 'gatehouse', clientSecretRef: { name: 'quay-sso', key: 'client-secret' } }, emailDomains: ['quay.example'], jit: { enabled: true } }));
    await gh.put('users', user('una', 'quay', { email: 'una@staff.quay.example' }));
    await setPassword(gh, 'una', PASSWORD);
    h = await obtain('quay', own('quay'), atQuay('ivo@quay.example', 'quay-pass'));
    atShared = await obtain(undefined, shared, atQuay('ivo@quay.example', 'quay-pass'));
    declared = await obtain('quay', own('quay'), withPassword({ email: 'una@staff.quay.example', password: PASSWORD }));
  });

  it('before: the federated user holds live tokens at both issuers', async () => {
    await expectLive(h);
    await expectLive(atShared);
  });

  it('DELETE …/idpconnections/quay-sso ends them at both issuers, audited; the directory’s users keep theirs', async () => {
    expect((await gh.admin('DELETE', `${base}/idpconnections/quay-sso`)).status).toBe(200);
    const [record] = await audit('IdPConnection.deleted', 'organization=quay');
    expect(record).toMatchObject({ name: 'quay-sso', data: { users: 1, revoked: expect.any(Number) } });
    expect(record.data.revoked).toBeGreaterThan(0);
    await expectEnded(h);
    await expectEnded(atShared);
    await expectLive(declared);
  });
});

describe('an Organization deleted ends its tokens, and one declared again under its name revives none', () => {
  it('DELETE …?cascade=true, then the same declarations again', async () => {
    const { credentials, h, atShared } = await heldAtBoth('papa', 'pim');
    await expectLive(h);
    expect((await gh.admin('DELETE', `${base}/organizations/papa?cascade=true`)).status).toBe(200);
    // Deepest first: its clients and users went before it, each ending what it held.
    const cascade = (await gh.admin('GET', `/admin/v1/audit?namespace=${NS}&limit=300`)).body.items.filter((r: any) => r.name === 'papa' || r.data.cascadeFrom === 'Organization/papa');
    expect(cascade.find((r: any) => r.action === 'Organization.deleted').data.revoked).toBe(0);
    expect(cascade.reduce((sum: number, r: any) => sum + (r.data.revoked ?? 0), 0)).toBeGreaterThan(0);
    await partner('papa');
    await directoryUser('pim', 'papa');
    await expectEnded(h, { machine: true });
    await expectEnded(atShared);
    await nextSecond();
    await expectLive(await obtain('papa', own('papa'), withPassword(credentials)));
  });
});

describe('a User deactivated ends every token of theirs at both issuers', () => {
  const held: Record<string, { own: Holdings; shared: Holdings }> = {};

  beforeAll(async () => {
    await partner('lima');
    for (const name of ['lio', 'lea', 'len']) {
      const credentials = await directoryUser(name, 'lima');
      held[name] = { own: await obtain('lima', own('lima'), withPassword(credentials)), shared: await obtain(undefined, shared, withPassword(credentials)) };
    }
  });

  it('by declaration (spec.active: false), audited as user.deactivated via declaration', async () => {
    await expectLive(held.lio!.own);
    await gh.put('users', user('lio', 'lima', { email: 'lio@lima.example', active: false }));
    const [record] = await audit('user.deactivated', 'subject=lio');
    expect(record).toMatchObject({ kind: 'User', name: 'lio', data: { via: 'declaration' } });
    expect(record.data.revoked).toBeGreaterThan(0);
    await expectEnded(held.lio!.own);
    await expectEnded(held.lio!.shared);
    // The others are untouched.
    await expectLive(held.len!.own);
  });

  it('by the deprovisioning hook, audited as user.deactivated via deprovision', async () => {
    const res = await gh.admin('POST', `${base}/deprovision`, { user: 'lea', reason: 'left the partner' });
    expect(res.status).toBe(200);
    expect((await audit('user.deactivated', 'subject=lea'))[0]).toMatchObject({ data: { via: 'deprovision', reason: 'left the partner' } });
    await expectEnded(held.lea!.own);
    await expectEnded(held.lea!.shared);
    await expectLive(held.len!.shared);
  });

  it('by deleting the declaration', async () => {
    expect((await gh.admin('DELETE', `${base}/users/len`)).status).toBe(200);
    expect((await audit('User.deleted', 'organization=lima'))[0].data.revoked).toBeGreaterThan(0);
    await expectEnded(held.len!.own);
    await expectEnded(held.len!.shared);
  });
});

describe('a contract that ends ends every token, at the organization’s issuer and the shared one', () => {
  it('ended early by a new endsAt: the change ends them in its transaction, audited', async () => {
    const { h, atShared } = await heldAtBoth('nova', 'nia');
    await expectLive(h);
    await expectLive(atShared);
    await gh.put('organizations', organization('nova', { contract: contract('C-nova', new Date(gh.clock.now() - 1000).toISOString()) }));
    const [record] = await audit('Organization.tokens-ended', 'organization=nova');
    expect(record).toMatchObject({ actor: 'admin-token:bootstrap', data: { reason: 'contract-ended', standing: 'lost' } });
    expect(record.data.revoked).toBeGreaterThan(0);
    await expectEnded(h, { machine: true });
    await expectEnded(atShared);
  });

  it('passing its end (nothing changed): every use is refused at its end, the monitor revokes, an extension revives nothing', async () => {
    const endsAt = inMinutes(30);
    const { credentials, h, atShared } = await heldAtBoth('mike', 'mia', { contract: contract('C-mike', endsAt) });
    const start = gh.clock.now();
    gh.clock.set(new Date(Date.parse(endsAt) + 1000).toISOString());
    try {
      await expectEnded(h, { machine: true });
      await expectEnded(atShared);
      await gh.gatehouse.lifecycle.tick();
      const [ended] = await audit('Organization.contract-ended', 'organization=mike');
      expect(ended.data.revoked).toBeGreaterThan(0);
      await gh.put('organizations', organization('mike', { contract: contract('C-mike', '2027-06-30T00:00:00Z') }));
      expect((await audit('Organization.tokens-ended', 'organization=mike'))[0]).toMatchObject({ data: { reason: 'contract-ended', standing: 'restored' } });
      await expectEnded(h, { machine: true });
      await expectEnded(atShared);
    } finally {
      gh.clock.set(new Date(start).toISOString());
    }
    await nextSecond();
    const fresh = await obtain('mike', own('mike'), withPassword(credentials));
    await expectLive(fresh);
  });
});

describe('no access or ID token carries an exp past the contract end', () => {
  it('at the organization’s issuer and the shared one, for user, exchanged and machine tokens', async () => {
    const endsAt = inMinutes(10);
    const end = Date.parse(endsAt) / 1000;
    await partner('oscar', { contract: contract('C-oscar', endsAt) });
    const credentials = await directoryUser('olu', 'oscar');
    for (const org of ['oscar', undefined]) {
      const setAt = Date.now();
      gh.clock.set(new Date(setAt).toISOString());
      const h = await obtain(org, org ? own(org) : shared, withPassword(credentials));
      // Gatehouse judges with the injected clock, fixed at setAt; oidc-provider stamps iat from the
      // machine's, which moved on while the tokens were obtained, in whole seconds: that much slack, and no more.
      const latest = end + Math.ceil((Date.now() - setAt) / 1000) + 1;
      expect(decodeJwt(h.idToken).exp).toBeLessThanOrEqual(latest);
      expect(decodeJwt(h.exchanged).exp).toBeLessThanOrEqual(latest);
      const web = await rp(h.org, h.clients.web);
      for (const token of [h.access, h.refresh]) expect((await oidc.tokenIntrospection(web, token)).exp).toBeLessThanOrEqual(latest);
      if (h.org) expect(decodeJwt(h.machine).exp).toBeLessThanOrEqual(latest);
    }
    // The workspace's hour where the contract runs longer.
    const kira = await obtain('kilo', own('kilo'), withPassword({ email: 'kira@kilo.example', password: PASSWORD }));
    const id = decodeJwt(kira.idToken);
    expect(id.exp! - id.iat!).toBe(3600);
  });
});
