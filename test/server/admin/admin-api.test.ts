import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, user, workspace } from '../../support/objects.ts';

let gh: TestServer;
const path = (plural: string, name?: string) => `/admin/v1/namespaces/${NS}/${plural}${name ? `/${name}` : ''}`;
const auditCount = async () => (await gh.store.audit.head())?.seq ?? 0;

beforeAll(async () => {
  gh = await startTestServer();
});
afterAll(async () => {
  await gh.close();
});

describe('admin API: every kind round-trips', () => {
  it('PUT then GET returns the declaration with server-set metadata, for every kind', async () => {
    const objects = [
      ['workspaces', workspace()],
      ['organizationtemplates', template('standard')],
      ['organizations', organization('cascade', { templateRef: { name: 'standard' } })],
      ['idpconnections', idp('cascade-idp', 'cascade')],
      ['clients', client('cascade-app', 'cascade')],
      ['claimmappings', claimMapping('cascade-claims', 'cascade', { clientRef: { name: 'cascade-app' } })],
      ['accesspolicies', accessPolicy('cascade-policy', 'cascade')],
      ['users', user('ana', 'cascade', { roles: ['organization-admin'] })],
    ] as const;
    for (const [plural, object] of objects) {
      const put = await gh.admin('PUT', path(plural, object.metadata.name), object);
      expect(put.status).toBe(201);
      expect(put.headers.get('gatehouse-outcome')).toBe('created');
      const got = await gh.admin('GET', path(plural, object.metadata.name));
      expect(got.status).toBe(200);
      expect(got.body.kind).toBe(object.kind);
      expect(got.body.metadata).toMatchObject({ name: object.metadata.name, namespace: NS, generation: 1 });
      expect(got.body.metadata.creationTimestamp).toBe('2026-11-23T09:00:00.000Z');
      expect(got.body.spec).toMatchObject(object.spec);
    }
  });

  it('fills in schema defaults, so what is read back can be PUT again unchanged', async () => {
    const got = await gh.admin('GET', path('organizations', 'cascade'));
    expect(got.body.spec.suspended).toBe(false);
    const again = await gh.admin('PUT', path('organizations', 'cascade'), got.body);
    expect(again.status).toBe(200);
    expect(again.headers.get('gatehouse-outcome')).toBe('unchanged');
  });

  it('lists a kind in a namespace and across namespaces', async () => {
    const list = await gh.admin('GET', path('organizations'));
    expect(list.body.kind).toBe('OrganizationList');
    expect(list.body.items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['cascade']);
    const all = await gh.admin('GET', '/admin/v1/clients');
    expect(all.body.items).toHaveLength(1);
  });

  it("reports an organization's issuer URL in its status", async () => {
    const got = await gh.admin('GET', path('organizations', 'cascade'));
    expect(got.body.status.issuer).toBe(`${gh.url}/${NS}/cascade`);
  });
});

describe('admin API: idempotent PUT', () => {
  it('the same body twice keeps the generation and writes no audit record', async () => {
    const before = await auditCount();
    const first = await gh.admin('PUT', path('organizations', 'forge'), organization('forge'));
    const second = await gh.admin('PUT', path('organizations', 'forge'), organization('forge'));
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.headers.get('gatehouse-outcome')).toBe('unchanged');
    expect(second.body.metadata.generation).toBe(1);
    expect(await auditCount()).toBe(before + 1);
  });

  it('a changed spec bumps the generation by one and records what changed', async () => {
    const changed = await gh.admin('PUT', path('organizations', 'forge'), organization('forge', { displayName: 'Forge Supplies' }), {
      'gatehouse-provenance': JSON.stringify({ source: 'git', commit: '3f2a9c1' }),
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('gatehouse-outcome')).toBe('updated');
    expect(changed.body.metadata.generation).toBe(2);
    const audit = await gh.admin('GET', `/admin/v1/audit?organization=forge&limit=1`);
    expect(audit.body.items[0]).toMatchObject({
      action: 'Organization.updated',
      actor: 'admin-token:bootstrap',
      organization: 'forge',
      kind: 'Organization',
      name: 'forge',
      data: { generation: 2, changes: [{ path: 'spec.displayName', before: 'forge', after: 'Forge Supplies' }], provenance: { source: 'git', commit: '3f2a9c1' } },
    });
  });

  it('a label change is a change; key order is not', async () => {
    const org = organization('forge', { displayName: 'Forge Supplies' });
    const reordered = { spec: org.spec, metadata: org.metadata, kind: org.kind, apiVersion: org.apiVersion };
    expect((await gh.admin('PUT', path('organizations', 'forge'), reordered)).headers.get('gatehouse-outcome')).toBe('unchanged');
    const labelled = { ...org, metadata: { ...org.metadata, labels: { tier: 'gold' } } };
    const res = await gh.admin('PUT', path('organizations', 'forge'), labelled);
    expect(res.body.metadata.generation).toBe(3);
  });
});

