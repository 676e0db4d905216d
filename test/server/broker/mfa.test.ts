import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { NS, client, organization, user, idp } from '../../support/objects.ts';
import { CALLBACK, startSignIn, submit, type Started } from './flow.ts';

let gh: TestServer;
let secret: string;
let totpSecret: string;
let recovery: string[];
const PASSWORD = 'correct horse battery staple';
const issuer = () => `${gh.url}/${NS}/cascade`;
const discover = () => oidc.discovery(new URL(issuer()), `timesheets.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests] });
const code = (offsetSteps = 0) => new TOTP({ secret: Secret.fromBase32(totpSecret), digits: 6, period: 30 }).generate({ timestamp: gh.clock.now() + offsetSteps * 30_000 });

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  const put = (plural: string, o: { metadata: { name: string } }) => gh.admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${o.metadata.name}`, o);
  await put('organizations', organization('cascade', { displayName: 'Cascade Consulting', mfa: { required: true } }));
  await put('clients', client('timesheets', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile'] }));
  await put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'] }));
  await put('users', user('ana', 'cascade', { email: 'ana@cascade.example' }));
  await put('users', user('ben', 'cascade', { email: 'ben@cascade.example' }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/timesheets/secret`)).body.clientSecret;
  for (const name of ['ana', 'ben']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

async function password(email: string): Promise<Started> {
  const s = await submit(await startSignIn(await discover()), { email });
  return submit(s, { email, password: PASSWORD });
}

async function tokens(s: Started) {
  expect(s.url.startsWith(CALLBACK)).toBe(true);
  return oidc.authorizationCodeGrant(await discover(), new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
}

describe('TOTP step-up required by the organization', () => {
  it('enrols on first sign-in: shows a key, checks a first code, shows recovery codes once', async () => {
    let s = await password('ana@cascade.example');
    const html = await s.res.text();
    expect(html).toContain('Set up two-step verification');
    totpSecret = /id="totp-secret">([A-Z2-7 ]+)</.exec(html)![1]!.replace(/ /g, '');
    s = { ...s, res: new Response(html) };
    const wrong = await submit(s, { code: '000000' });
    expect(wrong.res.status).toBe(401);
    s = await submit({ ...wrong, res: new Response(await wrong.res.text()) }, { code: code() });
    const codesPage = await s.res.text();
    recovery = [...codesPage.matchAll(/<li><code>([0-9a-f-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(recovery).toHaveLength(10);
    s = await submit({ ...s, res: new Response(codesPage) }, {});
    const t = await tokens(s);
    expect(t.claims()).toMatchObject({ sub: 'ana', acr: 'urn:gatehouse:acr:mfa', amr: ['pwd', 'otp', 'mfa'] });
    expect(JSON.stringify(await gh.store.secrets.get('totp', `${NS}/ana`))).not.toContain(recovery[0]!);
    // Written with the enrolment: the user hears a second factor was set up (docs/notifications.md).
    expect((await gh.store.notifications.list(NS)).filter((n) => n.message === 'mfa-enrolled').map((n) => [n.recipient, n.variables.method])).toEqual([['ana@cascade.example', 'authenticator app (TOTP)']]);
  });

  it('asks for a code at later sign-ins, and refuses the same code twice', async () => {
    gh.clock.advance(60_000);
    const s = await password('ana@cascade.example');
    const page = await s.res.text();
    expect(page).toContain('Two-step verification');
    s.res = new Response(page);
    const current = code();
    const t = await tokens(await submit(s, { code: current }));
    expect(t.claims()!.amr).toEqual(['pwd', 'otp', 'mfa']);
    const again = await submit(await password('ana@cascade.example'), { code: current });
    expect(again.res.status).toBe(401);
  });

  it('accepts a recovery code once', async () => {
    gh.clock.advance(60_000);
    const t = await tokens(await submit(await password('ana@cascade.example'), { code: recovery[0]! }));
    expect(t.claims()!.acr).toBe('urn:gatehouse:acr:mfa');
    const reused = await submit(await password('ana@cascade.example'), { code: recovery[0]! });
    expect(reused.res.status).toBe(401);
  });

  it('limits guessing: after five wrong codes even the right one waits', async () => {
    gh.clock.advance(60_000);
    let s = await password('ana@cascade.example');
    for (let i = 0; i < 5; i++) {
      s = await submit(s, { code: String(100000 + i) });
      s = { ...s, res: new Response(await s.res.text()) };
    }
    const blocked = await submit(s, { code: code() });
    expect(blocked.res.status).toBe(429);
    const audit = (await gh.admin('GET', '/admin/v1/audit?action=login.mfa-failed&limit=1')).body.items[0];
    expect(audit.data.reason).toBe('rate-limited');
    gh.clock.advance(16 * 60_000);
  });

  it('carries acr and amr into access tokens too', async () => {
    await gh.admin('PUT', `/admin/v1/namespaces/${NS}/clients/timesheets`, client('timesheets', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile'], audiences: ['https://timesheets.example'] }));
    gh.clock.advance(60_000);
    const t = await tokens(await submit(await password('ana@cascade.example'), { code: code() }));
    expect(decodeJwt(t.access_token)).toMatchObject({ acr: 'urn:gatehouse:acr:mfa', amr: ['pwd', 'otp', 'mfa'], organization_id: 'cascade' });
  });
});
