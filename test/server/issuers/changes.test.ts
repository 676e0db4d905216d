// One configuration change costs what it changes (issue #23). When a namespace's version moves,
// every issuer that read what changed takes the change at its next request, on this server and
// on a second one over the same store (SQLite, and PostgreSQL as replicas share it); every
// other issuer is carried to the new version as it was: the same issuer, not built again, its
// kept discovery document still served without a provider (each server keeps one provider
// live, so a rebuilt issuer needs one built to answer).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import { routeEmail } from '../../../server/broker/routing.ts';
import type { Issuer } from '../../../server/issuers/issuer.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { storeBackends } from '../../support/store-backends.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, user, workspace } from '../../support/objects.ts';

let gh: TestServer;
let replica: TestServer;
let before: Map<TestServer, Map<Label, Issuer | undefined>>;
const servers = () => [gh, replica];
const secrets = new Map<string, string>();
/** Each issuer by its organization ('shared': the namespace's shared issuer). */
const ISSUERS = ['forge', 'forge-eu', 'cascade', 'harbor', 'shared'] as const;
type Label = (typeof ISSUERS)[number];
const orgOf = (label: Label) => (label === 'shared' ? undefined : label);
const base = (server: TestServer, label: Label) => `${server.url}/${NS}${label === 'shared' ? '' : `/${label}`}`;
const m2m = (org: string, spec: object = {}) => client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: [], audiences: [`https://api.${org}.example`], ...spec });

async function secretOf(name: string): Promise<string> {
  const res = await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`);
  secrets.set(name, res.body.clientSecret);
  return res.body.clientSecret;
}

/** client_credentials at `org`'s issuer on `server` with client `name` (its secret unless given). */
async function token(server: TestServer, org: string, name = `${org}-sync`, secret = secrets.get(name) ?? '', scope?: string) {
  const auth = Buffer.from(`${encodeURIComponent(`${name}.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64');
  const res = await fetch(`${base(server, org as Label)}/token`, { method: 'POST', headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials${scope ? `&scope=${encodeURIComponent(scope)}` : ''}` });
  return { status: res.status, body: (await res.json()) as { access_token?: string; expires_in?: number; error?: string } };
}

const discovery = async (server: TestServer, label: Label) => (await fetch(`${base(server, label)}/.well-known/openid-configuration`)).status;
const built = (server: TestServer, label: Label): Issuer | undefined => server.gatehouse.issuers.builtIssuer(NS, orgOf(label));

/** Every issuer built at both servers, its discovery document kept: the issuers as they are before a change. */
async function warm(): Promise<Map<TestServer, Map<Label, Issuer | undefined>>> {
  const seen = new Map<TestServer, Map<Label, Issuer | undefined>>();
  for (const server of servers()) {
    const issuers = new Map<Label, Issuer | undefined>();
    for (const label of ISSUERS) {
      expect(await discovery(server, label)).toBe(200);
      issuers.set(label, built(server, label));
    }
    seen.set(server, issuers);
  }
  return seen;
}

/**
 * Asks every issuer at both servers for its discovery document after a change and expects
 * exactly `rebuilt` to have been built again: a new issuer, whose document took a provider to
 * answer; every other one is the issuer from before, answering its kept document.
 */
async function expectRebuilt(before: Map<TestServer, Map<Label, Issuer | undefined>>, rebuilt: Label[]): Promise<void> {
  for (const server of servers()) {
    const providers = server.gatehouse.issuers.providersBuilt;
    const fresh: Label[] = [];
    for (const label of ISSUERS) {
      expect(await discovery(server, label)).toBe(200);
      if (built(server, label) !== before.get(server)!.get(label)) fresh.push(label);
    }
    expect({ server: server === gh ? 'this' : 'replica', rebuilt: fresh }).toEqual({ server: server === gh ? 'this' : 'replica', rebuilt });
    expect(server.gatehouse.issuers.providersBuilt - providers).toBe(rebuilt.length);
  }
}

/** `expect` at both servers, the second one over the same store. */
async function atBoth(check: (server: TestServer) => Promise<void>): Promise<void> {
  for (const server of servers()) await check(server);
}

const backends = await storeBackends();

