// Passkeys at the server: enrolment at the second-factor step, a passkey as the second factor,
// passwordless sign-in from the email-first page, and every answer an attacker would post
// (another origin or RP ID, a replayed or expired challenge, another organization's or user's
// credential, a counter that went back, no user verification where it is required). The
// answers are made by a software authenticator (real ES256 signatures over real authenticator
// data), posted as the page's own script would post them; the browser spec does the same in Chromium.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { SoftAuthenticator } from '../../support/authenticator.ts';
import { Browser } from '../../support/browser.ts';
import { passkeyForm, type PasskeyPage } from '../../support/passkey-form.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { CALLBACK, startSignIn, submit, type Started } from '../broker/flow.ts';

let gh: TestServer;
const secrets = new Map<string, string>();
const PASSWORD = 'correct horse battery staple';
const issuer = (org: string) => `${gh.url}/${NS}/${org}`;
const discover = (org: string, app: string) => oidc.discovery(new URL(issuer(org)), `${app}.${NS}`, secrets.get(app)!, undefined, { execute: [oidc.allowInsecureRequests] });
const CLIENTS: Record<string, string> = { cascade: 'timesheets', forge: 'orders' };

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  for (const org of ['cascade', 'forge']) {
    await gh.put('organizations', organization(org, { displayName: org, mfa: { required: true } }));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined, emailDomains: [`${org}.example`] }));
    await gh.put('clients', client(CLIENTS[org]!, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile'] }));
    secrets.set(CLIENTS[org]!, (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${CLIENTS[org]}/secret`)).body.clientSecret);
  }
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  await gh.put('users', user('ben', 'cascade', { email: 'ben@cascade.example' }));
  await gh.put('users', user('fiona', 'forge', { email: 'fiona@forge.example' }));
  for (const name of ['ana', 'ben', 'fiona']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh?.close();
});

/** Reads the current page and keeps it readable for the next step. */
async function read(s: Started): Promise<{ s: Started; html: string }> {
  const html = await s.res.text();
  return { s: { ...s, res: new Response(html, { status: s.res.status }) }, html };
}

/** Posts the passkey form as the page's script does, then follows redirects. */
async function post(s: Started, form: PasskeyPage, response: unknown, extra: Record<string, string> = {}): Promise<Started> {
  const posted = await s.browser.submit(form.action, { ...form.hidden, response: JSON.stringify(response), ...extra });
  if (posted.status < 300 || posted.status >= 400) return { ...s, res: posted };
  return { ...s, ...(await s.browser.follow(new URL(posted.headers.get('location')!, form.action).href, CALLBACK)) };
}

async function password(org: string, email: string): Promise<Started> {
  const s = await submit(await startSignIn(await discover(org, CLIENTS[org]!)), { email });
  return submit(s, { email, password: PASSWORD });
}

async function emailFirst(org: string): Promise<{ s: Started; form: PasskeyPage }> {
  const { s, html } = await read(await startSignIn(await discover(org, CLIENTS[org]!)));
  return { s, form: passkeyForm(html, s.url)! };
}

async function tokens(org: string, s: Started) {
  expect(s.url.startsWith(CALLBACK)).toBe(true);
  return oidc.authorizationCodeGrant(await discover(org, CLIENTS[org]!), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
}

const lastAudit = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=1`)).body.items[0];

/** Enrols a passkey for a user at the second-factor step of a password sign-in; returns the finished sign-in. */
async function enrol(org: string, email: string, authenticator: SoftAuthenticator, name = ''): Promise<Started> {
  const { s, html } = await read(await password(org, email));
  const form = passkeyForm(html, s.url)!;
  expect(form.mode).toBe('register');
  return post(s, form, authenticator.register(form.options as PublicKeyCredentialCreationOptionsJSON), { name });
}

let ana: SoftAuthenticator;
let fiona: SoftAuthenticator;

describe('enrolment at the second-factor step', () => {
  it('offers a passkey beside TOTP, enrols it, and the sign-in says so (amr hwk + user, acr phrh)', async () => {
    ana = new SoftAuthenticator(new URL(gh.url).origin);
    fiona = new SoftAuthenticator(new URL(gh.url).origin);
    const done = await enrol('cascade', 'ana@cascade.example', ana, 'Work laptop');
    const t = await tokens('cascade', done);
    expect(t.claims()).toMatchObject({ sub: 'ana', acr: 'phrh', amr: ['pwd', 'hwk', 'user', 'mfa'] });
    const [stored] = await gh.store.passkeys.list(NS, 'ana');
    expect(stored).toMatchObject({ organization: 'cascade', userId: 'ana', rpId: '127.0.0.1', name: 'Work laptop', deviceType: 'singleDevice' });
    expect(await lastAudit('passkey.added')).toMatchObject({ subject: 'ana', organization: 'cascade', data: { name: 'Work laptop', rpId: '127.0.0.1' } });
    // The "passkey added" message was committed with the credential (the notification outbox).
    const messages = await gh.store.notifications.list(NS, { organizations: ['cascade'] });
    expect(messages.filter((m) => m.message === 'passkey-added' && m.userId === 'ana')).toEqual([expect.objectContaining({ recipient: 'ana@cascade.example', variables: expect.objectContaining({ passkeyName: 'Work laptop' }) })]);
    await enrol('forge', 'fiona@forge.example', fiona);
  });

  it('asks for the passkey at the next sign-in and accepts it as the second factor', async () => {
    gh.clock.advance(60_000);
    const { s, html } = await read(await password('cascade', 'ana@cascade.example'));
    const form = passkeyForm(html, s.url)!;
    expect(form.mode).toBe('authenticate');
    expect((form.options as PublicKeyCredentialRequestOptionsJSON).allowCredentials?.map((c) => c.id)).toEqual([ana.credentials[0]!.id]);
    const t = await tokens('cascade', await post(s, form, ana.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON, { userVerified: false })));
    expect(t.claims()).toMatchObject({ acr: 'phrh', amr: ['pwd', 'hwk', 'user', 'mfa'] });
    expect(await lastAudit('login.mfa-verified')).toMatchObject({ subject: 'ana', data: { method: 'passkey' } });
  });

  it("refuses another user's passkey at a user's second-factor step, and a sign-in answer to an enrolment", async () => {
    const ben = new SoftAuthenticator(ana.origin);
    // Ben has none yet: the page offers to add one; a sign-in answer to that enrolment challenge is refused.
    const first = await read(await password('cascade', 'ben@cascade.example'));
    const enrolForm = passkeyForm(first.html, first.s.url)!;
    const challenge = (enrolForm.options as PublicKeyCredentialCreationOptionsJSON).challenge;
    const crossed = await post(first.s, { ...enrolForm, hidden: { ceremony: 'authenticate' } }, ana.authenticate({ challenge, rpId: '127.0.0.1' }));
    expect(crossed.res.status).toBe(401);
    expect(await lastAudit('login.mfa-failed')).toMatchObject({ subject: 'ben', data: { reason: 'wrong-ceremony', method: 'webauthn' } });
    await enrol('cascade', 'ben@cascade.example', ben);
    gh.clock.advance(60_000);
    const { s, html } = await read(await password('cascade', 'ben@cascade.example'));
    const form = passkeyForm(html, s.url)!;
    expect(form.mode).toBe('authenticate');
    const refused = await post(s, form, ana.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON, {}, ana.credentials[0]));
    expect(refused.res.status).toBe(401);
    expect(await lastAudit('login.mfa-failed')).toMatchObject({ subject: 'ben', data: { reason: 'other-user', method: 'webauthn' } });
  });
});

