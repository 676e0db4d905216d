// Issuers of one namespace share one read of its declarations (server/issuers/views.ts,
// NamespaceView in server/oidc/namespace-view.ts): read once, advanced to a new view as soon as
// anything in the namespace changes (by what changed: test/server/oidc/namespace-view.test.ts),
// and each issuer takes only its own organization's clients and settings from it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import { effectiveScopes, effectiveSettings } from '../../../api/index.ts';
import { NamespaceViews } from '../../../server/issuers/views.ts';
import { snapshotOf } from '../../../server/oidc/snapshot.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, organization, workspace } from '../../support/objects.ts';

let gh: TestServer;
const secrets = new Map<string, string>();

async function declarePartner(name: string): Promise<void> {
  await gh.put('organizations', organization(name));
  await gh.put('clients', client(`${name}-sync`, name, { type: 'm2m', redirectUris: undefined, scopes: [], audiences: [`https://orders.${name}.example`] }));
  secrets.set(name, (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}-sync/secret`)).body.clientSecret);
}

/** client_credentials at `issuer`'s token endpoint with `owner`'s m2m client. */
async function token(issuer: string, owner = issuer): Promise<{ status: number; body: { access_token?: string; error?: string } }> {
  const auth = Buffer.from(`${encodeURIComponent(`${owner}-sync.${NS}`)}:${encodeURIComponent(secrets.get(owner)!)}`).toString('base64');
  const res = await fetch(`${gh.url}/${NS}/${issuer}/token`, { method: 'POST', headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string } };
}

const claimsOf = async (issuer: string) => {
  const answer = await token(issuer);
  expect(answer.status).toBe(200);
  return decodeJwt(answer.body.access_token!);
};

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  for (const name of ['forge', 'cascade']) await declarePartner(name);
  await gh.put('claimmappings', claimMapping('forge-claims', 'forge', { claims: [{ name: 'contract_id', from: 'contract.id' }] }));
});
afterAll(async () => {
  await gh.close();
});

describe("a namespace's view", () => {
  it('is read once per configuration version, by however many callers at once, and read again when the version moves', async () => {
    const views = new NamespaceViews(gh.store);
    const [a, b] = await Promise.all([views.get(NS), views.get(NS)]);
    expect(a).toBe(b);
    expect(await views.get(NS)).toBe(a);
    await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting, renamed' }));
    const moved = await views.get(NS);
    expect(moved).not.toBe(a);
    expect(moved.version).toBeGreaterThan(a.version);
    expect(moved.organizations.get('cascade')?.spec.displayName).toBe('Cascade Consulting, renamed');
    expect(a.organizations.get('cascade')?.spec.displayName).not.toBe('Cascade Consulting, renamed');
  });

  it("gives each organization's snapshot its own clients and claim mappings, and the shared issuer only the workspace's", async () => {
    const view = await new NamespaceViews(gh.store).get(NS);
    const forge = (await snapshotOf(view, gh.gatehouse.clientSecrets, 'forge'))!;
    const cascade = (await snapshotOf(view, gh.gatehouse.clientSecrets, 'cascade'))!;
    const shared = (await snapshotOf(view, gh.gatehouse.clientSecrets, undefined))!;
    expect(forge.clients.map((c) => c.clientId)).toEqual([`forge-sync.${NS}`]);
    expect(cascade.clients.map((c) => c.clientId)).toEqual([`cascade-sync.${NS}`]);
    expect(shared.clients).toEqual([]);
    expect(forge.clients[0]!.claims.access.map((c) => c.name)).toContain('contract_id');
    expect(cascade.clients[0]!.claims.access.map((c) => c.name)).not.toContain('contract_id');
    // The secret is the client's own, never another organization's.
    expect(forge.clients[0]!.secret).toBe(secrets.get('forge'));
    expect(cascade.clients[0]!.secret).toBe(secrets.get('cascade'));
    expect(await snapshotOf(view, gh.gatehouse.clientSecrets, 'nobody')).toBeUndefined();
  });
});

describe("an organization's settings from the view", () => {
  it("read only its chain's mappings and policies, and come out as from the whole namespace's", async () => {
    await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'forge' } }));
    await gh.put('claimmappings', claimMapping('forge-eu-claims', 'forge-eu', { claims: [{ name: 'region', value: 'eu' }] }));
    await gh.put('claimmappings', claimMapping('cascade-claims', 'cascade', { claims: [{ name: 'region', value: 'us' }] }));
    await gh.put('accesspolicies', accessPolicy('forge-orders', 'forge', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireApproval: true }], approvers: { roles: ['admin'] } }));
    await gh.put('accesspolicies', accessPolicy('forge-eu-orders', 'forge-eu', { scopes: [{ scope: 'orders:read', requireMfa: true }, { scope: 'orders:write' }, { scope: 'orders:delete' }] }));
    await gh.put('accesspolicies', accessPolicy('cascade-orders', 'cascade', { scopes: [{ scope: 'orders:delete' }] }));
    const view = await new NamespaceViews(gh.store).get(NS);
    for (const name of ['forge', 'forge-eu', 'cascade']) {
      expect(view.settingsOf(name)).toEqual(effectiveSettings(view.declarations, name));
      expect(view.scopesOf(name, 'forge-sync')).toEqual(effectiveScopes(view.declarations, name, 'forge-sync'));
    }
    // A sub-organization inherits its parent's mappings, never a sibling's; its scopes are narrowed by its parent's.
    expect(view.settingsOf('forge-eu')!.claims.map((c) => [c.value.name, c.source])).toEqual(
      expect.arrayContaining([
        ['contract_id', 'parent:forge'],
        ['region', 'organization'],
      ]),
    );
    expect(view.settingsOf('forge-eu')!.claims.find((c) => c.value.name === 'region')!.value).toMatchObject({ value: 'eu' });
    expect([...view.scopesOf('forge-eu', 'forge-sync').keys()].sort()).toEqual(['orders:read', 'orders:write']);
    expect(view.scopesOf('forge-eu', 'forge-sync').get('orders:write')!.requireApproval.value).toBe(true);
  });
});

describe("a namespace's key ring", () => {
  it('is opened once for every issuer of a view, and again once a key takes over or expires', async () => {
    const views = new NamespaceViews(gh.store);
    const view = await views.get(NS);
    let opened = 0;
    const open = async () => ({ signers: [], publicJwks: [], nextChange: 5_000, opened: ++opened });
    const first = await views.keyRing(view, 'ES256', open, 1_000);
    expect(await views.keyRing(view, 'ES256', open, 4_999)).toBe(first);
    expect(opened).toBe(1);
    const after = await views.keyRing(view, 'ES256', open, 5_000);
    expect(after).not.toBe(first);
    expect(opened).toBe(2);
    // Another algorithm is another ring; a new view (a new configuration version) opens its own.
    await views.keyRing(view, 'RS256', open, 5_000);
    expect(opened).toBe(3);
  });

  it("signs every organization's tokens with the namespace's current key, and a rotation reaches all of them", async () => {
    const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()).kid as string;
    const signedBy = async (org: string) => kidOf((await token(org)).body.access_token!);
    const old = await signedBy('forge');
    expect(await signedBy('cascade')).toBe(old);
    const { kid: next } = await gh.gatehouse.keys.rotate(NS, 'ES256', { publishAheadSeconds: 3600, retainForSeconds: 7200 });
    for (const org of ['forge', 'cascade']) {
      const jwks = (await (await fetch(`${gh.url}/${NS}/${org}/jwks`)).json()) as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual([old, next].sort());
      expect(await signedBy(org)).toBe(old);
    }
    gh.clock.advance(3601 * 1000);
    expect([await signedBy('forge'), await signedBy('cascade')]).toEqual([next, next]);
  });
});

describe('issuers built from a shared view', () => {
  it("take a change to one organization at once, and it never reaches another organization's issuer", async () => {
    // Both issuers built and serving.
    const [forgeBefore, cascadeBefore] = [await claimsOf('forge'), await claimsOf('cascade')];
    expect(forgeBefore.exp! - forgeBefore.iat!).toBe(15 * 60);
    expect(forgeBefore.contract_id).toBeDefined();
    expect(cascadeBefore.contract_id).toBeUndefined();

    await gh.put('organizations', organization('forge', { tokens: { accessToken: '5m' } }));
    await gh.put(
      'claimmappings',
      claimMapping('forge-claims', 'forge', {
        claims: [
          { name: 'contract_id', from: 'contract.id' },
          { name: 'partner_type', from: 'contract.partnerType' },
        ],
      }),
    );
    const [forge, cascade] = [await claimsOf('forge'), await claimsOf('cascade')];
    expect(forge.exp! - forge.iat!).toBe(5 * 60);
    expect(forge.partner_type).toBeDefined();
    expect({ lifetime: cascade.exp! - cascade.iat!, contract: cascade.contract_id, partner: cascade.partner_type, iss: cascade.iss }).toEqual({ lifetime: 15 * 60, contract: undefined, partner: undefined, iss: `${gh.url}/${NS}/cascade` });
  });

  it("refuse one organization's client at another organization's issuer", async () => {
    await claimsOf('cascade');
    expect(await token('cascade', 'forge')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await token('forge', 'cascade')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('serve an organization declared after the others were built, with its own client alone', async () => {
    await claimsOf('forge');
    await declarePartner('pinnacle');
    expect((await claimsOf('pinnacle')).iss).toBe(`${gh.url}/${NS}/pinnacle`);
    expect(await token('forge', 'pinnacle')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await token('pinnacle', 'forge')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });
});