describe('admin API: bad input is refused, names the field, and changes nothing', () => {
  async function expectRefused(res: { status: number; body: any; headers: Headers }, status: number, field?: string) {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.status).toBe(status);
    if (field) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(field);
  }

  it('wrong types', async () => {
    const before = await auditCount();
    const res = await gh.admin('PUT', path('organizations', 'bad'), organization('bad', { suspended: 'yes' }));
    await expectRefused(res, 422, 'spec.suspended');
    expect(res.body.detail).toContain(`Organization ${NS}/bad: spec.suspended`);
    expect((await gh.admin('GET', path('organizations', 'bad'))).status).toBe(404);
    expect(await auditCount()).toBe(before);
  });

  it('a date that is not RFC 3339', async () => {
    const bad = organization('bad');
    (bad.spec as any).contract.endsAt = 'next summer';
    const res = await gh.admin('PUT', path('organizations', 'bad'), bad);
    await expectRefused(res, 422, 'spec.contract.endsAt');
    expect(res.body.detail).toBe(`Organization ${NS}/bad: spec.contract.endsAt: expected an RFC 3339 date-time`);
  });

  it('unknown fields, at any depth', async () => {
    const res = await gh.admin('PUT', path('clients', 'bad'), client('bad', 'cascade', { redirectURIs: ['https://x.example/cb'] }));
    await expectRefused(res, 422, 'spec.redirectURIs');
    const deep = organization('bad', { contract: { id: 'x', partnerType: 'vendor', owner: 'o@b.example', endsAt: '2027-01-01T00:00:00Z', approver: 'me' } });
    await expectRefused(await gh.admin('PUT', path('organizations', 'bad'), deep), 422, 'spec.contract.approver');
  });

  it('a missing required field', async () => {
    const org = organization('bad');
    delete (org.spec as any).displayName;
    const res = await gh.admin('PUT', path('organizations', 'bad'), org);
    await expectRefused(res, 422, 'spec.displayName');
    expect(res.body.errors).toContainEqual({ path: 'spec.displayName', message: 'required' });
  });

  it('names that are not DNS-1123 labels, in the body or the URL', async () => {
    await expectRefused(await gh.admin('PUT', path('organizations', 'Bad_Name'), organization('Bad_Name')), 400, 'metadata.name');
    const bodyOnly = organization('UPPER');
    await expectRefused(await gh.admin('PUT', path('organizations', 'upper'), bodyOnly), 422, 'metadata.name');
    await expectRefused(await gh.admin('PUT', path('organizations', 'a'.repeat(64)), organization('a'.repeat(64))), 400, 'metadata.name');
  });

  it('a body whose name, namespace or kind differs from the URL', async () => {
    await expectRefused(await gh.admin('PUT', path('organizations', 'other'), organization('bad')), 400, 'metadata.name');
    await expectRefused(await gh.admin('PUT', path('clients', 'bad'), organization('bad')), 400, 'kind');
    const elsewhere = { ...organization('bad'), metadata: { name: 'bad', namespace: 'elsewhere' } };
    await expectRefused(await gh.admin('PUT', path('organizations', 'bad'), elsewhere), 400, 'metadata.namespace');
  });

  it('dangling references: a client of an organization that does not exist', async () => {
    const before = await auditCount();
    const res = await gh.admin('PUT', path('clients', 'orphan'), client('orphan', 'nobody'));
    await expectRefused(res, 422, 'spec.organizationRef.name');
    expect(res.body.detail).toContain('Organization "nobody" does not exist');
    expect((await gh.admin('GET', path('clients', 'orphan'))).status).toBe(404);
    expect(await auditCount()).toBe(before);
  });

  it("a claim mapping cannot narrow to another organization's client", async () => {
    await gh.admin('PUT', path('clients', 'forge-app'), client('forge-app', 'forge'));
    const res = await gh.admin('PUT', path('claimmappings', 'sneaky'), claimMapping('sneaky', 'cascade', { clientRef: { name: 'forge-app' } }));
    await expectRefused(res, 422, 'spec.clientRef.name');
    expect(res.body.detail).toContain('belongs to organization forge, not to organization cascade');
  });

  it("a policy may name a workspace (shared-application) client, never another organization's; a claim mapping neither", async () => {
    await gh.admin('PUT', path('clients', 'forge-app'), client('forge-app', 'forge'));
    await gh.admin('PUT', path('clients', 'hub-app'), client('hub-app', undefined));
    expect((await gh.admin('PUT', path('accesspolicies', 'cascade-hub'), accessPolicy('cascade-hub', 'cascade', { clientRef: { name: 'hub-app' } }))).status).toBe(201);
    const foreign = await gh.admin('PUT', path('accesspolicies', 'cascade-forge'), accessPolicy('cascade-forge', 'cascade', { clientRef: { name: 'forge-app' } }));
    await expectRefused(foreign, 422, 'spec.clientRef.name');
    expect(foreign.body.detail).toContain('belongs to organization forge, not to organization cascade');
    const mapping = await gh.admin('PUT', path('claimmappings', 'cascade-hub'), claimMapping('cascade-hub', 'cascade', { clientRef: { name: 'hub-app' } }));
    await expectRefused(mapping, 422, 'spec.clientRef.name');
    expect(mapping.body.detail).toContain('belongs to the workspace, not to organization cascade');
  });

  it('cycles of parent organizations and self-parents', async () => {
    await expectRefused(await gh.admin('PUT', path('organizations', 'loop'), organization('loop', { parentRef: { name: 'loop' } })), 422, 'spec.parentRef.name');
    expect((await gh.admin('PUT', path('organizations', 'parent'), organization('parent'))).status).toBe(201);
    expect((await gh.admin('PUT', path('organizations', 'child'), organization('child', { parentRef: { name: 'parent' } }))).status).toBe(201);
    const res = await gh.admin('PUT', path('organizations', 'parent'), organization('parent', { parentRef: { name: 'child' } }));
    await expectRefused(res, 422, 'spec.parentRef.name');
    expect(res.body.detail).toContain('parent → child → parent');
  });

  it('a second workspace in one namespace', async () => {
    const second = { ...workspace(), metadata: { name: 'another', namespace: NS } };
    await expectRefused(await gh.admin('PUT', path('workspaces', 'another'), second), 422, 'metadata.name');
  });

  it('malformed JSON gets 400 and nothing is written', async () => {
    const before = await auditCount();
    await expectRefused(await gh.admin('PUT', path('organizations', 'bad'), '{"apiVersion": "gatehouse.dev/v1alpha1", "kind": '), 400);
    expect(await auditCount()).toBe(before);
  });

  it('another media type gets 415', async () => {
    const res = await gh.admin('PUT', path('organizations', 'bad'), 'name=bad', { 'content-type': 'application/x-www-form-urlencoded' });
    await expectRefused(res, 415);
  });

  it('an oversized body gets 413 and nothing is written', async () => {
    const before = await auditCount();
    const huge = organization('huge', { displayName: 'x'.repeat(3 * 1024 * 1024) });
    await expectRefused(await gh.admin('PUT', path('organizations', 'huge'), huge), 413);
    expect((await gh.admin('GET', path('organizations', 'huge'))).status).toBe(404);
    expect(await auditCount()).toBe(before);
  });

  it('an unknown resource type or object gets 404', async () => {
    await expectRefused(await gh.admin('GET', path('widgets')), 404);
    await expectRefused(await gh.admin('GET', path('organizations', 'nobody')), 404);
  });

  it('a malformed provenance header gets 400', async () => {
    await expectRefused(await gh.admin('PUT', path('organizations', 'forge'), organization('forge'), { 'gatehouse-provenance': 'commit=abc' }), 400);
  });

  it('YAML bodies are accepted as well as JSON', async () => {
    const yaml = `apiVersion: gatehouse.dev/v1alpha1\nkind: Organization\nmetadata:\n  name: yaml-org\nspec:\n  displayName: From YAML\n`;
    const res = await gh.admin('PUT', path('organizations', 'yaml-org'), yaml, { 'content-type': 'application/yaml' });
    expect(res.status).toBe(201);
    expect(res.body.metadata.namespace).toBe(NS);
  });
});

