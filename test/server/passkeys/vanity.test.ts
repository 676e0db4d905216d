// The relying party of a passkey is the host of the issuer it is used at: each vanity host its
// own. A passkey enrolled at the canonical host is neither offered nor accepted at the vanity
// host, and one enrolled there works there. Reached as a client on the network would, through
// the server's socket with the vanity host as Host.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { SoftAuthenticator } from '../../support/authenticator.ts';
import { Browser } from '../../support/browser.ts';
import { loopbackFetch } from '../../support/loopback.ts';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { CALLBACK, startSignIn, submit, type Started } from '../broker/flow.ts';

let gh: TestServer;
let port: string;
let secret: string;
const VANITY = 'sso.forge.example';
const PASSWORD = 'correct horse battery staple';
const viaLoopback = (url: string, init?: RequestInit) => loopbackFetch(port)(url, init as Parameters<ReturnType<typeof loopbackFetch>>[1]);
const issuers = () => ({ canonical: `${gh.url}/${NS}/forge`, vanity: `http://${VANITY}:${port}` });
const discover = (issuer: string) => oidc.discovery(new URL(issuer), `forge-web.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: viaLoopback as oidc.CustomFetch });
const unhtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  port = new URL(gh.url).port;
  await gh.put('organizations', organization('forge', { domains: [VANITY], mfa: { required: true } }));
  await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined, emailDomains: ['forge.example'] }));
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`)).body.clientSecret;
  await setPassword(gh, 'lena', PASSWORD);
});
afterAll(async () => {
  await gh?.close();
});

async function page(s: Started): Promise<{ s: Started; html: string; form: { action: string; options: unknown; hidden: Record<string, string> } }> {
  const html = await s.res.text();
  const m = /<form id="passkey-form" method="post" action="([^"]+)" data-mode="\w+" data-autofill="\w+" data-options="([^"]+)">([\s\S]*?)<\/form>/.exec(html)!;
  const hidden = Object.fromEntries([...m[3]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((h) => [h[1]!, unhtml(h[2]!)]));
  return { s: { ...s, res: new Response(html) }, html, form: { action: new URL(unhtml(m[1]!), s.url).href, options: JSON.parse(unhtml(m[2]!)), hidden } };
}

async function post(s: Started, form: { action: string; hidden: Record<string, string> }, response: unknown): Promise<Started> {
  const posted = await s.browser.submit(form.action, { ...form.hidden, response: JSON.stringify(response) });
  if (posted.status < 300 || posted.status >= 400) return { ...s, res: posted };
  return { ...s, ...(await s.browser.follow(new URL(posted.headers.get('location')!, form.action).href, CALLBACK)) };
}

describe('each host its own relying party', () => {
  const canonicalKey = () => new SoftAuthenticator(new URL(gh.url).origin);
  let atCanonical: SoftAuthenticator;

  it('enrols at the canonical host for that host; the vanity host asks for its own RP ID and refuses that passkey', async () => {
    atCanonical = canonicalKey();
    const email = 'lena@forge.example';
    let s = await submit(await startSignIn(await discover(issuers().canonical), { scope: 'openid email' }, new Browser(viaLoopback)), { email });
    const first = await page(await submit(s, { email, password: PASSWORD }));
    expect((first.form.options as PublicKeyCredentialCreationOptionsJSON).rp.id).toBe('127.0.0.1');
    expect((await post(first.s, first.form, atCanonical.register(first.form.options as PublicKeyCredentialCreationOptionsJSON))).url.startsWith(CALLBACK)).toBe(true);

    s = await startSignIn(await discover(issuers().vanity), { scope: 'openid email' }, new Browser(viaLoopback));
    const signIn = await page(s);
    const options = signIn.form.options as PublicKeyCredentialRequestOptionsJSON;
    expect(options.rpId).toBe(VANITY);
    // The canonical host's passkey, presented at the vanity host (the browser would not even offer it).
    const refused = await post(signIn.s, signIn.form, atCanonical.authenticate(options, { rpId: '127.0.0.1', origin: new URL(gh.url).origin }));
    expect(refused.res.status).toBe(401);
    expect((await gh.admin('GET', '/admin/v1/audit?action=login.failed&limit=1')).body.items[0]).toMatchObject({ data: { reason: 'wrong-rp-id' } });
  });

  it('a passkey enrolled at the vanity host signs in there', async () => {
    const email = 'lena@forge.example';
    const atVanity = new SoftAuthenticator(`http://${VANITY}:${port}`);
    let s = await submit(await startSignIn(await discover(issuers().vanity), { scope: 'openid email' }, new Browser(viaLoopback)), { email });
    s = await submit(s, { email, password: PASSWORD });
    // Lena has a passkey, for the other host: the step-up here offers to add one for this host.
    const step = await page(s);
    expect((step.form.options as PublicKeyCredentialCreationOptionsJSON).rp.id).toBe(VANITY);
    expect((await post(step.s, step.form, atVanity.register(step.form.options as PublicKeyCredentialCreationOptionsJSON))).url.startsWith(CALLBACK)).toBe(true);
    expect((await gh.store.passkeys.list(NS, 'lena')).map((p) => p.rpId).sort()).toEqual(['127.0.0.1', VANITY]);
    gh.clock.advance(60_000);
    const again = await page(await startSignIn(await discover(issuers().vanity), { scope: 'openid email' }, new Browser(viaLoopback)));
    const done = await post(again.s, again.form, atVanity.authenticate(again.form.options as PublicKeyCredentialRequestOptionsJSON));
    expect(done.url.startsWith(CALLBACK)).toBe(true);
  });
});
