import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KindName } from '../../api/index.ts';
import { AdminClient } from '../../client/admin-client.ts';
import { UNKNOWN, resolveConnection, type ObjectInputs, type ObjectOutputs } from '../../provider/logic.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hostedProvider, type HostedProvider } from './hosted.ts';

const NS = 'blixit-partners';
const provenance = { source: 'pulumi', stack: 'dev', project: 'blixit-partners', update: 'update-1' };

let gh: TestServer;
let admin: AdminClient;
const providers = new Map<KindName, HostedProvider>();
const provider = (kind: KindName) => providers.get(kind)!;

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token });
  const config = { 'gatehouse:endpoint': gh.url, 'gatehouse:adminToken': gh.token };
  for (const kind of ['Organization', 'Client', 'User'] as const) providers.set(kind, (await hostedProvider(kind, config)).provider);
});
afterAll(async () => {
  await gh?.close();
});

const organization = (name: string, spec: Record<string, unknown> = {}): ObjectInputs => ({
  namespace: NS,
  name,
  provenance,
  spec: {
    displayName: name,
    contract: { id: `C-${name}`, partnerType: 'consultant', owner: 'owner@blixit.example', startsAt: '2026-01-01T00:00:00Z', endsAt: '2027-06-30T23:59:59Z' },
    ...spec,
  },
});
const client = (name: string, org: string, spec: Record<string, unknown> = {}): ObjectInputs => ({
  namespace: NS,
  name,
  provenance,
  spec: { organizationRef: { name: org }, type: 'web', redirectUris: ['https://app.example/callback'], ...spec },
});

/** Runs check as the engine does before create or update, and fails the test on any failure. */
async function checked(kind: KindName, news: ObjectInputs): Promise<ObjectInputs> {
  const result = await provider(kind).check({}, news);
  expect(result.failures).toEqual([]);
  return result.inputs as ObjectInputs;
}

async function auditActions(name: string): Promise<{ action: string; data: { provenance?: Record<string, string> } }[]> {
  const page = (await admin.request('GET', `/admin/v1/audit?namespace=${NS}&limit=1000`)) as { items: { action: string; name: string; data: { provenance?: Record<string, string> } }[] };
  return page.items.filter((i) => i.name === name);
}

describe('check', () => {
  it('reports each bad field by its property path', async () => {
    const result = await provider('Organization').check({}, organization('Bad_Name', { contract: { id: 'C', partnerType: 'consultant', owner: 'not-an-email', startsAt: '2027-01-01T00:00:00Z', endsAt: '2026-01-01T00:00:00Z' } }));
    expect(result.failures).toEqual(
      expect.arrayContaining([
        { property: 'name', reason: expect.stringContaining('DNS-1123') },
        { property: 'spec.contract.owner', reason: 'expected an email address' },
        { property: 'spec.contract.endsAt', reason: 'endsAt must be later than startsAt' },
      ]),
    );
  });

  it('names an unknown field and a missing one', async () => {
    const result = await provider('Client').check({}, { namespace: NS, name: 'portal', spec: { organizationRef: { name: 'acme' }, redirectUris: ['https://a.example/cb'], colour: 'red' } });
    expect(result.failures).toEqual(
      expect.arrayContaining([
        { property: 'spec.type', reason: expect.stringContaining('"web"|"spa"|"native"|"m2m"') },
        { property: 'spec.colour', reason: 'unknown field' },
      ]),
    );
  });

  it('requires the namespace', async () => {
    const { namespace: _, ...rest } = organization('cascade');
    expect((await provider('Organization').check({}, rest)).failures).toEqual([{ property: 'namespace', reason: 'required' }]);
  });

  it("returns the inputs with the schema's defaults, so a plan compares like with like", async () => {
    const result = await provider('Organization').check({}, organization('cascade'));
    expect(result.failures).toEqual([]);
    expect((result.inputs as ObjectInputs).spec.suspended).toBe(false);
  });

  it('does not judge values a preview does not know yet', async () => {
    const result = await provider('Client').check({}, client('portal', UNKNOWN));
    expect(result.failures).toEqual([]);
  });
});

