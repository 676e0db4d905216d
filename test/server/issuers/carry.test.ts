// What an issuer carried to a new configuration version must never keep (issue #23, reviewed as
// an attacker and as a platform engineer editing git would try it): each change below is made
// through the admin API (or, for what an older release or a long gap leaves in the store,
// directly in it), and the very next real request at every server over the store, at the
// organization's issuer, its vanity host and the namespace's shared issuer, must see it.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { CHANGE_LOG_VERSIONS } from '../../../server/store/repositories/objects.ts';
import { Browser } from '../../support/browser.ts';
import { loopbackFetch } from '../../support/loopback.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, finishSignIn, setPassword, submitCredentials } from '../../support/sign-in.ts';
import { storeBackends } from '../../support/store-backends.ts';
import { NS, accessPolicy, client, idp, organization, template, user, workspace } from '../../support/objects.ts';

let gh: TestServer;
let replica: TestServer;
const servers = () => [gh, replica];
const secrets = new Map<string, string>();
const VANITY = 'sso.harbor.example';
const OLD_CALLBACK = 'https://old.harbor.example/callback';
const PASSWORD = 'a long enough password';
const GOLD = 'https://gold.example';
const insecure = { execute: [oidc.allowInsecureRequests] };

const m2m = (org: string, spec: object = {}) => client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: [], audiences: [`https://api.${org}.example`], ...spec });