describe('passwordless from the email-first page', () => {
  it('offers a discoverable credential (autofill too) and signs in with it, no password and no further step', async () => {
    gh.clock.advance(60_000);
    const { s, form } = await emailFirst('cascade');
    expect(form).toMatchObject({ mode: 'authenticate', autofill: true });
    expect((form.options as PublicKeyCredentialRequestOptionsJSON).allowCredentials ?? []).toEqual([]);
    expect((form.options as PublicKeyCredentialRequestOptionsJSON).userVerification).toBe('required');
    const t = await tokens('cascade', await post(s, form, ana.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON)));
    expect(t.claims()).toMatchObject({ sub: 'ana', acr: 'phrh', amr: ['hwk', 'user', 'mfa'] });
    expect(await lastAudit('login.succeeded')).toMatchObject({ subject: 'ana', data: { method: 'passkey', amr: ['hwk', 'user', 'mfa'] } });
  });

  it('lists the phishing-resistant ACR values in discovery', async () => {
    const meta = await (await fetch(`${issuer('cascade')}/.well-known/openid-configuration`)).json();
    expect(meta.acr_values_supported).toEqual(expect.arrayContaining(['phr', 'phrh', 'urn:gatehouse:acr:mfa']));
  });
});

describe('what an attacker would post is refused', () => {
  const refusedWith = async (reason: string, make: (form: PasskeyPage) => unknown, status = 401) => {
    gh.clock.advance(1_000);
    const { s, form } = await emailFirst('cascade');
    const res = await post(s, form, make(form));
    expect(res.res.status).toBe(status);
    expect(await lastAudit('login.failed')).toMatchObject({ outcome: 'failure', data: { reason, method: 'passkey' } });
    return res;
  };
  const opts = (form: PasskeyPage) => form.options as PublicKeyCredentialRequestOptionsJSON;

  it('an answer made for another origin (a phishing site)', async () => {
    await refusedWith('wrong-origin', (f) => ana.authenticate(opts(f), { origin: 'https://gatehouse.evil.example' }));
  });

  it('an answer signed for another RP ID', async () => {
    await refusedWith('wrong-rp-id', (f) => ana.authenticate(opts(f), { rpId: 'evil.example' }));
  });

  it('an answer replayed, and a challenge that expired', async () => {
    gh.clock.advance(1_000);
    const { s, form } = await emailFirst('cascade');
    const answer = ana.authenticate(opts(form));
    const first = await post(s, form, answer);
    expect(first.url.startsWith(CALLBACK)).toBe(true);
    const again = await emailFirst('cascade');
    expect((await post(again.s, again.form, answer)).res.status).toBe(400);
    expect(await lastAudit('login.failed')).toMatchObject({ data: { reason: 'unknown-challenge' } });
    await refusedWith(
      'unknown-challenge',
      (f) => {
        gh.clock.advance(6 * 60_000);
        return ana.authenticate(opts(f));
      },
      400,
    );
  });

  it("another organization's credential at this organization's issuer", async () => {
    await refusedWith('other-organization', (f) => fiona.authenticate(opts(f)));
  });

  it('a signature counter that went back (a cloned authenticator), audited as such', async () => {
    const before = (await gh.store.passkeys.find(ana.credentials[0]!.id))!.counter;
    await refusedWith('counter-regression', (f) => ana.authenticate(opts(f), { counter: before - 1 }));
    expect(await lastAudit('passkey.counter-regression')).toMatchObject({ subject: 'ana', outcome: 'refused', data: { credential: ana.credentials[0]!.id, storedCounter: before } });
  });

  it('no user verification where a passkey is the only factor', async () => {
    await refusedWith('user-verification-missing', (f) => ana.authenticate(opts(f), { userVerified: false }));
  });

  it('a credential nobody enrolled', async () => {
    const stranger = new SoftAuthenticator(new URL(gh.url).origin);
    stranger.register({ challenge: 'x', rp: { id: '127.0.0.1', name: 'x' }, user: { id: 'YW5h', name: 'ana', displayName: 'ana' }, pubKeyCredParams: [] });
    await refusedWith('unknown-credential', (f) => stranger.authenticate(opts(f)));
  });

  it('an answer that is not WebAuthn JSON', async () => {
    await refusedWith('malformed', () => 'not json', 400);
  });
});