describe('diff', () => {
  const olds = { ...organization('cascade', { suspended: false }), generation: 1, issuer: 'http://x/blixit-partners/cascade' } as ObjectOutputs;

  it('updates spec, labels and annotations in place', async () => {
    expect(await provider('Organization').diff('blixit-partners/cascade', olds, { ...organization('cascade', { suspended: true }) })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(await provider('Organization').diff('blixit-partners/cascade', olds, { ...organization('cascade', { suspended: false }), labels: { tier: 'gold' } })).toMatchObject({ changes: true, replaces: [] });
  });

  it('sees no change when only the provenance differs or defaults were spelled out', async () => {
    const news = { ...organization('cascade', { suspended: false }), provenance: { ...provenance, update: 'update-2' }, labels: {} };
    expect(await provider('Organization').diff('blixit-partners/cascade', olds, news)).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });

  it('replaces on a new namespace or name, creating the new object before deleting the old', async () => {
    expect(await provider('Organization').diff('blixit-partners/cascade', olds, { ...organization('cascade-2', { suspended: false }) })).toEqual({ changes: true, replaces: ['name'], deleteBeforeReplace: false });
    expect(await provider('Organization').diff('blixit-partners/cascade', olds, { ...organization('cascade', { suspended: false }), namespace: 'other' })).toMatchObject({ replaces: ['namespace'] });
  });

  it('replaces on a new organization, deleting first since the namespace/name stays the same', async () => {
    const oldClient = { ...client('portal', 'cascade', { scopes: [] }) } as ObjectOutputs;
    expect(await provider('Client').diff('blixit-partners/portal', oldClient, client('portal', 'forge', { scopes: [] }))).toEqual({
      changes: true,
      replaces: ['spec.organizationRef'],
      deleteBeforeReplace: true,
    });
  });
});

describe('the lifecycle against a live server', () => {
  it('creates, reads, updates in place, replaces and deletes an organization', async () => {
    const org = provider('Organization');
    const created = await org.create(await checked('Organization', organization('lifecycle')));
    expect(created.id).toBe(`${NS}/lifecycle`);
    expect(created.outs).toMatchObject({ namespace: NS, name: 'lifecycle', generation: 1, issuer: `${gh.url}/${NS}/lifecycle`, spec: { displayName: 'lifecycle', suspended: false } });

    const read = await org.read(created.id, created.outs);
    expect(read.id).toBe(created.id);
    expect(read.props).toEqual(created.outs);
    expect(read.inputs).toMatchObject({ namespace: NS, name: 'lifecycle', spec: created.outs.spec });

    const renamed = await checked('Organization', organization('lifecycle', { displayName: 'Lifecycle Ltd' }));
    expect(await org.diff(created.id, created.outs, renamed)).toMatchObject({ changes: true, replaces: [] });
    const updated = await org.update(created.id, created.outs, renamed);
    expect(updated.outs).toMatchObject({ generation: 2, spec: { displayName: 'Lifecycle Ltd' } });
    expect((await admin.get('Organization', NS, 'lifecycle'))?.spec).toMatchObject({ displayName: 'Lifecycle Ltd' });

    const moved = await checked('Organization', organization('lifecycle-2', { displayName: 'Lifecycle Ltd' }));
    expect(await org.diff(created.id, updated.outs!, moved)).toMatchObject({ replaces: ['name'], deleteBeforeReplace: false });
    const replacement = await org.create(moved);
    await org.delete(created.id, updated.outs);
    expect(await admin.get('Organization', NS, 'lifecycle')).toBeUndefined();
    expect((await org.read(created.id, updated.outs)).id).toBeUndefined();

    await org.delete(replacement.id, replacement.outs);
    expect(await admin.get('Organization', NS, 'lifecycle-2')).toBeUndefined();
  });

  it('is an idempotent upsert: creating twice changes nothing the second time', async () => {
    const inputs = await checked('Organization', organization('twice'));
    const first = await provider('Organization').create(inputs);
    const second = await provider('Organization').create(inputs);
    expect(second).toEqual(first);
    expect((await auditActions('twice')).map((r) => r.action)).toEqual(['Organization.created']);
  });

  it('records the stack, project and update with every change in the audit log', async () => {
    const org = provider('Organization');
    const created = await org.create(await checked('Organization', organization('audited')));
    const next = { ...organization('audited', { displayName: 'Audited' }), provenance: { ...provenance, update: 'update-2' } };
    const updated = await org.update(created.id, created.outs, await checked('Organization', next));
    await org.delete(created.id, updated.outs);
    const records = await auditActions('audited');
    expect(records.map((r) => [r.action, r.data.provenance])).toEqual([
      ['Organization.deleted', { ...provenance, update: 'update-2' }],
      ['Organization.updated', { ...provenance, update: 'update-2' }],
      ['Organization.created', provenance],
    ]);
  });

  it('refuses to delete while objects outside the program reference it, naming them', async () => {
    const org = await provider('Organization').create(await checked('Organization', organization('referenced', { emailDomains: ['referenced.example'] })));
    await admin.apply({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'User', metadata: { name: 'outsider', namespace: NS }, spec: { organizationRef: { name: 'referenced' }, email: 'o@referenced.example', active: true } });
    const error = (await provider('Organization')
      .delete(org.id, org.outs)
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('User outsider (spec.organizationRef)');
    expect(error.message).not.toContain('cascade=true');
    expect(await admin.get('Organization', NS, 'referenced')).toBeDefined();

    // Declared in the same program, the user is deleted first (Pulumi orders by dependency); then the organization goes.
    await admin.delete('User', NS, 'outsider');
    await provider('Organization').delete(org.id, org.outs);
    expect(await admin.get('Organization', NS, 'referenced')).toBeUndefined();
  });

  it('adopts an object that already exists: read by namespace/name alone, then create takes it over', async () => {
    await admin.apply({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Organization', metadata: { name: 'adopted', namespace: NS }, spec: organization('adopted').spec } as never);
    const read = await provider('Organization').read(`${NS}/adopted`);
    expect(read.inputs).toMatchObject({ namespace: NS, name: 'adopted', spec: { displayName: 'adopted', suspended: false } });
    const created = await provider('Organization').create(await checked('Organization', { ...(read.inputs as ObjectInputs), provenance }));
    expect(created.outs.generation).toBe(1);
    await expect(provider('Organization').read('not-an-id')).rejects.toThrow('expected "namespace/name"');
  });

  it('reports the field when the server refuses a declaration', async () => {
    const error = (await provider('Client')
      .create(await checked('Client', client('orphan', 'nobody')))
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('spec.organizationRef.name: Organization "nobody" does not exist');
  });
});

describe('client secrets', () => {
  beforeAll(async () => {
    await provider('Organization').create(await checked('Organization', organization('forge')));
  });

  it('creates a web client with its secret; updates keep it, refresh never rotates it, a new trigger does', async () => {
    const clients = provider('Client');
    const created = await clients.create(await checked('Client', client('portal', 'forge')));
    const secret = created.outs.clientSecret as string;
    expect(created.outs).toMatchObject({ clientId: `portal.${NS}`, issuer: `${gh.url}/${NS}/forge` });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);

    const renamed = await checked('Client', client('portal', 'forge', { displayName: 'Portal' }));
    const updated = await clients.update(created.id, created.outs, renamed);
    expect(updated.outs.clientSecret).toBe(secret);
    const read = await clients.read(created.id, updated.outs);
    expect(read.props.clientSecret).toBe(secret);
    expect(read.inputs).not.toHaveProperty('clientSecret');
    expect((await auditActions('portal')).filter((r) => r.action === 'Client.secret-rotated')).toHaveLength(1);

    const rotate = { ...renamed, rotateSecretTrigger: '2026-11' };
    expect(await clients.diff(created.id, updated.outs, rotate)).toMatchObject({ changes: true, replaces: [] });
    const rotated = await clients.update(created.id, updated.outs, rotate);
    expect(rotated.outs.clientSecret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(rotated.outs.clientSecret).not.toBe(secret);
    expect((await auditActions('portal')).filter((r) => r.action === 'Client.secret-rotated')).toHaveLength(2);
  });

  it('never echoes a secret from check or diff', async () => {
    const clients = provider('Client');
    const created = await clients.create(await checked('Client', client('echo', 'forge', { type: 'm2m', redirectUris: undefined })));
    const secret = created.outs.clientSecret as string;
    expect(secret).toBeTruthy();
    const news = client('echo', 'forge', { type: 'm2m', redirectUris: undefined, displayName: 'Echo' });
    expect(JSON.stringify(await clients.check(created.outs, news))).not.toContain(secret);
    expect(JSON.stringify(await clients.diff(created.id, created.outs, news))).not.toContain(secret);
  });

  it('gives a public client no secret, and one when it becomes confidential', async () => {
    const clients = provider('Client');
    const spa = await clients.create(await checked('Client', client('spa', 'forge', { type: 'spa' })));
    expect(spa.outs).not.toHaveProperty('clientSecret');
    const web = await clients.update(spa.id, spa.outs, await checked('Client', client('spa', 'forge', { type: 'web' })));
    expect(web.outs.clientSecret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('takes the endpoint and token from the stack config first, then GATEHOUSE_ENDPOINT and GATEHOUSE_ADMIN_TOKEN', () => {
    // The provider host's own environment is not the test sandbox's, so this is checked on the function configure uses.
    const env = { GATEHOUSE_ENDPOINT: 'http://env.example', GATEHOUSE_ADMIN_TOKEN: 'env-token' };
    const config: Record<string, string> = { 'gatehouse:endpoint': 'http://config.example' };
    expect(resolveConnection((key) => config[key], env)).toEqual({ endpoint: 'http://config.example', token: 'env-token' });
    expect(resolveConnection(() => undefined, env)).toEqual({ endpoint: 'http://env.example', token: 'env-token' });
  });

  it('says how to configure the server when neither config nor environment names it', async () => {
    const { provider: unconfigured } = await hostedProvider('Client', {});
    await expect(unconfigured.create(client('nowhere', 'forge'))).rejects.toThrow('gatehouse:endpoint');
  });
});
