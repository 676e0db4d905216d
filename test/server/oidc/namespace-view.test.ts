// A namespace's view moves to a new configuration version by what the store's change log names
// since it (one edited organization: one object read, nothing listed), comes out as the
// namespace read whole would, shares every object that did not change, and says what changed
// in the terms an issuer built from the earlier view is judged by (server/issuers/carry.ts).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { NamespaceViews } from '../../../server/issuers/views.ts';
import { loadNamespaceView, type NamespaceView } from '../../../server/oidc/namespace-view.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, workspace } from '../../support/objects.ts';

let gh: TestServer;
const ORGS = ['forge', 'forge-eu', 'cascade', 'harbor'];

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  await gh.put('organizationtemplates', template('gold'));
  await gh.put('organizations', organization('forge', { templateRef: { name: 'gold' } }));
  await gh.put('organizations', organization('forge-eu', { parentRef: { name: 'forge' } }));
  await gh.put('organizations', organization('cascade'));
  await gh.put('organizations', organization('harbor'));
  await gh.put('clients', client('forge-web', 'forge'));
  await gh.put('clients', client('shared-portal', undefined));
  await gh.put('claimmappings', claimMapping('forge-claims', 'forge'));
  await gh.put('accesspolicies', accessPolicy('cascade-orders', 'cascade'));
  await gh.put('idpconnections', idp('harbor-directory', 'harbor', { type: 'directory', oidc: undefined }));
});
afterAll(async () => {
  await gh.close();
});

/** What issuers read of a view, in plain values. */
function contents(view: NamespaceView) {
  const names = (list: { metadata: { name: string } }[]) => list.map((o) => o.metadata.name);
  return {
    workspace: view.workspace,
    organizations: [...view.organizations].sort(([a], [b]) => a.localeCompare(b)),
    templates: [...view.templates].sort(([a], [b]) => a.localeCompare(b)),
    policies: view.policies,
    connections: view.connections,
    claimMappings: view.declarations.claimMappings,
    mfaTightenings: [...(view.declarations.mfaTightenings ?? new Map())],
    clients: [undefined, ...ORGS].map((o) => view.clientsOf(o)),
    mappings: [undefined, ...ORGS].map((o) => names(view.mappingsOf(o))),
    settings: ORGS.map((o) => view.settingsOf(o)),
    scopes: ORGS.map((o) => [...view.scopesOf(o, 'forge-web')]),
  };
}

describe('a view advanced by a change', () => {
  it('reads only what changed, comes out as the namespace read whole, and shares every object that did not change', async () => {
    const views = new NamespaceViews(gh.store);
    const first = await views.get(NS);
    await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting, renamed' }));
    await gh.put('clients', client('forge-batch', 'forge', { type: 'm2m', redirectUris: undefined }));
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/claimmappings/forge-claims`)).status).toBeLessThan(300);
    await gh.put('accesspolicies', accessPolicy('forge-eu-orders', 'forge-eu', { scopes: [{ scope: 'orders:write' }] }));
    await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
    await gh.put('organizationtemplates', template('gold', { tokens: { accessToken: '7m' } }));
    expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/harbor/certify`)).status).toBe(200);
    expect((await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/forge-eu/mfa`, { required: true })).status).toBe(200);

    const lists = jest.spyOn(gh.store.objects, 'list');
    const next = await views.get(NS);
    lists.mockRestore();
    expect(lists).not.toHaveBeenCalled();
    expect(next.version).toBeGreaterThan(first.version);
    expect(contents(next)).toEqual(contents(await loadNamespaceView(gh.store, NS, next.version)));
    // What did not change is the earlier view's own object; what did is new.
    expect(next.organizations.get('forge')).toBe(first.organizations.get('forge'));
    expect(next.clientsOf(undefined)[0]).toBe(first.clientsOf(undefined)[0]);
    expect(next.organizations.get('cascade')).not.toBe(first.organizations.get('cascade'));
    expect(next.organizations.get('harbor')!.spec.contract?.certifiedAt).toBe('2026-11-23T09:00:00.000Z');
    expect(first.organizations.get('harbor')!.spec.contract?.certifiedAt).toBeUndefined();
    // The earlier view is left as it was.
    expect(first.declarations.claimMappings?.map((m) => m.metadata.name)).toEqual(['forge-claims']);

    expect(next.change).toMatchObject({
      from: first.version,
      to: next.version,
      everything: false,
      keys: false,
      organizations: new Set(['cascade', 'forge-eu', 'forge', 'harbor']),
      owned: new Set(['forge', 'cascade']),
      templates: new Set(['gold']),
      sharedClients: false,
    });
  });

  it('answers what changed across several views, and nothing across a whole read', async () => {
    const views = new NamespaceViews(gh.store);
    const v1 = await views.get(NS);
    await gh.put('clients', client('shared-portal', undefined, { redirectUris: ['https://portal.example/callback'] }));
    const v2 = await views.get(NS);
    await gh.put('workspaces', workspace({ tokens: { accessToken: '10m' } }));
    const v3 = await views.get(NS);
    expect(views.between(NS, v2.version, v3.version)).toMatchObject({ everything: true, sharedClients: false });
    expect(views.between(NS, v1.version, v3.version)).toMatchObject({ everything: true, sharedClients: true });
    expect(views.between(NS, v1.version, v2.version)).toMatchObject({ everything: false, sharedClients: true, organizations: new Set() });
    // Read whole again (a view of another server's making, or after a gap): nothing earlier can be carried.
    views.clear();
    const whole = await views.get(NS);
    expect(whole.change).toBeUndefined();
    expect(views.between(NS, v1.version, whole.version)).toBeUndefined();
  });
});