describe('the account page at the issuer', () => {
  const account = () => `${issuer('cascade')}/account/passkeys`;
  let csrf = '';
  const change = (s: Started, fields: Record<string, string>, token = csrf) => s.browser.submit(account(), { csrf: token, ...fields });

  it('is for a signed-in user only: without a session, through the sign-in and back (test/server/broker/account-pages.test.ts)', async () => {
    const res = await fetch(account(), { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!).searchParams.get('state')).toBe('passkeys');
  });

  it("lists the signed-in user's passkeys, renames, adds and removes one, each audited", async () => {
    gh.clock.advance(60_000);
    const { s, form } = await emailFirst('cascade');
    expect((await post(s, form, ana.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON))).url.startsWith(CALLBACK)).toBe(true);
    const listed = await (await s.browser.fetch(account())).text();
    csrf = /name="csrf" value="([^"]+)"/.exec(listed)![1]!;
    expect(listed).toContain('Work laptop');
    expect(listed).toContain('ana@cascade.example');
    const id = ana.credentials[0]!.id;

    expect((await change(s, { op: 'rename', id, name: 'Old laptop\u202e' })).status).toBe(303);
    expect((await gh.store.passkeys.find(id))?.name).toBe('Old laptop');
    expect(await lastAudit('passkey.renamed')).toMatchObject({ subject: 'ana', data: { credential: id, name: 'Old laptop' } });

    // A form posted from another site has no token (its page cannot read this one).
    const forged = await change(s, { op: 'remove', id }, '');
    expect(forged.status).toBe(403);
    expect(await lastAudit('passkey.refused')).toMatchObject({ subject: 'ana', data: { reason: 'cross-site-form' } });
    expect(await gh.store.passkeys.find(id)).toBeDefined();
    // Ben's passkey is not Ana's to rename or remove.
    const bens = (await gh.store.passkeys.list(NS, 'ben'))[0]!.id;
    expect((await change(s, { op: 'remove', id: bens })).status).toBe(404);

    const page = await s.browser.fetch(account());
    const html = await page.text();
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const add = passkeyForm(html, account())!;
    expect(add.mode).toBe('register');
    // The user's existing passkey is excluded, so an authenticator does not enrol twice.
    expect((add.options as PublicKeyCredentialCreationOptionsJSON).excludeCredentials?.map((c) => c.id)).toContain(id);
    const phone = new SoftAuthenticator(ana.origin);
    const added = await s.browser.submit(account(), { ...add.hidden, response: JSON.stringify(phone.register(add.options as PublicKeyCredentialCreationOptionsJSON, { synced: true })), name: 'Phone' });
    expect(added.status).toBe(303);
    expect((await gh.store.passkeys.list(NS, 'ana')).map((p) => [p.name, p.deviceType])).toEqual([
      ['Old laptop', 'singleDevice'],
      ['Phone', 'multiDevice'],
    ]);

    expect((await change(s, { op: 'remove', id: phone.credentials[0]!.id })).status).toBe(303);
    expect(await lastAudit('passkey.removed')).toMatchObject({ subject: 'ana', data: { credential: phone.credentials[0]!.id } });
    expect(await gh.store.passkeys.count(NS, 'ana')).toBe(1);
  });
});