async function secretOf(name: string): Promise<string> {
  const res = await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`);
  expect(res.status).toBe(200);
  secrets.set(name, res.body.clientSecret);
  return res.body.clientSecret;
}

/** client_credentials at `org`'s issuer on `server` as client `name` (its secret unless given). */
async function token(server: TestServer, org: string, options: { name?: string; secret?: string; resource?: string; scope?: string } = {}) {
  const name = options.name ?? `${org}-sync`;
  const auth = Buffer.from(`${encodeURIComponent(`${name}.${NS}`)}:${encodeURIComponent(options.secret ?? secrets.get(name) ?? '')}`).toString('base64');
  const body = new URLSearchParams({ grant_type: 'client_credentials', ...(options.resource ? { resource: options.resource } : {}), ...(options.scope ? { scope: options.scope } : {}) });
  const res = await fetch(`${server.url}/${NS}/${org}/token`, { method: 'POST', headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, body: (await res.json()) as { access_token?: string; expires_in?: number; error?: string } };
}

/**
 * The status of an authorization request of `name` at `org`'s issuer on `server` (undefined: the shared one; at its vanity
 * host when `vanity`): 303 on to the sign-in, 400 for a redirect URI the client has not.
 */
async function authorize(server: TestServer, org: string | undefined, name: string, redirectUri: string, vanity = false): Promise<number> {
  const port = new URL(server.url).port;
  const issuer = vanity ? `http://${VANITY}:${port}` : `${server.url}/${NS}${org ? `/${org}` : ''}`;
  const send = vanity ? loopbackFetch(port) : (url: string) => fetch(url, { redirect: 'manual' });
  const discovery = (await (await send(`${issuer}/.well-known/openid-configuration`)).json()) as { authorization_endpoint: string };
  const query = new URLSearchParams({ client_id: `${name}.${NS}`, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 'state-0123456789', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
  return (await send(`${discovery.authorization_endpoint}?${query}`)).status;
}

/** `email`'s password sign-in at the namespace's shared issuer on `server`, up to the answer to the credentials. */
async function postSignIn(server: TestServer, email: string) {
  const config = await oidc.discovery(new URL(`${server.url}/${NS}`), `catalog.${NS}`, secrets.get('catalog'), undefined, insecure);
  const browser = new Browser();
  const submitted = await submitCredentials(browser, config, { email, password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' });
  return { config, browser, submitted, posted: submitted.posted };
}

/** Signs `email` in at the namespace's shared issuer on `server` through the workspace's client. */
async function signInShared(server: TestServer, email: string) {
  const { config, browser, submitted } = await postSignIn(server, email);
  expect(submitted.posted.status).toBe(303);
  return { config, tokens: await finishSignIn(browser, config, submitted) };
}

const discovery = async (server: TestServer, org: string) => (await fetch(`${server.url}/${NS}/${org}/.well-known/openid-configuration`)).status;

/** `expect` at both servers, the second one over the same store. */
async function atBoth(check: (server: TestServer) => Promise<void>): Promise<void> {
  for (const server of servers()) await check(server);
}

const backends = await storeBackends();

backends.each('a carried issuer', (backend) => {
  beforeAll(async () => {
    const store = await backend.fresh();
    gh = await startTestServer({ store });
    await gh.put('workspaces', workspace());
    // Clients of Forge that declare no audience take the template's.
    await gh.put('organizationtemplates', template('gold', { clientDefaults: { audiences: [GOLD] } }));
    await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
    await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'forge' } }));
    await gh.put('organizations', organization('cascade'));
    await gh.put('organizations', organization('harbor', { domains: [VANITY] }));
    for (const org of ['forge', 'cascade']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', m2m('forge', { audiences: undefined }));
    for (const org of ['forge-eu', 'cascade']) await gh.put('clients', m2m(org));
    await gh.put('clients', m2m('harbor', { scopes: ['orders:read'] }));
    await gh.put('accesspolicies', accessPolicy('harbor-orders', 'harbor', { scopes: [{ scope: 'orders:read' }] }));
    await gh.put('clients', client('harbor-web', 'harbor', { redirectUris: [CALLBACK, OLD_CALLBACK], scopes: ['openid', 'email'] }));
    await gh.put('clients', client('catalog', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
    for (const name of ['forge-sync', 'forge-eu-sync', 'cascade-sync', 'harbor-sync', 'harbor-web', 'catalog']) await secretOf(name);
    await gh.put('users', user('lena', 'forge'));
    await setPassword(gh, 'lena', PASSWORD);
    // A second server over the same store, looking for other replicas' changes at every request.
    replica = await startTestServer({ store, pollMs: 0 });
  });
  afterAll(async () => {
    await replica.close();
    await gh.close();
  });

  describe("a signed-in user's organization", () => {
    it('suspended: the shared issuer refuses her tokens at the next request; she cannot be moved out from under its memory', async () => {
      const signedIn = new Map<TestServer, Awaited<ReturnType<typeof signInShared>>>();
      await atBoth(async (server) => {
        const session = await signInShared(server, 'lena@forge.example');
        expect(await oidc.tokenIntrospection(session.config, session.tokens.access_token)).toMatchObject({ active: true, organization_id: 'forge' });
        signedIn.set(server, session);
      });
      // The shared issuer remembers each user's organization (provider.ts): a user is never moved to another.
      expect((await gh.admin('PUT', `/admin/v1/namespaces/${NS}/users/lena`, user('lena', 'cascade'))).status).toBe(422);
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' }, suspended: true }));
      await atBoth(async (server) => {
        const { config, tokens } = signedIn.get(server)!;
        expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: false });
        await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toThrow();
      });
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
    });

    it("an IdPConnection of another organization listing her domain: she still signs in at her organization's directory", async () => {
      const claimed = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/idpconnections/cascade-sso`, idp('cascade-sso', 'cascade', { emailDomains: ['forge.example'] }));
      expect(claimed.status).toBe(422);
      await atBoth(async (server) => expect((await postSignIn(server, 'lena@forge.example')).posted.status).toBe(303));
    });

    it("narrowed to other networks: the shared issuer refuses its users' next sign-in, having admitted them before", async () => {
      await atBoth(async (server) => expect((await postSignIn(server, 'lena@forge.example')).posted.status).toBe(303));
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' }, network: { allowedCidrs: ['203.0.113.0/24'] } }));
      await atBoth(async (server) => expect((await postSignIn(server, 'lena@forge.example')).posted.status).toBe(403));
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
      await atBoth(async (server) => expect((await postSignIn(server, 'lena@forge.example')).posted.status).toBe(303));
    });
  });

  describe("a Client's registration", () => {
    it('a redirect URI removed: refused at the very next authorization request, at its issuer and its vanity host', async () => {
      await atBoth(async (server) => {
        for (const vanity of [false, true]) expect(await authorize(server, 'harbor', 'harbor-web', OLD_CALLBACK, vanity)).toBe(303);
      });
      await gh.put('clients', client('harbor-web', 'harbor', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
      await atBoth(async (server) => {
        for (const vanity of [false, true]) {
          expect(await authorize(server, 'harbor', 'harbor-web', OLD_CALLBACK, vanity)).toBe(400);
          expect(await authorize(server, 'harbor', 'harbor-web', CALLBACK, vanity)).toBe(303);
        }
      });
    });

    it('a scope removed from the client: no longer in its tokens at the next request, its policy still granting it', async () => {
      const scopeAt = async (server: TestServer) => decodeJwt((await token(server, 'harbor', { scope: 'orders:read' })).body.access_token ?? 'e30.e30.').scope;
      await atBoth(async (server) => expect(await scopeAt(server)).toBe('orders:read'));
      await gh.put('clients', m2m('harbor', { scopes: [] }));
      await atBoth(async (server) => expect(await scopeAt(server)).not.toBe('orders:read'));
      await gh.put('clients', m2m('harbor', { scopes: ['orders:read'] }));
      await atBoth(async (server) => expect(await scopeAt(server)).toBe('orders:read'));
    });

    it("a workspace client's redirect URI removed: refused at the shared issuer's very next authorization request", async () => {
      await gh.put('clients', client('catalog', undefined, { redirectUris: [CALLBACK, OLD_CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
      await atBoth(async (server) => expect(await authorize(server, undefined, 'catalog', OLD_CALLBACK)).toBe(303));
      await gh.put('clients', client('catalog', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
      await atBoth(async (server) => {
        expect(await authorize(server, undefined, 'catalog', OLD_CALLBACK)).toBe(400);
        expect(await authorize(server, undefined, 'catalog', CALLBACK)).toBe(303);
      });
    });

    it("moved to another organization: it no longer authenticates at the first one's issuer, and does at the other's", async () => {
      await atBoth(async (server) => expect((await token(server, 'cascade')).status).toBe(200));
      await gh.put('clients', m2m('cascade', { organizationRef: { name: 'forge-eu' } }));
      await atBoth(async (server) => {
        expect((await token(server, 'cascade')).status).toBe(401);
        expect((await token(server, 'forge-eu', { name: 'cascade-sync' })).status).toBe(200);
      });
      await gh.put('clients', m2m('cascade'));
      await atBoth(async (server) => expect((await token(server, 'forge-eu', { name: 'cascade-sync' })).status).toBe(401));
    });

    it("its organization's AccessPolicy moved to another organization: the scope is gone from its next token", async () => {
      const scopeAt = async (server: TestServer) => decodeJwt((await token(server, 'harbor', { scope: 'orders:read' })).body.access_token ?? 'e30.e30.').scope;
      await atBoth(async (server) => expect(await scopeAt(server)).toBe('orders:read'));
      await gh.put('accesspolicies', accessPolicy('harbor-orders', 'cascade', { scopes: [{ scope: 'orders:read' }] }));
      await atBoth(async (server) => expect(await scopeAt(server)).not.toBe('orders:read'));
      await gh.put('accesspolicies', accessPolicy('harbor-orders', 'harbor', { scopes: [{ scope: 'orders:read' }] }));
      await atBoth(async (server) => expect(await scopeAt(server)).toBe('orders:read'));
    });

    it('a machine turned into a web application: its secret no longer gets a machine token', async () => {
      await atBoth(async (server) => expect((await token(server, 'cascade')).status).toBe(200));
      await gh.put('clients', m2m('cascade', { type: 'web', redirectUris: [CALLBACK] }));
      await atBoth(async (server) => expect((await token(server, 'cascade')).status).toBe(400));
      await gh.put('clients', m2m('cascade'));
      await atBoth(async (server) => expect((await token(server, 'cascade')).status).toBe(200));
    });

    it("its template's clientDefaults changed: a client inheriting them takes the new ones at the next request", async () => {
      await atBoth(async (server) => expect(decodeJwt((await token(server, 'forge')).body.access_token!).aud).toBe(GOLD));
      await gh.put('organizationtemplates', template('gold', { clientDefaults: { audiences: ['https://platinum.example'] } }));
      await atBoth(async (server) => {
        expect(decodeJwt((await token(server, 'forge')).body.access_token!).aud).toBe('https://platinum.example');
        expect(await token(server, 'forge', { resource: GOLD })).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
      });
    });
  });

  describe("an organization's standing", () => {
    it('a sub-organization moved under a suspended parent: refused at once, its former parent carried and issuing', async () => {
      await atBoth(async (server) => expect((await token(server, 'forge-eu')).status).toBe(200));
      const forge = servers().map((server) => server.gatehouse.issuers.builtIssuer(NS, 'forge'));
      await gh.put('organizations', organization('cascade', { suspended: true }));
      await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'cascade' } }));
      await atBoth(async (server) => {
        expect((await token(server, 'forge-eu')).status).not.toBe(200);
        expect((await token(server, 'forge')).status).toBe(200);
      });
      // Nothing Forge's issuer reads changed: the same issuer, carried.
      expect(servers().map((server) => server.gatehouse.issuers.builtIssuer(NS, 'forge'))).toEqual(forge);
      await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'forge' } }));
      await gh.put('organizations', organization('cascade'));
      await atBoth(async (server) => expect((await token(server, 'forge-eu')).status).toBe(200));
    });

    it("a parent's token lifetime shortened: its sub-organization's next token is shortened, on every server", async () => {
      await atBoth(async (server) => expect((await token(server, 'forge-eu')).body).toMatchObject({ expires_in: 1200 })); // its parent's template's
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' }, tokens: { accessToken: '3m' } }));
      await atBoth(async (server) => expect((await token(server, 'forge-eu')).body).toMatchObject({ expires_in: 180 }));
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
    });

    it('several changes in a row on one server while the other is reading its view: the other takes every one', async () => {
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
      const oldSecret = secrets.get('forge-eu-sync')!;
      await gh.put('organizations', organization('cascade', { displayName: 'Cascade, renamed' }));
      // The replica reads what changed up to the version it polled; more lands before it reads the objects.
      const objects = replica.store.objects;
      const changesBetween = objects.changesBetween.bind(objects);
      const spy = jest.spyOn(objects, 'changesBetween').mockImplementationOnce(async (...args) => {
        const changes = await changesBetween(...args);
        await gh.put('organizations', organization('harbor', { domains: [VANITY], suspended: true }));
        await secretOf('forge-eu-sync');
        return changes;
      });
      await token(replica, 'cascade');
      spy.mockRestore();
      await atBoth(async (server) => {
        expect((await token(server, 'harbor')).status).not.toBe(200);
        expect((await token(server, 'forge-eu', { secret: oldSecret })).status).toBe(401);
        expect((await token(server, 'forge-eu')).status).toBe(200);
        expect((await token(server, 'cascade')).status).toBe(200);
      });
      await gh.put('organizations', organization('harbor', { domains: [VANITY] }));
    });
  });

  describe('a version whose changes are not known', () => {
    it('moved by a server that names no change (a release before the change log, mid-upgrade): built again, never carried', async () => {
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
      await gh.store.transaction(async (repo) => {
        const stored = (await repo.objects.get('Organization', NS, 'harbor'))!;
        const object = { ...stored.object, spec: { ...(stored.object.spec as object), suspended: true } } as typeof stored.object;
        await repo.objects.put({ ...stored, generation: stored.generation + 1, object });
        await repo.objects.bumpConfigVersion(NS, []);
      });
      expect((await token(replica, 'harbor')).status).not.toBe(200);
      await gh.put('organizations', organization('harbor', { domains: [VANITY] }));
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
    });

    it('a change log pruned past the version an issuer was built from: built again, never carried', async () => {
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
      await gh.put('organizations', organization('harbor', { domains: [VANITY], suspended: true }));
      // As many versions after it as the log keeps and more, none naming harbor: its change is pruned.
      await gh.store.transaction(async (repo) => {
        for (let i = 0; i < CHANGE_LOG_VERSIONS + 256; i++) await repo.objects.bumpConfigVersion(NS, [{ kind: 'User', name: 'nobody' }]);
      });
      expect((await token(replica, 'harbor')).status).not.toBe(200);
      await gh.put('organizations', organization('harbor', { domains: [VANITY] }));
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
    });
  });

  describe('an organization deleted and declared again under its name', () => {
    it('its clients declared again: their old secrets authenticate nowhere, at its issuer or its vanity host', async () => {
      const oldSecret = secrets.get('harbor-sync')!;
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
      expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/organizations/harbor?cascade=true`)).status).toBeLessThan(300);
      await gh.put('organizations', organization('harbor', { domains: [VANITY] }));
      await gh.put('clients', m2m('harbor', { scopes: ['orders:read'] }));
      await atBoth(async (server) => {
        expect((await token(server, 'harbor', { secret: oldSecret })).status).toBe(401);
        const port = new URL(server.url).port;
        const auth = Buffer.from(`${encodeURIComponent(`harbor-sync.${NS}`)}:${encodeURIComponent(oldSecret)}`).toString('base64');
        const res = await loopbackFetch(port)(`http://${VANITY}:${port}/token`, { method: 'POST', headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
        expect(res.status).toBe(401);
      });
      await secretOf('harbor-sync');
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
    });
  });

  describe("a namespace's first key of an algorithm", () => {
    it('made by two servers at once: each publishes both at its next request, and verifies what the other signs', async () => {
      // The replica looks for an EdDSA key, finds none, and is slower than this server to make its own.
      const keys = replica.store.keys;
      const list = keys.list.bind(keys);
      let raced = false;
      const spy = jest.spyOn(keys, 'list').mockImplementation(async (namespace) => {
        const rows = await list(namespace);
        if (!raced && !rows.some((r) => r.alg === 'EdDSA')) {
          raced = true;
          expect(await discovery(gh, 'cascade')).toBe(200);
        }
        return rows;
      });
      await gh.put('workspaces', workspace({ signingAlgorithm: 'EdDSA' }));
      expect(await discovery(replica, 'cascade')).toBe(200);
      spy.mockRestore();
      expect(raced).toBe(true);
      const kids = async (server: TestServer) =>
        ((await (await fetch(`${server.url}/${NS}/cascade/jwks`)).json()) as { keys: { kid: string; alg: string }[] }).keys
          .filter((k) => k.alg === 'EdDSA')
          .map((k) => k.kid)
          .sort();
      const made = (await gh.store.keys.list(NS))
        .filter((r) => r.alg === 'EdDSA')
        .map((r) => r.kid)
        .sort();
      expect(made).toHaveLength(2);
      await atBoth(async (server) => expect(await kids(server)).toEqual(made));
      // A token signed by either verifies with the keys the other publishes (a relying party behind a load balancer).
      for (const [signer, publisher] of [
        [gh, replica],
        [replica, gh],
      ] as const) {
        const jwks = createLocalJWKSet((await (await fetch(`${publisher.url}/${NS}/cascade/jwks`)).json()) as JSONWebKeySet);
        await expect(jwtVerify((await token(signer, 'cascade')).body.access_token!, jwks)).resolves.toBeDefined();
      }
      await gh.put('workspaces', workspace());
    });
  });

  describe("a user's name, erased and declared again in another organization", () => {
    it('judged by her new organization at the shared issuer of every server, not by the one it remembered', async () => {
      // Certification is due every 30 days: Cascade's lapses ten minutes from now, Forge's is fresh.
      await gh.put('workspaces', workspace({ lifecycle: { reviewPeriod: '30d', suspendWhenCertificationOverdue: true } }));
      const contract = (certifiedAt: string) => ({ id: 'C-1', partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: '2027-06-30T23:59:59Z', certifiedAt });
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' }, contract: contract('2026-11-23T08:00:00Z') }));
      await gh.put('organizations', organization('cascade', { contract: contract('2026-10-24T09:10:00Z') }));
      // The replica's shared issuer has seen Forge's lena.
      const before = await signInShared(replica, 'lena@forge.example');
      expect(await oidc.tokenIntrospection(before.config, before.tokens.access_token)).toMatchObject({ active: true });
      // She leaves: her declaration is deleted and her record erased; another lena joins Cascade.
      expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/users/lena`)).status).toBeLessThan(300);
      const version = async () => (await gh.store.objects.configVersions()).get(NS)!;
      const erasedAt = await version();
      expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/organizations/forge/users/lena`)).status).toBeLessThan(300);
      // Erasing moves the version too: a federated user's id comes back through a connection moved to another organization with no declaration in between.
      expect(await version()).toBe(erasedAt + 1);
      await gh.put('users', user('lena', 'cascade'));
      await setPassword(gh, 'lena', PASSWORD);
      const after = await signInShared(gh, 'lena@cascade.example');
      expect(decodeJwt(after.tokens.id_token!).organization_id).toBe('cascade');
      // Cascade's certification lapses while her token is still live: it is inactive wherever it is introspected.
      for (const server of servers()) server.clock.advance(11 * 60_000);
      await atBoth(async (server) => {
        const config = await oidc.discovery(new URL(`${server.url}/${NS}`), `catalog.${NS}`, secrets.get('catalog'), undefined, insecure);
        expect({ server: server === gh ? 'this' : 'replica', ...(await oidc.tokenIntrospection(config, after.tokens.access_token)) }).toMatchObject({ server: server === gh ? 'this' : 'replica', active: false });
      });
    });
  });
});
