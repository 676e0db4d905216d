import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { paletteOf } from '../../../server/portal/contrast.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { setPassword } from '../../support/sign-in.ts';
import { NS, client, idp, organization, template, user, workspace } from '../../support/objects.ts';
import { CALLBACK, codeGrant, text, throughSignIn } from '../broker/flow.ts';

/**
 * What an issuer reads of an organization is its effective settings (api/effective.ts): an
 * OrganizationTemplate's branding, email domains, MFA, networks and claims apply at the
 * organization's own issuer, at the namespace's shared issuer and to invitations.
 */
const PASSWORD = 'a long enough password';
const LOGO = 'data:image/png;base64,iVBORw0KGgo=';
let gh: TestServer;
const secrets: Record<string, string> = {};
const discover = (org: string | undefined, name: string) => oidc.discovery(new URL(`${gh.url}/${NS}${org ? `/${org}` : ''}`), `${name}.${NS}`, secrets[name], undefined, { execute: [oidc.allowInsecureRequests] });
/** An organization of its template's: no email domains or settings of its own. */
const templated = (name: string, templateName: string) => organization(name, { emailDomains: undefined, templateRef: { name: templateName } });

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace());
  await gh.put('organizationtemplates', template('house', { emailDomains: ['house.example'], branding: { logo: LOGO, primaryColor: '#0a7cff', accentColor: '#ff00aa' }, claims: [{ name: 'program', value: 'gold' }] }));
  await gh.put('organizationtemplates', template('locked', { emailDomains: ['locked.example'], mfa: { required: true } }));
  await gh.put('organizationtemplates', template('offsite', { emailDomains: ['offsite.example'], network: { allowedCidrs: ['203.0.113.0/24'] } }));
  for (const [org, tpl, person] of [
    ['tenant', 'house', 'tia'],
    ['vaulted', 'locked', 'lou'],
    ['remote', 'offsite', 'rae'],
  ] as const) {
    await gh.put('organizations', templated(org, tpl));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', client(`${org}-portal`, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
    await gh.put('users', user(person, org, { email: `${person}@${tpl}.example` }));
    secrets[`${org}-portal`] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-portal/secret`)).body.clientSecret;
    // Rae's own issuer turns the password page away from here too (what the last spec proves).
    if (org !== 'remote') await setPassword(gh, person, PASSWORD);
  }
  await gh.put('clients', client('hub', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  secrets.hub = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/hub/secret`)).body.clientSecret;
});
afterAll(async () => {
  await gh.close();
});

const signIn = async (org: string | undefined, clientName: string, email: string) => throughSignIn(await discover(org, clientName), email, PASSWORD);

async function tokens(org: string | undefined, clientName: string, email: string) {
  return codeGrant(await discover(org, clientName), (await signIn(org, clientName, email)).end);
}

describe("a template's branding", () => {
  it("colours and marks the organization's own sign-in page, every field of it", async () => {
    const { pages } = await signIn('tenant', 'tenant-portal', 'tia@house.example');
    // The declared colours, or the accessible shade of them the pages draw (server/portal/contrast.ts).
    const colours = paletteOf({ primaryColor: '#0a7cff', accentColor: '#ff00aa' });
    expect(pages[0]).toContain(`background:${colours.brand}`);
    expect(pages[0]).toContain(`border-left:4px solid ${colours.accent}`);
    expect(pages[0]).toContain(`<img src="${LOGO}"`);
  });

  it("colours the shared issuer's pages once the address names the organization", async () => {
    const { pages, end } = await signIn(undefined, 'hub', 'tia@house.example');
    expect(end.url.startsWith(CALLBACK)).toBe(true);
    const password = pages.find((p) => /name="password"/.test(p))!;
    const colours = paletteOf({ primaryColor: '#0a7cff', accentColor: '#ff00aa' });
    expect(password).toContain(colours.accent);
    expect(password).toContain(colours.brand);
  });
});

describe("a template's claims", () => {
  it("are in the tokens of the organization's issuer", async () => {
    const t = await tokens('tenant', 'tenant-portal', 'tia@house.example');
    expect(t.claims()).toMatchObject({ organization_id: 'tenant', program: 'gold' });
  });

  it("are in the ID token and userinfo the shared issuer gives the organization's users", async () => {
    const t = await tokens(undefined, 'hub', 'tia@house.example');
    expect(t.claims()).toMatchObject({ sub: 'tia', organization_id: 'tenant', program: 'gold' });
    const userinfo = await oidc.fetchUserInfo(await discover(undefined, 'hub'), t.access_token, 'tia');
    expect(userinfo).toMatchObject({ program: 'gold' });
  });
});

describe("a template's email domains", () => {
  it('admit invitations to its addresses and nobody else', async () => {
    const invite = (email: string) => gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/tenant/users`, { email });
    expect((await invite('new.hire@house.example')).status).toBe(201);
    const refused = await invite('someone@elsewhere.example');
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain('house.example');
  });

  it('route the shared issuer to the organization', async () => {
    const { end } = await signIn(undefined, 'hub', 'tia@house.example');
    expect(end.url.startsWith(CALLBACK)).toBe(true);
  });
});

describe("a template's MFA requirement", () => {
  it("asks the organization's users for a second factor at its own issuer and at the shared issuer", async () => {
    for (const [org, clientName] of [
      ['vaulted', 'vaulted-portal'],
      [undefined, 'hub'],
    ] as const) {
      const { end } = await signIn(org, clientName, 'lou@locked.example');
      expect(end.url.startsWith(CALLBACK)).toBe(false);
      expect(await text(end.res)).toContain('Set up two-step verification');
    }
  });
});

describe("a template's networks", () => {
  it("turn away requests from elsewhere at the organization's issuer and at the shared issuer", async () => {
    const own = await fetch(`${gh.url}/${NS}/remote/auth?client_id=x&response_type=code&scope=openid`);
    expect(own.status).toBe(403);
    const { end } = await signIn(undefined, 'hub', 'rae@offsite.example');
    expect(end.res.status).toBe(403);
    expect(await text(end.res)).toContain('Not from this network');
  });
});
