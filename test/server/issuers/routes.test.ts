// The issuers' route table (server/issuers/routes.ts): where oidc-provider places each endpoint,
// which ones the direct path may take, and which gates each passes, all read from one table.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Provider } from 'oidc-provider';
import { buildProvider } from '../../../server/oidc/provider.ts';
import { loadSnapshot } from '../../../server/oidc/snapshot.ts';
import { directRoutes, ISSUER_ROUTES, providerRoutes, RouteIndex, UNMATCHED, type IssuerRoute } from '../../../server/issuers/routes.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, organization, workspace } from '../../support/objects.ts';

/** Every route name oidc-provider 9 may register (lib/helpers/initialize_app.js), whichever features are on. */
const PROVIDER_ROUTE_NAMES = [
  'authorization',
  'resume',
  'userinfo',
  'token',
  'jwks',
  'discovery',
  'openid_credential_issuer',
  'credential',
  'challenge',
  'registration',
  'client',
  'client_update',
  'client_delete',
  'revocation',
  'introspection',
  'end_session',
  'end_session_confirm',
  'end_session_success',
  'device_authorization',
  'code_verification',
  'device_resume',
  'pushed_authorization_request',
  'backchannel_authentication',
  'interaction',
  'submit',
  'abort',
];

let gh: TestServer;
let provider: Provider;
let issuer: string;

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge'));
  issuer = `${gh.url}/${NS}/forge`;
  // Built as the registry builds an issuer's provider.
  const snapshot = (await loadSnapshot(gh.store, gh.gatehouse.clientSecrets, NS, 'forge'))!;
  const ring = await gh.gatehouse.keys.keyRing(NS, 'ES256');
  provider = buildProvider(snapshot, ring, { store: gh.store, clock: gh.clock, issuer, cookieKeys: ['k'], admitsUser: async () => undefined, onJwtIssued: async () => undefined });
});
afterAll(async () => {
  await gh.close();
});

/** The provider's own path for a route name, or undefined when it has no such route. */
function pathFor(name: string): string | undefined {
  try {
    return provider.pathFor(name, { mountPath: '', uid: 'UID', clientId: 'CLIENT' });
  } catch {
    return undefined;
  }
}

const matches = (route: IssuerRoute, path: string) => (route.path.endsWith('/') ? path.startsWith(route.path) : path === route.path);

describe('the route table and the provider', () => {
  it('names every route the provider serves, and no route it does not', () => {
    const served = PROVIDER_ROUTE_NAMES.filter((name) => pathFor(name) !== undefined).sort();
    const declared = [...new Set(ISSUER_ROUTES.filter((r) => r.handler === 'provider').map((r) => r.name))].sort();
    expect(served).toEqual(declared);
  });

  it('places each of them where the provider answers it', () => {
    for (const name of PROVIDER_ROUTE_NAMES) {
      const path = pathFor(name);
      if (path === undefined) continue;
      expect({ name, declared: ISSUER_ROUTES.some((r) => r.name === name && matches(r, path)) }).toEqual({ name, declared: true });
    }
  });

  it("passes the provider every configurable endpoint's path from the table", () => {
    expect(providerRoutes()).toEqual({
      authorization: '/auth',
      end_session: '/session/end',
      introspection: '/token/introspection',
      jwks: '/jwks',
      pushed_authorization_request: '/request',
      revocation: '/token/revocation',
      token: '/token',
      userinfo: '/me',
    });
  });

  it('advertises in discovery the endpoints the table places', async () => {
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    const at = (name: string) => `${issuer}${ISSUER_ROUTES.find((r) => r.name === name)!.path}`;
    expect({
      authorization_endpoint: discovery.authorization_endpoint,
      token_endpoint: discovery.token_endpoint,
      userinfo_endpoint: discovery.userinfo_endpoint,
      jwks_uri: discovery.jwks_uri,
      introspection_endpoint: discovery.introspection_endpoint,
      revocation_endpoint: discovery.revocation_endpoint,
      end_session_endpoint: discovery.end_session_endpoint,
      pushed_authorization_request_endpoint: discovery.pushed_authorization_request_endpoint,
    }).toEqual({
      authorization_endpoint: at('authorization'),
      token_endpoint: at('token'),
      userinfo_endpoint: at('userinfo'),
      jwks_uri: at('jwks'),
      introspection_endpoint: at('introspection'),
      revocation_endpoint: at('revocation'),
      end_session_endpoint: at('end_session'),
      pushed_authorization_request_endpoint: at('pushed_authorization_request'),
    });
    const oauth = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
    expect(oauth.status).toBe(200);
  });

  it('gives the direct path only the endpoints resource servers and machines call at volume', () => {
    expect([...directRoutes()]).toEqual([
      ['/.well-known/openid-configuration', 'GET'],
      ['/jwks', 'GET'],
      ['/token', 'POST'],
      ['/token/introspection', 'POST'],
      ['/token/revocation', 'POST'],
    ]);
  });
});

