// Sign-in sessions last what is declared: the Workspace's `sessions` (lifetime since the
// sign-in, idle timeout since the last use), an Organization's own, and never past the
// Workspace's `guardrails.maxSession`. The clock is the server's injected one, moved by the spec.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../../support/browser.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization, template, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword, signInWith } from '../../support/sign-in.ts';
import { resolveSessions, sessionTtl } from '../../../server/oidc/lifetimes.ts';

const PASSWORD = 'correct horse battery staple 42';
const MINUTE = 60_000;
let gh: TestServer;
const secrets: Record<string, string> = {};
const issuer = (org: string) => `${gh.url}/${NS}/${org}`;

/** Signs `org`'s user in with a fresh browser, the clock set to the system's (oidc-provider stamps the sign-in with it). */
async function signedIn(org: string): Promise<Browser> {
  gh.clock.set(Date.now());
  const browser = new Browser();
  await signInWith(browser, issuer(org), `${org}-web`, secrets[`${org}-web`]!, { email: `staff@${org}.example`, password: PASSWORD });
  return browser;
}

/** The session, asked without any page (prompt=none): true when it still hands the client a code. */
async function silently(browser: Browser, org: string): Promise<boolean> {
  const config = await oidc.discovery(new URL(issuer(org)), `${org}-web.${NS}`, secrets[`${org}-web`]!, undefined, { execute: [oidc.allowInsecureRequests] });
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email', prompt: 'none', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: oidc.randomState() });
  const { url: landed } = await browser.follow(url.href, CALLBACK);
  const params = new URL(landed).searchParams;
  if (params.get('code')) return true;
  expect(params.get('error')).toBe('login_required');
  return false;
}

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace({ sessions: { lifetime: '2h', idleTimeout: '30m' }, guardrails: { maxSession: '3h' } }));
  await gh.put('organizations', organization('forge'));
  // Cascade's own: a day, idle an hour; the guardrail cuts the day to 3 hours.
  await gh.put('organizations', organization('cascade', { sessions: { lifetime: '24h', idleTimeout: '1h' } }));
  for (const org of ['forge', 'cascade']) {
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', client(`${org}-web`, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
    secrets[`${org}-web`] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-web/secret`)).body.clientSecret;
    await gh.put('users', user(`staff-${org}`, org, { email: `staff@${org}.example` }));
    await setPassword(gh, `staff-${org}`, PASSWORD);
  }
});
afterAll(async () => {
  await gh.close();
});

describe('the Workspace declares sessions', () => {
  it('ends a session left idle past the idle timeout (30m)', async () => {
    const browser = await signedIn('forge');
    gh.clock.advance(29 * MINUTE);
    expect(await silently(browser, 'forge')).toBe(true);
    gh.clock.advance(29 * MINUTE); // 58 minutes in, but used 29 minutes ago
    expect(await silently(browser, 'forge')).toBe(true);
    gh.clock.advance(31 * MINUTE);
    expect(await silently(browser, 'forge')).toBe(false);
  });

  it('ends a session in use at its lifetime (2h) since the sign-in', async () => {
    const browser = await signedIn('forge');
    for (let used = 25; used < 120; used += 25) {
      gh.clock.advance(25 * MINUTE);
      expect({ used, live: await silently(browser, 'forge') }).toEqual({ used, live: true });
    }
    gh.clock.advance(21 * MINUTE); // 2h 1m since the sign-in, 21 minutes since the last use
    expect(await silently(browser, 'forge')).toBe(false);
  });
});

describe('an Organization overrides them, under the guardrail', () => {
  it("keeps Cascade's session idle 45 minutes (its own 1h, not the Workspace's 30m)", async () => {
    const browser = await signedIn('cascade');
    gh.clock.advance(45 * MINUTE);
    expect(await silently(browser, 'cascade')).toBe(true);
    gh.clock.advance(61 * MINUTE);
    expect(await silently(browser, 'cascade')).toBe(false);
  });

  it("cuts Cascade's declared day to the Workspace's maxSession (3h)", async () => {
    const browser = await signedIn('cascade');
    for (let used = 50; used < 180; used += 50) {
      gh.clock.advance(50 * MINUTE);
      expect({ used, live: await silently(browser, 'cascade') }).toEqual({ used, live: true });
    }
    gh.clock.advance(31 * MINUTE); // 3h 1m
    expect(await silently(browser, 'cascade')).toBe(false);
  });
});

describe('resolution', () => {
  it('defaults to 8 hours, idle as long, capped at 24 hours; the idle timeout never exceeds the lifetime', () => {
    expect(resolveSessions([], new Map(), undefined)).toEqual({ lifetime: 8 * 3600, idleTimeout: 8 * 3600 });
    const ws = workspace({ sessions: { lifetime: '48h', idleTimeout: '72h' } }) as never;
    expect(resolveSessions([], new Map(), ws)).toEqual({ lifetime: 24 * 3600, idleTimeout: 24 * 3600 });
  });

  it('takes each field from the Organization, else its OrganizationTemplate, else the Workspace', () => {
    const ws = workspace({ sessions: { lifetime: '4h', idleTimeout: '20m' } }) as never;
    const templates = new Map([['partners', template('partners', { sessions: { idleTimeout: '45m' } }) as never]]);
    const x = (spec: object = {}) => organization('x', { templateRef: { name: 'partners' }, ...spec }) as never;
    expect(resolveSessions([x()], templates, ws)).toEqual({ lifetime: 4 * 3600, idleTimeout: 45 * 60 });
    expect(resolveSessions([x({ sessions: { idleTimeout: '10m' } })], templates, ws)).toEqual({ lifetime: 4 * 3600, idleTimeout: 10 * 60 });
  });

  it("a parent organization's sessions are a ceiling its sub-organizations inherit and cannot lift", () => {
    const ws = workspace({ sessions: { lifetime: '8h', idleTimeout: '1h' } }) as never;
    const parent = organization('hq', { sessions: { lifetime: '2h' } }) as never;
    const child = (spec: object = {}) => organization('branch', { parentRef: { name: 'hq' }, ...spec }) as never;
    // Inherited: the parent's lifetime, the Workspace's idle timeout.
    expect(resolveSessions([child(), parent], new Map(), ws)).toEqual({ lifetime: 2 * 3600, idleTimeout: 3600 });
    // Narrowed: the child may shorten either.
    expect(resolveSessions([child({ sessions: { lifetime: '1h', idleTimeout: '15m' } }), parent], new Map(), ws)).toEqual({ lifetime: 3600, idleTimeout: 15 * 60 });
    // Never lifted: a child asking for 12h still gets its parent's 2h.
    expect(resolveSessions([child({ sessions: { lifetime: '12h' } }), parent], new Map(), ws)).toEqual({ lifetime: 2 * 3600, idleTimeout: 3600 });
  });

  it('keeps a session saved now for the idle timeout, never past the lifetime since the sign-in', () => {
    const policy = { lifetime: 7200, idleTimeout: 1800 };
    const login = 1_000_000;
    expect(sessionTtl(policy, login, (login + 60) * 1000)).toBe(1800);
    expect(sessionTtl(policy, login, (login + 7000) * 1000)).toBe(200);
    expect(sessionTtl(policy, login, (login + 9000) * 1000)).toBe(1);
  });
});