backends.each('one configuration change', (backend) => {
  beforeAll(async () => {
    const store = await backend.fresh();
    gh = await startTestServer({ store, maxProviders: 1 });
    await gh.put('workspaces', workspace());
    await gh.put('organizationtemplates', template('gold', { tokens: { accessToken: '20m' } }));
    await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
    await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'forge' } }));
    await gh.put('organizations', organization('cascade'));
    await gh.put('organizations', organization('harbor'));
    for (const org of ['forge', 'forge-eu', 'cascade', 'harbor']) {
      await gh.put('clients', m2m(org));
      await secretOf(`${org}-sync`);
    }
    // A second server over the same store, looking for other replicas' changes at every request.
    replica = await startTestServer({ store, maxProviders: 1, pollMs: 0 });
  });
  afterAll(async () => {
    await replica.close();
    await gh.close();
  });

  beforeEach(async () => {
    before = await warm();
  });

  describe('a change to one organization', () => {
    it('reaches its own issuer, its sub-organization and the shared issuer at their next request, and no other issuer', async () => {
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' }, tokens: { accessToken: '5m' } }));
      await expectRebuilt(before, ['forge', 'forge-eu', 'shared']);
      await atBoth(async (server) => {
        expect((await token(server, 'forge')).body.expires_in).toBe(300);
        expect((await token(server, 'cascade')).body.expires_in).toBe(900);
      });
    });

    it('to an unrelated organization builds none of the others again', async () => {
      await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting, renamed' }));
      await expectRebuilt(before, ['cascade', 'shared']);
    });

    it('to a sub-organization leaves its parent as it was', async () => {
      await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'forge' }, tokens: { accessToken: '4m' } }));
      await expectRebuilt(before, ['forge-eu', 'shared']);
      await atBoth(async (server) => expect((await token(server, 'forge-eu')).body.expires_in).toBe(240));
    });

    it('suspending it stops its tokens at the next request on every server, and only its own', async () => {
      await gh.put('organizations', organization('harbor', { suspended: true }));
      await atBoth(async (server) => {
        expect((await token(server, 'harbor')).status).not.toBe(200);
        expect((await token(server, 'cascade')).status).toBe(200);
      });
      expect(built(gh, 'cascade')).toBe(before.get(gh)!.get('cascade'));
      expect(built(replica, 'cascade')).toBe(before.get(replica)!.get('cascade'));
      await gh.put('organizations', organization('harbor'));
    });

    it('ending its contract stops its tokens at the next request on every server', async () => {
      await gh.put('organizations', organization('harbor', { contract: { id: 'C-harbor', partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: '2026-11-01T00:00:00Z' } }));
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).not.toBe(200));
      await gh.put('organizations', organization('harbor'));
      await atBoth(async (server) => expect((await token(server, 'harbor')).status).toBe(200));
    });
  });

  describe('a change to what an organization inherits', () => {
    it('the Workspace: every issuer', async () => {
      await gh.put('workspaces', workspace({ tokens: { accessToken: '10m' } }));
      await expectRebuilt(before, [...ISSUERS]);
      await atBoth(async (server) => expect((await token(server, 'harbor')).body.expires_in).toBe(600));
      await gh.put('workspaces', workspace());
    });

    it('its OrganizationTemplate: the organizations naming it (and those below them), not the others', async () => {
      await gh.put('organizationtemplates', template('gold', { tokens: { accessToken: '7m' } }));
      await expectRebuilt(before, ['forge', 'forge-eu', 'shared']);
      await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
      await atBoth(async (server) => expect((await token(server, 'forge')).body.expires_in).toBe(420));
    });
  });

  describe("a change to an organization's clients", () => {
    it('a client added, changed and deleted: at its organization at once, nowhere else', async () => {
      await gh.put('clients', client('forge-batch', 'forge', { type: 'm2m', redirectUris: undefined, scopes: [], audiences: ['https://batch.forge.example'] }));
      await secretOf('forge-batch');
      await expectRebuilt(before, ['forge']);
      await atBoth(async (server) => expect(decodeJwt((await token(server, 'forge', 'forge-batch')).body.access_token!).aud).toBe('https://batch.forge.example'));

      before = await warm();
      await gh.put('clients', client('forge-batch', 'forge', { type: 'm2m', redirectUris: undefined, scopes: [], audiences: ['https://batch-v2.forge.example'] }));
      await expectRebuilt(before, ['forge']);
      await atBoth(async (server) => expect(decodeJwt((await token(server, 'forge', 'forge-batch')).body.access_token!).aud).toBe('https://batch-v2.forge.example'));

      before = await warm();
      expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/clients/forge-batch`)).status).toBeLessThan(300);
      await expectRebuilt(before, ['forge']);
      await atBoth(async (server) => expect(await token(server, 'forge', 'forge-batch')).toMatchObject({ status: 401, body: { error: 'invalid_client' } }));
    });

    it('a secret rotated: the old one refused and the new one taken at its organization, nowhere else built again', async () => {
      const old = secrets.get('cascade-sync')!;
      await secretOf('cascade-sync');
      await expectRebuilt(before, ['cascade']);
      await atBoth(async (server) => {
        expect((await token(server, 'cascade', 'cascade-sync', old)).status).toBe(401);
        expect((await token(server, 'cascade')).status).toBe(200);
      });
    });

    it("a ClaimMapping: in the organization's tokens (and its sub-organization's) at the next request", async () => {
      await gh.put('claimmappings', claimMapping('forge-claims', 'forge', { claims: [{ name: 'partner_type', from: 'contract.partnerType' }] }));
      await expectRebuilt(before, ['forge', 'forge-eu', 'shared']);
      await atBoth(async (server) => {
        expect(decodeJwt((await token(server, 'forge')).body.access_token!).partner_type).toBe('consultant');
        expect(decodeJwt((await token(server, 'cascade')).body.access_token!).partner_type).toBeUndefined();
      });
    });

    it('an AccessPolicy: the scopes its organization grants, at the next request', async () => {
      await gh.put('clients', m2m('harbor', { scopes: ['orders:read'] }));
      before = await warm();
      // No policy grants it yet: the scope is not in the token, if a token is given at all.
      const scopeAt = async (server: TestServer) => {
        const answer = await token(server, 'harbor', 'harbor-sync', undefined, 'orders:read');
        return answer.body.access_token ? decodeJwt(answer.body.access_token).scope : answer.body.error;
      };
      await atBoth(async (server) => expect(await scopeAt(server)).not.toBe('orders:read'));
      await gh.put('accesspolicies', accessPolicy('harbor-orders', 'harbor', { scopes: [{ scope: 'orders:read' }] }));
      await expectRebuilt(before, ['harbor', 'shared']);
      await atBoth(async (server) => expect(await scopeAt(server)).toBe('orders:read'));
    });
  });

  describe('a change to the way users sign in', () => {
    it("an IdPConnection: its organization's issuer alone is built again; routing by email domain sees it at every issuer", async () => {
      await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'] }));
      await expectRebuilt(before, ['cascade']);
      for (const server of servers()) {
        // The shared issuer routes across the namespace, carried, with the namespace's connections as they are now.
        expect(routeEmail(built(server, 'shared')!.snapshot, 'ana@cascade.example')?.connection?.metadata.name).toBe('cascade-directory');
        expect(built(server, 'harbor')!.snapshot.connections.map((c) => c.metadata.name)).toContain('cascade-directory');
      }
    });

    it('a User: no issuer (users are read per request)', async () => {
      await gh.put('users', user('lena', 'forge'));
      await expectRebuilt(before, []);
    });

    it("a partner administrator's MFA tightening: its organization (and those below), the shared issuer", async () => {
      expect((await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/harbor/mfa`, { required: true })).status).toBe(200);
      await expectRebuilt(before, ['harbor', 'shared']);
      await atBoth(async (server) => expect(built(server, 'harbor')!.snapshot.effective.mfaRequired.value).toBe(true));
    });

    it('a certification: its organization, the shared issuer', async () => {
      expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/certify`)).status).toBe(200);
      await expectRebuilt(before, ['cascade', 'shared']);
      await atBoth(async (server) => expect(built(server, 'cascade')!.snapshot.chain[0]!.spec.contract?.certifiedAt).toBe('2026-11-23T09:00:00.000Z'));
    });
  });

  describe('a key rotation', () => {
    it('reaches every issuer: each publishes the new key at its next request', async () => {
      const { kid } = await gh.gatehouse.keys.rotate(NS, 'ES256', { publishAheadSeconds: 3600, retainForSeconds: 7200 });
      await expectRebuilt(before, [...ISSUERS]);
      await atBoth(async (server) => {
        const jwks = (await (await fetch(`${base(server, 'cascade')}/jwks`)).json()) as { keys: { kid: string }[] };
        expect(jwks.keys.map((k) => k.kid)).toContain(kid);
      });
    });
  });
});