describe('at invitation acceptance', () => {
  it('offers a passkey once the password is set; the ticket enrols once, and the passkey then signs in', async () => {
    await gh.put('users', user('cara', 'cascade', { email: 'cara@cascade.example' }));
    const link = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/users/cara/password-link`)).body.url as string;
    const invited = new Browser();
    const set = await invited.submit(link, { password: PASSWORD });
    const html = await set.text();
    expect(html).toContain('Your password is set');
    const form = passkeyForm(html, link)!;
    expect(form).toMatchObject({ mode: 'register', action: `${issuer('cascade')}/account/passkeys` });
    expect(set.headers.get('content-security-policy')).toContain("script-src 'self'");
    const key = new SoftAuthenticator(ana.origin);
    const added = await invited.submit(form.action, { ...form.hidden, name: 'Cara laptop', response: JSON.stringify(key.register(form.options as PublicKeyCredentialCreationOptionsJSON)) });
    expect(added.status).toBe(200);
    expect(await added.text()).toContain('Your passkey is added');
    expect((await gh.store.passkeys.list(NS, 'cara')).map((p) => p.name)).toEqual(['Cara laptop']);
    // The ticket was taken: a second enrolment through it is refused.
    const again = await invited.submit(form.action, { ...form.hidden, response: '{}' });
    expect(again.status).toBe(410);
    gh.clock.advance(60_000);
    const { s, form: signIn } = await emailFirst('cascade');
    const t = await tokens('cascade', await post(s, signIn, key.authenticate(signIn.options as PublicKeyCredentialRequestOptionsJSON)));
    expect(t.claims()).toMatchObject({ sub: 'cara', amr: ['hwk', 'user', 'mfa'] });
  });
});
