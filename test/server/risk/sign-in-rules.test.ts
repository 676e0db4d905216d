// Adaptive access at sign-in: each rule of Organization.spec.risk fires on a scripted sequence
// and not on a normal one; the score leads to the declared action (stepUp: the TOTP step-up,
// deny: the sign-in refused), and every decision is audited with its score, rules and action.
// Client addresses come through a trusted proxy's X-Forwarded-For, placed in countries by the
// shipped geolocation database (193.0.0.1 NL, 8.8.8.8 US, 1.0.16.1 JP, 5.255.255.5 RU).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../../support/browser.ts';
import { NS, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { CALLBACK, startSignIn, submit, type Started } from '../broker/flow.ts';
import { Secret, TOTP } from 'otpauth';
import { deviceCookieName } from '../../../server/risk/device.ts';
import { eraseUser } from '../../../server/users/erasure.ts';

const NL = '193.0.0.1';
const US = '8.8.8.8';
const JP = '1.0.16.1';
const RU = '5.255.255.5';
const PASSWORD = 'correct horse battery staple';

let gh: TestServer;
const secrets: Record<string, string> = {};

type Decision = { action: string; data: { score: number; action: string; stage: string; rules: { rule: string; weight: number; reason: string }[]; signals: { ip: string; device?: string } } };

/** A partner with a directory user `{org}-user` (email `user@{org}.example`), a web client `{org}-app`, and `risk` declared. */
async function partner(org: string, risk: object | undefined, spec: object = {}): Promise<void> {
  await gh.put('organizations', organization(org, { ...(risk ? { risk } : {}), ...spec }));
  await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined, emailDomains: [`${org}.example`] }));
  await gh.put('clients', client(`${org}-app`, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.put('users', user(`${org}-user`, org, { email: `user@${org}.example` }));
  secrets[org] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-app/secret`)).body.clientSecret;
  await setPassword(gh, `${org}-user`, PASSWORD);
}

/** A browser whose requests come from `at.ip` through the trusted proxy; `extraCookie` is sent along (a forged one). */
function browserAt(at: { ip: string; extraCookie?: string }): Browser {
  return new Browser((url, init) => {
    const headers = new Headers(init.headers);
    headers.set('x-forwarded-for', at.ip);
    if (at.extraCookie) headers.set('cookie', [headers.get('cookie'), at.extraCookie].filter(Boolean).join('; '));
    return fetch(url, { ...init, headers });
  });
}

type Outcome = 'allowed' | 'stepped-up' | 'refused';

/** Signs `{org}-user` in (always asked again: prompt=login) and says how it ended. */
async function signIn(org: string, browser: Browser, password = PASSWORD): Promise<{ outcome: Outcome | 'failed'; end: Started; html: string }> {
  const config = await oidc.discovery(new URL(`${gh.url}/${NS}/${org}`), `${org}-app.${NS}`, secrets[org], undefined, { execute: [oidc.allowInsecureRequests] });
  let s = await startSignIn(config, { scope: 'openid email', prompt: 'login' }, browser);
  const email = `user@${org}.example`;
  s = await submit(s, { email });
  s = await submit(s, { email, password });
  if (s.url.startsWith(CALLBACK)) return { outcome: 'allowed', end: s, html: '' };
  const html = await s.res.text();
  if (s.res.status === 401) return { outcome: 'failed', end: s, html };
  if (s.res.status === 403) return { outcome: 'refused', end: s, html };
  if (/two-step verification/i.test(html)) return { outcome: 'stepped-up', end: s, html };
  throw new Error(`unexpected page ${s.res.status} at ${s.url}: ${html.slice(0, 300)}`);
}

/** The newest risk decision recorded for `org`. */
async function lastDecision(org: string): Promise<Decision> {
  const items = (await gh.admin('GET', `/admin/v1/audit?organization=${org}&action=risk.*&limit=1`)).body.items as Decision[];
  return items[0]!;
}

const fired = (d: Decision) => d.data.rules.map((r) => r.rule);

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z', trustedProxies: ['127.0.0.1/32'] });
  await partner('nd', { rules: { newDevice: { weight: 40 } }, thresholds: { stepUp: 30 } });
  await partner('ul', { rules: { unusualLocation: { weight: 40, countries: ['NL', 'BE'] } }, thresholds: { stepUp: 30 } });
  await partner('it', { rules: { impossibleTravel: { weight: 60, maxSpeedKmh: 900 } }, thresholds: { stepUp: 50 } });
  await partner('fs', { rules: { failedSignIns: { weight: 50, max: 3, window: '15m' } }, thresholds: { stepUp: 50 } });
  await partner('oh', { rules: { outsideHours: { weight: 30, from: '07:00', to: '19:00', timeZone: 'Europe/Amsterdam', days: ['mon', 'tue', 'wed', 'thu', 'fri'] } }, thresholds: { stepUp: 30 } });
  await partner('dn', { rules: { unusualLocation: { weight: 100, countries: ['NL'] } }, thresholds: { stepUp: 30, deny: 100 } });
  await partner('plain', undefined);
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe('newDevice', () => {
  const at = { ip: NL };
  const usual = browserAt(at);

  it('does not fire on the first sign-in, nor again from the same browser', async () => {
    expect((await signIn('nd', usual)).outcome).toBe('allowed');
    const first = await lastDecision('nd');
    expect(first).toMatchObject({ action: 'risk.evaluated', data: { stage: 'sign-in', score: 0, action: 'allow', rules: [] } });
    // The browser carries a device cookie: its digest, never the cookie, is recorded.
    expect(first.data.signals.device).toMatch(/^[0-9a-f]{16}$/);
    gh.clock.advance(60_000);
    expect((await signIn('nd', usual)).outcome).toBe('allowed');
    expect((await lastDecision('nd')).data).toMatchObject({ score: 0, action: 'allow', signals: { device: first.data.signals.device } });
  });

  it('fires for a browser this user never signed in from, and asks for the second factor', async () => {
    gh.clock.advance(60_000);
    const result = await signIn('nd', browserAt({ ip: NL }));
    expect(result.outcome).toBe('stepped-up');
    const decision = await lastDecision('nd');
    expect(decision).toMatchObject({ action: 'risk.stepped-up', data: { score: 40, action: 'stepUp', rules: [{ rule: 'newDevice', weight: 40, reason: 'a browser this user never signed in from' }] } });
  });

  it('learns the new browser once the second factor is passed: it is known from then on', async () => {
    gh.clock.advance(60_000);
    const browser = browserAt({ ip: NL });
    const first = await signIn('nd', browser);
    expect(first.outcome).toBe('stepped-up');
    const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(first.html)![1]!.replace(/ /g, '');
    const code = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 }).generate({ timestamp: gh.clock.now() });
    let s = await submit({ ...first.end, res: new Response(first.html) }, { code });
    expect(await s.res.clone().text()).toContain('Save your recovery codes');
    s = await submit(s, {});
    expect(s.url.startsWith(CALLBACK)).toBe(true);
    gh.clock.advance(60_000);
    expect((await signIn('nd', browser)).outcome).toBe('allowed');
    expect(await gh.store.risk.seen(NS, 'device', 'nd-user')).toHaveLength(2);
  });

  it('ignores a forged device cookie: the browser is a new device, and the forged id is not recorded', async () => {
    gh.clock.advance(60_000);
    const forgedId = 'AAAAAAAAAAAAAAAAAAAAAA';
    const forged = browserAt({ ip: NL, extraCookie: `${deviceCookieName(`/${NS}/nd`)}=${forgedId}.bm90LWEtc2lnbmF0dXJl` });
    expect((await signIn('nd', forged)).outcome).toBe('stepped-up');
    const decision = await lastDecision('nd');
    expect(fired(decision)).toEqual(['newDevice']);
    expect(JSON.stringify(decision)).not.toContain(forgedId);
  });

  it("refuses another issuer's genuine cookie here (the signature binds the issuer)", async () => {
    gh.clock.advance(60_000);
    // A browser that signed in at Plain's issuer: its cookie's value, presented under this issuer's name.
    const elsewhere = browserAt({ ip: NL });
    expect((await signIn('plain', elsewhere)).outcome).toBe('allowed');
    const value = (elsewhere as unknown as { jar: Map<string, string> }).jar.get(deviceCookieName(`/${NS}/plain`))!;
    expect(value).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    const borrowed = browserAt({ ip: NL, extraCookie: `${deviceCookieName(`/${NS}/nd`)}=${value}` });
    expect((await signIn('nd', borrowed)).outcome).toBe('stepped-up');
  });
});

describe('erasing a user', () => {
  it('forgets what the risk engine saw of it', async () => {
    const user = (await gh.store.users.find(NS, 'nd-user'))!;
    expect(await gh.store.risk.seen(NS, 'device', 'nd-user')).not.toEqual([]);
    await gh.store.transaction((repo) => eraseUser(repo, user, { actor: 'test', via: 'admin' }, gh.clock.now()));
    expect(await gh.store.risk.seen(NS, 'device', 'nd-user')).toEqual([]);
  });
});

describe('unusualLocation', () => {
  it('does not fire from a usual country', async () => {
    expect((await signIn('ul', browserAt({ ip: NL }))).outcome).toBe('allowed');
    expect((await lastDecision('ul')).data).toMatchObject({ score: 0, action: 'allow' });
  });

  it('fires from a country outside the declared ones, and says which', async () => {
    expect((await signIn('ul', browserAt({ ip: US }))).outcome).toBe('stepped-up');
    const decision = await lastDecision('ul');
    expect(decision.data.rules).toEqual([{ rule: 'unusualLocation', weight: 40, reason: `${US} is in US, outside NL, BE` }]);
    expect(decision).toMatchObject({ data: { country: 'US', signals: { ip: US } } });
  });
});

describe('impossibleTravel', () => {
  it('does not fire for a journey one could make: Amsterdam, then Washington a day later', async () => {
    expect((await signIn('it', browserAt({ ip: NL }))).outcome).toBe('allowed');
    gh.clock.advance(24 * 3600_000);
    expect((await signIn('it', browserAt({ ip: US }))).outcome).toBe('allowed');
    expect((await lastDecision('it')).data).toMatchObject({ score: 0, country: 'US' });
  });

  it('fires for Washington, then Tokyo ten minutes later', async () => {
    gh.clock.advance(10 * 60_000);
    expect((await signIn('it', browserAt({ ip: JP }))).outcome).toBe('stepped-up');
    const [rule] = (await lastDecision('it')).data.rules;
    expect(rule).toMatchObject({ rule: 'impossibleTravel', weight: 60 });
    expect(rule!.reason).toMatch(/^\d+ km from US to JP in 10 min \(faster than 900 km\/h\)$/);
  });
});

describe('failedSignIns', () => {
  it('does not fire after one mistyped password', async () => {
    const browser = browserAt({ ip: NL });
    expect((await signIn('fs', browser, 'not the password')).outcome).toBe('failed');
    expect((await signIn('fs', browser)).outcome).toBe('allowed');
    expect((await lastDecision('fs')).data).toMatchObject({ score: 0 });
  });

  it('fires once `max` sign-ins failed within the window', async () => {
    gh.clock.advance(20 * 60_000);
    const browser = browserAt({ ip: RU });
    for (let i = 0; i < 3; i++) expect((await signIn('fs', browser, `guess number ${i}`)).outcome).toBe('failed');
    expect((await signIn('fs', browser)).outcome).toBe('stepped-up');
    expect((await lastDecision('fs')).data.rules).toEqual([{ rule: 'failedSignIns', weight: 50, reason: '3 failed sign-ins for this user within 15m' }]);
  });

  it('forgets failures older than the window', async () => {
    gh.clock.advance(16 * 60_000);
    expect((await signIn('fs', browserAt({ ip: RU }))).outcome).toBe('allowed');
  });

  it('fires for failures from the same address against other accounts (password spraying)', async () => {
    gh.clock.advance(20 * 60_000);
    const spray = browserAt({ ip: JP });
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/fs`), `fs-app.${NS}`, secrets.fs, undefined, { execute: [oidc.allowInsecureRequests] });
    for (const victim of ['a@fs.example', 'b@fs.example', 'c@fs.example']) {
      let s = await startSignIn(config, { scope: 'openid email', prompt: 'login' }, spray);
      s = await submit(s, { email: victim });
      s = await submit(s, { email: victim, password: 'Winter2026!' });
      expect(s.res.status).toBe(401);
    }
    expect((await signIn('fs', spray)).outcome).toBe('stepped-up');
    expect((await lastDecision('fs')).data.rules).toEqual([{ rule: 'failedSignIns', weight: 50, reason: `3 failed sign-ins from ${JP} within 15m` }]);
  });
});

