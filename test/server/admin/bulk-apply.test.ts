import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, claimMapping, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';

let gh: TestServer;
const apply = `/admin/v1/namespaces/${NS}/apply`;
const auditCount = async () => (await gh.store.audit.head())?.seq ?? 0;
const objectCount = async () => (await gh.store.objects.list({ namespace: NS })).length;

beforeAll(async () => {
  gh = await startTestServer();
});
afterAll(async () => {
  await gh.close();
});

describe('bulk apply (POST /admin/v1/namespaces/{namespace}/apply): one transaction, each object audited as its own PUT', () => {
  it('creates objects in the order given, so one may reference an earlier one, with one audit record each carrying its own provenance', async () => {
    const before = await auditCount();
    const res = await gh.admin(
      'POST',
      apply,
      {
        items: [{ object: organization('acme'), provenance: { file: 'acme.yaml', document: '1' } }, { object: client('acme-web', 'acme'), provenance: { file: 'acme.yaml', document: '2' } }, { object: claimMapping('acme-claims', 'acme') }],
      },
      { 'gatehouse-provenance': JSON.stringify({ source: 'git', commit: '3f2a9c1' }) },
    );
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: { outcome: string; object: { metadata: { name: string; generation: number } } }) => [r.outcome, r.object.metadata.name, r.object.metadata.generation])).toEqual([
      ['created', 'acme', 1],
      ['created', 'acme-web', 1],
      ['created', 'acme-claims', 1],
    ]);
    expect(res.body.items[1].object.status.clientId).toBeDefined();
    const records = (await gh.admin('GET', '/admin/v1/audit?organization=acme&limit=10')).body.items as { action: string; name: string; data: { provenance?: Record<string, string> } }[];
    expect(records.filter((r) => r.action.endsWith('.created')).map((r) => [r.action, r.data.provenance])).toEqual([
      ['ClaimMapping.created', { source: 'git', commit: '3f2a9c1' }],
      ['Client.created', { source: 'git', commit: '3f2a9c1', file: 'acme.yaml', document: '2' }],
      ['Organization.created', { source: 'git', commit: '3f2a9c1', file: 'acme.yaml', document: '1' }],
    ]);
    expect((await auditCount()) - before).toBe(3);
  });

  it('is idempotent: the same batch again is unchanged everywhere and writes no audit record', async () => {
    const before = await auditCount();
    const res = await gh.admin('POST', apply, { items: [{ object: organization('acme') }, { object: client('acme-web', 'acme') }] });
    expect(res.body.items.map((r: { outcome: string }) => r.outcome)).toEqual(['unchanged', 'unchanged']);
    expect(await auditCount()).toBe(before);
  });

  it('updates only what changed, with generation + 1 and the changed fields in the audit record', async () => {
    const res = await gh.admin('POST', apply, { items: [{ object: organization('acme', { displayName: 'Acme Corp' }) }, { object: client('acme-web', 'acme') }] });
    expect(res.body.items.map((r: { outcome: string; object: { metadata: { generation: number } } }) => [r.outcome, r.object.metadata.generation])).toEqual([
      ['updated', 2],
      ['unchanged', 1],
    ]);
    const last = (await gh.admin('GET', '/admin/v1/audit?organization=acme&limit=1')).body.items[0];
    expect(last).toMatchObject({ action: 'Organization.updated', data: { changes: [{ path: 'spec.displayName' }] } });
  });

  it('with ?dryRun=All runs each admission and writes, audits and announces nothing', async () => {
    const [before, count] = [await auditCount(), await objectCount()];
    const res = await gh.admin('POST', `${apply}?dryRun=All`, { items: [{ object: organization('dry') }, { object: organization('acme', { displayName: 'Renamed' }) }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('gatehouse-dry-run')).toBe('All');
    expect(res.body.items.map((r: { outcome: string }) => r.outcome)).toEqual(['created', 'updated']);
    expect([await auditCount(), await objectCount()]).toEqual([before, count]);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/acme`)).body.spec.displayName).toBe('Acme Corp');
  });
});

describe('bulk apply: a refused object names itself and nothing of the batch is written', () => {
  const unchanged = async (run: () => Promise<void>) => {
    const [audit, count] = [await auditCount(), await objectCount()];
    await run();
    expect([await auditCount(), await objectCount()]).toEqual([audit, count]);
  };

  it('an invalid object (schema) after valid ones: 422 naming the item, the object and the field', async () => {
    await unchanged(async () => {
      const res = await gh.admin('POST', apply, { items: [{ object: organization('beta') }, { object: client('beta-web', 'beta', { type: 'fax' }) }] });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ item: 1, object: `Client ${NS}/beta-web` });
      expect(res.body.errors[0].path).toBe('spec.type');
      expect(res.body.detail).toMatch(/^items\[1\]: /);
    });
  });

  it('a dangling reference in the last item rolls back the objects created before it', async () => {
    await unchanged(async () => {
      const res = await gh.admin('POST', apply, { items: [{ object: organization('gamma') }, { object: client('gamma-web', 'gamma') }, { object: client('orphan', 'nobody') }] });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ item: 2, object: `Client ${NS}/orphan`, title: 'Invalid reference' });
      expect(res.body.errors[0].path).toBe('spec.organizationRef.name');
    });
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/gamma`)).status).toBe(404);
  });

  it('an order that references a later item is refused (order is the caller’s)', async () => {
    await unchanged(async () => {
      const res = await gh.admin('POST', apply, { items: [{ object: client('delta-web', 'delta') }, { object: organization('delta') }] });
      expect(res).toMatchObject({ status: 422, body: { item: 0 } });
    });
  });

  it('an object of another namespace, the same object twice, an unknown kind, a bad name: 400 naming the item', async () => {
    await unchanged(async () => {
      const other = { ...organization('eps'), metadata: { name: 'eps', namespace: 'elsewhere' } };
      expect(await gh.admin('POST', apply, { items: [{ object: other }] })).toMatchObject({ status: 400, body: { item: 0, errors: [{ path: 'metadata.namespace' }] } });
      expect(await gh.admin('POST', apply, { items: [{ object: organization('eps') }, { object: organization('eps') }] })).toMatchObject({ status: 400, body: { item: 1 } });
      expect(await gh.admin('POST', apply, { items: [{ object: { ...organization('eps'), kind: 'Planet' } }] })).toMatchObject({ status: 400, body: { errors: [{ path: 'items[0].object.kind' }] } });
      expect(await gh.admin('POST', apply, { items: [{ object: organization('Not_A_Label') }] })).toMatchObject({ status: 400, body: { errors: [{ path: 'items[0].object.metadata.name' }] } });
    });
  });

  it('a body that is not a list of objects, an empty list, too many items, a bad provenance: 400', async () => {
    await unchanged(async () => {
      expect((await gh.admin('POST', apply, [organization('z')])).status).toBe(400);
      expect((await gh.admin('POST', apply, { items: [] })).status).toBe(400);
      expect((await gh.admin('POST', apply, { items: Array.from({ length: 1001 }, (_, i) => ({ object: organization(`o${i}`) })) })).status).toBe(400);
      const bad = await gh.admin('POST', apply, { items: [{ object: organization('z'), provenance: { file: 42 } }] });
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toContain('items[0].provenance');
      expect((await gh.admin('POST', `${apply}?dryRun=yes`, { items: [{ object: organization('z') }] })).status).toBe(400);
    });
  });

  it('refuses a caller without a token before reading the body', async () => {
    const res = await fetch(`${gh.url}${apply}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ object: organization('z') }] }) });
    expect(res.status).toBe(401);
  });
});

describe('bulk status (POST /admin/v1/namespaces/{namespace}/status): one transaction, all or nothing', () => {
  const statusPath = `/admin/v1/namespaces/${NS}/status`;
  const ready = (generation: number) => ({ observedGeneration: generation, conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: 'in sync', lastTransitionTime: '2026-11-23T09:00:00Z' }] });
  const statusOf = async (plural: string, name: string) => (await gh.admin('GET', `/admin/v1/namespaces/${NS}/${plural}/${name}`)).body.status;

  it('writes several statuses and answers each object as it now is', async () => {
    const res = await gh.admin('POST', statusPath, {
      items: [
        { kind: 'Organization', name: 'acme', status: ready(2) },
        { kind: 'Client', name: 'acme-web', status: ready(1) },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.items.map((o: { metadata: { name: string }; status: { observedGeneration: number } }) => [o.metadata.name, o.status.observedGeneration])).toEqual([
      ['acme', 2],
      ['acme-web', 1],
    ]);
    expect(await statusOf('clients', 'acme-web')).toMatchObject({ observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }] });
  });

  it('an invalid status or a missing object names its item, and no status of the batch is written', async () => {
    const invalid = await gh.admin('POST', statusPath, {
      items: [
        { kind: 'Organization', name: 'acme', status: ready(5) },
        { kind: 'Client', name: 'acme-web', status: { observedGeneration: 'two' } },
      ],
    });
    expect(invalid).toMatchObject({ status: 422, body: { item: 1, object: `Client ${NS}/acme-web`, errors: [{ path: 'status.observedGeneration' }] } });
    const missing = await gh.admin('POST', statusPath, {
      items: [
        { kind: 'Organization', name: 'acme', status: ready(5) },
        { kind: 'Client', name: 'nobody', status: ready(1) },
      ],
    });
    expect(missing).toMatchObject({ status: 404, body: { item: 1 } });
    expect((await statusOf('organizations', 'acme')).observedGeneration).toBe(2);
  });

  it('an unknown kind, a bad name, an empty or malformed body: 400', async () => {
    expect(await gh.admin('POST', statusPath, { items: [{ kind: 'Planet', name: 'acme', status: {} }] })).toMatchObject({ status: 400, body: { errors: [{ path: 'items[0].kind' }] } });
    expect(await gh.admin('POST', statusPath, { items: [{ kind: 'Client', name: 'Not_A_Label', status: {} }] })).toMatchObject({ status: 400, body: { errors: [{ path: 'items[0].name' }] } });
    expect((await gh.admin('POST', statusPath, { items: [] })).status).toBe(400);
    expect((await gh.admin('POST', statusPath, { status: {} })).status).toBe(400);
  });
});

describe("bulk apply: a partner administrator's guardrails are those of single PUTs", () => {
  let ana: ReturnType<typeof adminAs>;

  beforeAll(async () => {
    await gh.put('workspaces', workspace());
    await gh.put('organizations', organization('cascade'));
    await gh.put('organizations', organization('forge'));
    await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
    const consoleClient = { ...client('cascade-console', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }), metadata: { name: 'cascade-console', namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } };
    await gh.put('clients', consoleClient);
    await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }));
    const secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/cascade-console/secret`)).body.clientSecret;
    await setPassword(gh, 'ana', 'correct horse battery staple');
    ana = adminAs(gh, (await signIn(gh, 'cascade', 'cascade-console', secret, { email: 'ana@cascade.example', password: 'correct horse battery staple' })).access_token);
  });

  it('is refused exactly as the single PUT is (declared objects are managed in git or Pulumi), and nothing is written', async () => {
    const count = await objectCount();
    const single = await ana('PUT', `/admin/v1/namespaces/${NS}/clients/cascade-app`, client('cascade-app', 'cascade'));
    const batch = await ana('POST', apply, { items: [{ object: client('cascade-app', 'cascade') }] });
    expect(single.status).toBe(403);
    expect(batch.status).toBe(403);
    expect(batch.body.detail).toBe(single.body.detail);
    expect(batch.body.detail).toContain('managed in git or Pulumi');
    expect((await ana('POST', `${apply}?dryRun=All`, { items: [{ object: organization('cascade', { tokens: { accessToken: '24h' } }) }] })).status).toBe(403);
    expect((await ana('POST', apply, { items: [{ object: client('forge-sneak', 'forge') }] })).status).toBe(403);
    expect((await ana('POST', apply, { items: [{ object: client('shared', undefined) }] })).status).toBe(403);
    // Statuses too: refused in bulk as the single PUT …/status is.
    const status = { observedGeneration: 1 };
    expect((await ana('PUT', `/admin/v1/namespaces/${NS}/organizations/cascade/status`, { status })).status).toBe(403);
    expect((await ana('POST', `/admin/v1/namespaces/${NS}/status`, { items: [{ kind: 'Organization', name: 'cascade', status }] })).status).toBe(403);
    expect(await objectCount()).toBe(count);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/cascade`)).body.spec.tokens).toBeUndefined();
  });
});