/** One line per row: methods, path, handler, the direct path, the gates before and after the handler. */
function matrix(routes: readonly IssuerRoute[]): string[] {
  return routes.map((r) => {
    const before = r.gates.map((g) => (g === 'standing' ? `standing:${r.standing}` : g)).join(',');
    const refusal = r.refusal === 'page' ? ' (refused as a page)' : '';
    return `${(r.methods.join(',') || '*').padEnd(8)} ${r.path.padEnd(41)} ${(r.handler === 'page' ? `page:${(r.pages ?? []).join(',') || '-'}` : r.handler).padEnd(21)} ${r.direct ? 'direct' : '      '} ${before}${refusal} | ${(r.after ?? []).join(',')}`.trimEnd();
  });
}

describe('the gates of each endpoint', () => {
  it('are as this matrix says (a change to the table shows here)', () => {
    const lines = matrix([...ISSUER_ROUTES, UNMATCHED]);
    expect(lines).toEqual([
      'GET      /.well-known/openid-configuration         provider              direct origin | cache-public',
      'GET      /.well-known/oauth-authorization-server   provider                     network,rate,origin | cache-public',
      'GET      /jwks                                     provider              direct origin | cache-public',
      'POST     /token                                    provider              direct standing:token,network,rate,risk,origin | risk,audit-token',
      'POST     /token/introspection                      provider              direct standing:introspection,origin | confidential-only,introspect-jwt',
      'POST     /token/revocation                         provider              direct origin | confidential-only,revoke-jwt',
      'GET,POST /me                                       provider                     standing:bearer,network,rate,origin | audit-refusal',
      'GET,POST /auth                                     provider                     standing:page,network,rate,origin (refused as a page) | audit-refusal',
      'GET      /auth/                                    provider                     network,rate,origin |',
      'POST     /request                                  provider                     network,rate,origin |',
      'GET,POST /session/end                              provider                     origin |',
      'POST     /session/end/confirm                      provider                     origin |',
      'GET      /session/end/success                      provider                     origin |',
      '*        /session/end/                             provider                     origin |',
      'GET,POST /interaction/                             page:broker,sign-in          standing:page,network,rate,origin (refused as a page) |',
      'GET      /broker/                                  page:broker                  standing:page,network,rate,origin (refused as a page) |',
      'GET,POST /saml/                                    page:broker                  standing:page,network,rate,origin (refused as a page) |',
      'GET      /account                                  page:broker                  standing:page,network,rate,origin (refused as a page) |',
      'GET,POST /account/passkeys                         page:broker                  standing:page,network,rate,origin (refused as a page) |',
      'GET,POST /password/forgot                          page:sign-in                 standing:page,network,rate,origin (refused as a page) |',
      'GET,POST /account/password                         page:sign-in                 standing:page,network,rate,origin (refused as a page) |',
      'POST     /authorize                                page:authorize               origin |',
      '*        /ext-authz/                               page:authorize               origin |',
      '*        /ext-authz                                page:authorize               origin |',
      'GET,POST,PUT,PATCH,DELETE /scim/v2/                                 page:scim                    standing:scim,network,rate,origin |',
      'GET,POST,PUT,PATCH,DELETE /scim/v2                                  page:scim                    standing:scim,network,rate,origin |',
      '*        /account/                                 page:-                       network,rate,origin (refused as a page) |',
      '*        *                                         provider                     network,rate,origin |',
    ]);
  });

  it('every standing gate says how it refuses; only pages name pages, and only provider routes have gates after the provider', () => {
    for (const r of ISSUER_ROUTES) {
      expect({ path: r.path, answers: r.gates.includes('standing') === (r.standing !== undefined) }).toEqual({ path: r.path, answers: true });
      if (r.handler === 'page') expect(r.after ?? []).toEqual([]);
      expect({ path: r.path, pages: r.handler === 'page' ? Array.isArray(r.pages) : r.pages === undefined }).toEqual({ path: r.path, pages: true });
    }
  });

  it("finds a path's row: an exact path first, then the longest prefix, else the unmatched row", () => {
    const index = new RouteIndex(ISSUER_ROUTES, (route) => route);
    expect(index.match('/token').path).toBe('/token');
    expect(index.match('/token/introspection').path).toBe('/token/introspection');
    expect(index.match('/session/end/confirm').path).toBe('/session/end/confirm');
    expect(index.match('/session/end/elsewhere').path).toBe('/session/end/');
    expect(index.match('/auth/abc123').name).toBe('resume');
    expect(index.match('/account/password').name).toBe('account_password');
    expect(index.match('/account/passkeys').name).toBe('account_passkeys');
    expect(index.match('/account/other').name).toBe('account');
    expect(index.match('/account').name).toBe('account_home');
    expect(index.match('/scim/v2/Users/42').name).toBe('scim');
    expect(index.match('/scim/v2').name).toBe('scim');
    // No trailing slash: not a page, and metered like any other path.
    expect(index.match('/interaction')).toBe(UNMATCHED);
    expect(index.match('/token/')).toBe(UNMATCHED);
    expect(index.match('/')).toBe(UNMATCHED);
  });

  it('refuses a table that declares one path twice', () => {
    const twice: IssuerRoute[] = [ISSUER_ROUTES[0]!, ISSUER_ROUTES[0]!];
    expect(() => new RouteIndex(twice, (route) => route)).toThrow('issuer route /.well-known/openid-configuration is declared twice');
  });
});