describe('outsideHours', () => {
  it('does not fire on a Monday at 10:00 in Amsterdam', async () => {
    gh.clock.set('2026-11-30T09:00:00Z');
    expect((await signIn('oh', browserAt({ ip: NL }))).outcome).toBe('allowed');
  });

  it('fires at 22:00 on a weekday, and on a Saturday morning', async () => {
    gh.clock.set('2026-11-30T21:00:00Z');
    expect((await signIn('oh', browserAt({ ip: NL }))).outcome).toBe('stepped-up');
    expect((await lastDecision('oh')).data.rules).toEqual([{ rule: 'outsideHours', weight: 30, reason: 'outside 07:00–19:00 (mon, tue, wed, thu, fri) Europe/Amsterdam' }]);
    gh.clock.set('2026-12-05T09:00:00Z');
    expect((await signIn('oh', browserAt({ ip: NL }))).outcome).toBe('stepped-up');
  });
});

describe('the deny threshold', () => {
  it('refuses the sign-in, audited as risk.denied with the reason', async () => {
    gh.clock.set('2026-12-07T09:00:00Z');
    const result = await signIn('dn', browserAt({ ip: US }));
    expect(result.outcome).toBe('refused');
    expect(result.html).toContain('Sign-in refused');
    expect(result.end.url.startsWith(CALLBACK)).toBe(false);
    expect(await lastDecision('dn')).toMatchObject({ action: 'risk.denied', data: { score: 100, action: 'deny', rules: [{ rule: 'unusualLocation' }] } });
    expect((await signIn('dn', browserAt({ ip: NL }))).outcome).toBe('allowed');
  });
});

describe('an organization without risk', () => {
  it('is not scored: no risk record is written for its sign-ins', async () => {
    expect((await signIn('plain', browserAt({ ip: US }))).outcome).toBe('allowed');
    expect((await gh.admin('GET', '/admin/v1/audit?organization=plain&action=risk.*')).body.items).toEqual([]);
  });
});
