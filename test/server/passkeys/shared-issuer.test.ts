// Passwordless sign-in with a passkey at a namespace's shared issuer (`{PUBLIC_URL}/{namespace}`,
// the single partner entry point): the credential names the user, and the user's own
// organization's policies apply exactly as at its own issuer — passkeys allowed, standing
// (suspended, contract ended), networks, directory users only — and the token says the user's
// organization and how they signed in. Answers are made by the software authenticator.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { SoftAuthenticator } from '../../support/authenticator.ts';
import { Browser } from '../../support/browser.ts';
import { requirePasskeyForm, type PasskeyPage } from '../../support/passkey-form.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, formAction, hiddenFields, startSignIn, type Started } from '../broker/flow.ts';

let gh: TestServer;
let hubSecret: string;
const PASSWORD = 'correct horse battery staple';
const shared = () => `${gh.url}/${NS}`;
const hub = () => oidc.discovery(new URL(shared()), `hub.${NS}`, hubSecret, undefined, { execute: [oidc.allowInsecureRequests] });
const lastAudit = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=1`)).body.items[0];
const keys: Record<string, SoftAuthenticator> = {};

/** Enrols a passkey for a directory user on the account page of an issuer (its organization's, or the shared one: `org` undefined). */
async function enrol(org: string | undefined, email: string): Promise<SoftAuthenticator> {
  const browser = new Browser();
  const page = `${gh.url}/${NS}${org ? `/${org}` : ''}/account/passkeys`;
  let at = await browser.follow(page);
  for (let step = 0; step < 3 && at.url !== page; step++) {
    const html = await at.res.text();
    const fields: Record<string, string> = /name="password"/.test(html) ? { email, password: PASSWORD } : { email };
    const posted = await browser.submit(formAction(html, at.url), { ...hiddenFields(html), ...fields });
    at = posted.status >= 300 && posted.status < 400 ? await browser.follow(new URL(posted.headers.get('location')!, at.url).href) : { url: at.url, res: posted };
  }
  const form = requirePasskeyForm(await at.res.text(), page);
  const key = new SoftAuthenticator(new URL(gh.url).origin);
  const added = await browser.submit(form.action, { ...form.hidden, name: `${email} key`, response: JSON.stringify(key.register(form.options as PublicKeyCredentialCreationOptionsJSON)) });
  if (added.status !== 303) throw new Error(`enrolment of ${email}: ${added.status}`);
  return key;
}

/** The shared issuer's email-first page, and its passwordless form. */
async function emailFirst(): Promise<{ s: Started; form: PasskeyPage }> {
  const s = await startSignIn(await hub(), { scope: 'openid email' });
  const html = await s.res.text();
  expect(s.url).toContain(`/${NS}/interaction/`);
  return { s, form: requirePasskeyForm(html, s.url) };
}

/** Posts the passkey answer as the page's script would, following redirects. */
async function post(s: Started, form: PasskeyPage, answer: unknown): Promise<Started> {
  const posted = await s.browser.submit(form.action, { ...form.hidden, response: JSON.stringify(answer) });
  if (posted.status < 300 || posted.status >= 400) return { ...s, res: posted };
  return { ...s, ...(await s.browser.follow(new URL(posted.headers.get('location')!, form.action).href, CALLBACK)) };
}

async function signInWith(who: string): Promise<Started> {
  gh.clock.advance(1_000);
  const { s, form } = await emailFirst();
  return post(s, form, keys[who]!.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON));
}

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace({ displayName: 'Blixit' }));
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
  // Forge: passkeys allowed as a second factor only where… not at all: TOTP only.
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', mfa: { methods: ['totp'] } }));
  await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics' }));
  for (const org of ['cascade', 'forge', 'pinnacle']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined, emailDomains: [`${org}.example`] }));
  await gh.put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  hubSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/hub/secret`)).body.clientSecret;
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  await gh.put('users', user('pia', 'pinnacle', { email: 'pia@pinnacle.example' }));
  await gh.put('users', user('fay', 'forge', { email: 'fay@forge.example' }));
  await gh.put('users', user('wendy', undefined, { email: 'wendy@blixit.example', roles: ['admin'] }));
  for (const name of ['ana', 'pia', 'fay', 'wendy']) await setPassword(gh, name, PASSWORD);
  keys.ana = await enrol('cascade', 'ana@cascade.example');
  keys.pia = await enrol('pinnacle', 'pia@pinnacle.example');
});
afterAll(async () => {
  await gh?.close();
});

