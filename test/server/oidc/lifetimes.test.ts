import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';
import { NS, client, idp, organization, template, user, workspace } from '../../support/objects.ts';

/**
 * Workspace.guardrails.maxAccessToken / maxIdToken / maxRefreshToken are ceilings on the
 * tokens actually issued, whatever an organization or its template declares, at the
 * organization's issuer and at the namespace's shared issuer alike.
 */
const PASSWORD = 'a long enough password';
const SCOPE = 'openid email offline_access';
let gh: TestServer;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace({ tokens: { accessToken: '2h', idToken: '2h', refreshToken: '30d' }, guardrails: { maxAccessToken: '10m', maxIdToken: '5m', maxRefreshToken: '1h' } }));
  await gh.put('organizationtemplates', template('generous', { tokens: { accessToken: '1d', idToken: '1d', refreshToken: '90d' } }));
  await gh.put('organizations', organization('cascade', { tokens: { accessToken: '3h', idToken: '3h', refreshToken: '60d' } }));
  await gh.put('organizations', organization('forge', { templateRef: { name: 'generous' } }));
  for (const org of ['cascade', 'forge']) {
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', client(`${org}-app`, org, { redirectUris: [CALLBACK], scopes: SCOPE.split(' ') }));
  }
  await gh.put('clients', client('portal', undefined, { redirectUris: [CALLBACK], scopes: SCOPE.split(' ') }));
  await gh.put('users', user('ana', 'cascade'));
  await gh.put('users', user('fred', 'forge'));
  for (const name of ['cascade-app', 'forge-app', 'portal']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  for (const name of ['ana', 'fred']) await setPassword(gh, name, PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('workspace guardrails cap every token issued', () => {
  it.each([
    ['its own declaration', 'cascade', 'cascade-app', 'ana@cascade.example'],
    ["its template's declaration", 'forge', 'forge-app', 'fred@forge.example'],
    ['the shared issuer', undefined, 'portal', 'ana@cascade.example'],
  ])('over %s: access 10m, ID 5m, refresh 1h', async (_what, org, name, email) => {
    const tokens = await signIn(gh, org, name, secrets[name]!, { email, password: PASSWORD }, SCOPE, { prompt: 'consent' });
    expect(tokens.expires_in).toBe(600);
    const id = decodeJwt(tokens.id_token!);
    expect(id.exp! - id.iat!).toBe(300);
    expect(tokens.refresh_token).toBeDefined();
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}${org ? `/${org}` : ''}`), `${name}.${NS}`, secrets[name]!, undefined, { execute: [oidc.allowInsecureRequests] });
    gh.clock.advance(59 * 60_000);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.expires_in).toBe(600);
    // Rotation does not extend it: the grant and its refresh tokens end with the first hour.
    gh.clock.advance(2 * 60_000);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