describe('admin API: authentication', () => {
  it('refuses requests without a bearer token or with a wrong one, and never echoes it', async () => {
    const none = await fetch(`${gh.url}${path('organizations')}`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await fetch(`${gh.url}${path('organizations')}`, { headers: { authorization: 'Bearer not-the-token-at-all-xxxxxxxx' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain('not-the-token');
    const basic = await fetch(`${gh.url}${path('organizations')}`, { headers: { authorization: `Basic ${Buffer.from(`x:${gh.token}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
  });

  it('refuses writes without a token before reading the body', async () => {
    const res = await fetch(`${gh.url}${path('organizations', 'sneaky')}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(organization('sneaky')) });
    expect(res.status).toBe(401);
    expect((await gh.admin('GET', path('organizations', 'sneaky'))).status).toBe(404);
  });

  it('keeps only a hash of the bootstrap token', async () => {
    const tokens = await gh.store.adminTokens.list();
    expect(tokens).toHaveLength(1);
    expect(tokens[0]!.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(tokens)).not.toContain(gh.token);
  });

  it('serves health and readiness without a token', async () => {
    expect((await fetch(`${gh.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gh.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', store: 'sqlite' });
  });
});

describe('admin API: deletion', () => {
  it('refuses to delete an organization that still has dependants, naming them', async () => {
    const before = await auditCount();
    const res = await gh.admin('DELETE', path('organizations', 'cascade'));
    expect(res.status).toBe(409);
    expect(res.body.detail).toContain('Client cascade-app (spec.organizationRef)');
    expect(res.body.detail).toContain('?cascade=true');
    expect((await gh.admin('GET', path('organizations', 'cascade'))).status).toBe(200);
    expect(await auditCount()).toBe(before);
  });

  it('deletes with ?cascade=true, dependants first, each audited', async () => {
    const res = await gh.admin('DELETE', `${path('organizations', 'parent')}?cascade=true`);
    expect(res.status).toBe(200);
    expect(res.body.deleted).toEqual(['Organization/child', 'Organization/parent']);
    expect((await gh.admin('GET', path('organizations', 'child'))).status).toBe(404);
    const audit = await gh.admin('GET', `/admin/v1/audit?organization=child&limit=1`);
    expect(audit.body.items[0]).toMatchObject({ action: 'Organization.deleted', data: { cascadeFrom: 'Organization/parent' } });
  });

  it('cascades through every level: organization → client → claim mapping', async () => {
    const res = await gh.admin('DELETE', `${path('organizations', 'cascade')}?cascade=true`);
    expect(res.status).toBe(200);
    expect(res.body.deleted.indexOf('ClaimMapping/cascade-claims')).toBeLessThan(res.body.deleted.indexOf('Client/cascade-app'));
    expect(res.body.deleted.at(-1)).toBe('Organization/cascade');
    for (const [plural, name] of [
      ['clients', 'cascade-app'],
      ['claimmappings', 'cascade-claims'],
      ['users', 'ana'],
      ['idpconnections', 'cascade-idp'],
    ]) {
      expect((await gh.admin('GET', path(plural!, name))).status).toBe(404);
    }
  });

  it('deleting something absent is a 404', async () => {
    expect((await gh.admin('DELETE', path('organizations', 'cascade'))).status).toBe(404);
  });
});

describe('admin API: status', () => {
  it('accepts conditions from a reconciler and validates them', async () => {
    const status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Applied', message: 'applied', lastTransitionTime: '2026-11-23T09:00:00Z' }] };
    const res = await gh.admin('PUT', `${path('organizations', 'forge')}/status`, { status });
    expect(res.status).toBe(200);
    expect(res.body.status.conditions[0].reason).toBe('Applied');
    const bad = await gh.admin('PUT', `${path('organizations', 'forge')}/status`, { status: { conditions: [{ type: 'ready', status: 'yes' }] } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('status.conditions[0].status');
  });
});

describe('audit log', () => {
  it('is a hash chain the server verifies', async () => {
    const res = await gh.admin('GET', '/admin/v1/audit/verify');
    expect(res.body).toMatchObject({ ok: true });
    expect(res.body.records).toBe(await auditCount());
  });

  it('is filtered by organization and paged newest first', async () => {
    const page1 = await gh.admin('GET', '/admin/v1/audit?organization=forge&limit=2');
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.items[0].seq).toBeGreaterThan(page1.body.items[1].seq);
    expect(page1.body.items.every((r: { organization: string }) => r.organization === 'forge')).toBe(true);
    const page2 = await gh.admin('GET', `/admin/v1/audit?organization=forge&limit=2&before=${page1.body.next}`);
    expect(page2.body.items[0].seq).toBeLessThan(page1.body.items[1].seq);
  });

  it('catches a record edited in the database', async () => {
    await gh.store.driver.run(`UPDATE audit SET actor = 'someone-else' WHERE seq = 2`);
    const res = await gh.admin('GET', '/admin/v1/audit/verify');
    expect(res.body).toMatchObject({ ok: false, seq: 2 });
    expect(res.body.problem).toContain('changed');
  });
});

describe('admin API: server-side dry run (PUT ?dryRun=All, as kubectl spells it)', () => {
  const dry = (plural: string, name: string, body: unknown) => gh.admin('PUT', `${path(plural, name)}?dryRun=All`, body);

  it('answers what a create would be, and writes, audits and announces nothing', async () => {
    const before = await auditCount();
    const res = await dry('organizations', 'dry-harbor', organization('dry-harbor'));
    expect(res.status).toBe(201);
    expect(res.headers.get('gatehouse-outcome')).toBe('created');
    expect(res.headers.get('gatehouse-dry-run')).toBe('All');
    expect(res.body).toMatchObject({ kind: 'Organization', metadata: { name: 'dry-harbor', generation: 1 }, spec: { suspended: false } });
    expect((await gh.admin('GET', path('organizations', 'dry-harbor'))).status).toBe(404);
    expect(await auditCount()).toBe(before);
  });

  it('answers "updated" for a change and "unchanged" for the same declaration, leaving the stored object as it was', async () => {
    await gh.put('organizations', organization('dry-keel'));
    const before = await auditCount();
    const suspended = await dry('organizations', 'dry-keel', organization('dry-keel', { suspended: true }));
    expect(suspended.status).toBe(200);
    expect(suspended.headers.get('gatehouse-outcome')).toBe('updated');
    expect(suspended.body.metadata.generation).toBe(2);
    const same = await dry('organizations', 'dry-keel', organization('dry-keel'));
    expect(same.headers.get('gatehouse-outcome')).toBe('unchanged');
    const stored = await gh.admin('GET', path('organizations', 'dry-keel'));
    expect(stored.body).toMatchObject({ metadata: { generation: 1 }, spec: { suspended: false } });
    // The kill switch is not pulled by a dry run: no Organization.kill-switch record, nothing at all.
    expect(await auditCount()).toBe(before);
  });

  it('runs the full admission: a dangling reference is the same 422 a real write gets', async () => {
    const before = await auditCount();
    const res = await dry('clients', 'dry-orphan', client('dry-orphan', 'no-such-org'));
    const real = await gh.admin('PUT', path('clients', 'dry-orphan'), client('dry-orphan', 'no-such-org'));
    expect(res.status).toBe(422);
    expect(res.body).toEqual(real.body);
    expect(res.body.errors).toEqual([{ path: 'spec.organizationRef.name', message: `Organization "no-such-org" does not exist in namespace ${NS}` }]);
    expect(await auditCount()).toBe(before);
  });

  it('refuses any other dryRun value with 400 naming the parameter, and writes nothing', async () => {
    const res = await gh.admin('PUT', `${path('organizations', 'dry-typo')}?dryRun=true`, organization('dry-typo'));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'dryRun', message: 'must be "All"' }]);
    expect((await gh.admin('GET', path('organizations', 'dry-typo'))).status).toBe(404);
  });

  it('is authorised as the write itself: without a token it is refused', async () => {
    const res = await fetch(`${gh.url}${path('organizations', 'dry-anon')}?dryRun=All`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(organization('dry-anon')) });
    expect(res.status).toBe(401);
  });
});