describe('passwordless at the shared issuer', () => {
  it('offers a discoverable passkey on the email-first page (autofill, user verification required)', async () => {
    const { form } = await emailFirst();
    expect(form.autofill).toBe(true);
    expect(form.action).toMatch(new RegExp(`/${NS}/interaction/[^/]+/passkey$`));
    const options = form.options as PublicKeyCredentialRequestOptionsJSON;
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
    expect(options.rpId).toBe('127.0.0.1');
  });

  it("signs in any organization's directory user with their passkey, the token saying their organization and the passkey", async () => {
    for (const [who, org] of [
      ['ana', 'cascade'],
      ['pia', 'pinnacle'],
    ] as const) {
      const done = await signInWith(who);
      expect(done.url.startsWith(CALLBACK)).toBe(true);
      const t = await oidc.authorizationCodeGrant(await hub(), new URL(done.url), { pkceCodeVerifier: done.verifier, expectedState: done.state });
      expect(t.claims()).toMatchObject({ sub: who, organization_id: org, acr: 'phrh', amr: ['hwk', 'user', 'mfa'] });
      // The browser's device digest is among the signals, as for a password sign-in (the risk engine's devices).
      expect(await lastAudit('login.succeeded')).toMatchObject({ subject: who, organization: org, namespace: NS, data: { method: 'passkey', connection: 'directory', signals: { ip: '127.0.0.1', device: expect.stringMatching(/^[0-9a-f]{16}$/) } } });
    }
  });

  it("signs in a workspace administrator (a user of no organization) with a passkey added on the shared issuer's own account page", async () => {
    keys.wendy = await enrol(undefined, 'wendy@blixit.example');
    expect((await gh.store.passkeys.list(NS, 'wendy')).map((p) => [p.organization, p.rpId])).toEqual([['', '127.0.0.1']]);
    const done = await signInWith('wendy');
    expect(done.url.startsWith(CALLBACK)).toBe(true);
    const t = await oidc.authorizationCodeGrant(await hub(), new URL(done.url), { pkceCodeVerifier: done.verifier, expectedState: done.state });
    expect(t.claims()).toMatchObject({ sub: 'wendy', acr: 'phrh', amr: ['hwk', 'user', 'mfa'] });
    expect(t.claims()?.organization_id).toBeUndefined();
  });

  it('refuses a passkey without user verification: it would be a single factor', async () => {
    gh.clock.advance(1_000);
    const { s, form } = await emailFirst();
    const refused = await post(s, form, keys.ana!.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON, { userVerified: false }));
    expect(refused.res.status).toBe(401);
    expect(await lastAudit('login.failed')).toMatchObject({ data: { reason: 'user-verification-missing', method: 'passkey' } });
  });

  it('refuses a user whose organization no longer allows passkeys, as its own issuer would', async () => {
    await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics', mfa: { methods: ['totp'] } }));
    const refused = await signInWith('pia');
    expect(refused.res.status).toBe(403);
    expect(await refused.res.text()).toContain('Your organization does not allow passkeys');
    expect(await lastAudit('login.failed')).toMatchObject({ organization: 'pinnacle', subject: 'pia', data: { reason: 'method-not-allowed', method: 'passkey' } });
    await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics' }));
    expect((await signInWith('pia')).url.startsWith(CALLBACK)).toBe(true);
  });

  it('refuses a user whose organization is suspended, naming why', async () => {
    await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics', suspended: true }));
    const refused = await signInWith('pia');
    expect(refused.res.status).toBe(403);
    expect(await lastAudit('login.failed')).toMatchObject({ organization: 'pinnacle', subject: 'pia', data: { method: 'passkey' } });
    await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics' }));
  });

  it("refuses a user outside their organization's networks", async () => {
    await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting', network: { allowedCidrs: ['203.0.113.0/24'] } }));
    const refused = await signInWith('ana');
    expect(refused.res.status).toBe(403);
    expect(await refused.res.text()).toContain('Not from this network');
    expect(await lastAudit('access.refused-network')).toMatchObject({ organization: 'cascade', outcome: 'refused' });
    await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
    expect((await signInWith('ana')).url.startsWith(CALLBACK)).toBe(true);
  });

  it('refuses a deactivated user, and a passkey nobody enrolled', async () => {
    await gh.put('users', user('pia', 'pinnacle', { email: 'pia@pinnacle.example', active: false }));
    const refused = await signInWith('pia');
    expect(refused.res.status).toBe(403);
    expect(await lastAudit('login.failed')).toMatchObject({ subject: 'pia', data: { reason: 'deactivated' } });
    await gh.put('users', user('pia', 'pinnacle', { email: 'pia@pinnacle.example' }));
    const stranger = new SoftAuthenticator(new URL(gh.url).origin);
    stranger.register({ challenge: 'x', rp: { id: '127.0.0.1', name: 'x' }, user: { id: 'YW5h', name: 'ana', displayName: 'ana' }, pubKeyCredParams: [] });
    gh.clock.advance(1_000);
    const { s, form } = await emailFirst();
    expect((await post(s, form, stranger.authenticate(form.options as PublicKeyCredentialRequestOptionsJSON))).res.status).toBe(401);
    expect(await lastAudit('login.failed')).toMatchObject({ data: { reason: 'unknown-credential' } });
  });
});
