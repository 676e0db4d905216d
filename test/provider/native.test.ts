import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { AdminClient } from '../../client/admin-client.ts';
import type { PackageSchema } from '../../provider/schema.ts';
import { UNKNOWN } from '../../provider/logic.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NS } from '../support/objects.ts';
import { Engine, masked, plain, provproto, secretValue, struct, urn, type Props } from './engine.ts';

// The native provider as the Pulumi engine drives it: `pulumi-resource-gatehouse` started as a
// process, spoken to over gRPC in the engine's order for `up`, `refresh`, `import`, a replace and
// `destroy`, against a live server. The Pulumi CLI cannot be installed here, so this is the engine.

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const { DiffChanges } = provproto.DiffResponse;
const { Kind } = provproto.PropertyDiff;

let gh: TestServer;
let admin: AdminClient;
let engine: Engine;

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token });
  engine = await Engine.start();
}, 30_000);
afterAll(async () => {
  await engine?.stop();
  await gh?.close();
});

const contract = { id: 'BLX-2025-087', partnerType: 'supplier', owner: 'tom.berg@blixit.example', endsAt: '2027-12-31T23:59:59Z' };
const organization = (spec: Props = {}): Props => ({ namespace: NS, spec: { displayName: 'Forge Supplies', contract, ...spec } });
const m2m = (org: string, extra: Props = {}): Props => ({ namespace: NS, spec: { organizationRef: { name: org }, type: 'm2m', scopes: ['inventory:read'] }, ...extra });

async function check(kind: string, name: string, news: Props, olds: Props = {}) {
  const response = await engine.call<provproto.CheckResponse>('check', new provproto.CheckRequest().setUrn(urn(kind, name)).setOlds(struct(olds)).setNews(struct(news)));
  return { inputs: plain(response.getInputs()), failures: response.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })) };
}
async function checked(kind: string, name: string, news: Props, olds: Props = {}) {
  const result = await check(kind, name, news, olds);
  expect(result.failures).toEqual([]);
  return result.inputs;
}
async function diff(kind: string, name: string, id: string, olds: Props, news: Props) {
  const response = await engine.call<provproto.DiffResponse>('diff', new provproto.DiffRequest().setUrn(urn(kind, name)).setId(id).setOlds(struct(olds)).setNews(struct(news)));
  const detailed: Record<string, provproto.PropertyDiff.Kind> = {};
  response.getDetaileddiffMap().forEach((d, path) => (detailed[path] = d.getKind()));
  return { changes: response.getChanges(), replaces: response.getReplacesList(), deleteBeforeReplace: response.getDeletebeforereplace(), detailed };
}
async function create(kind: string, name: string, inputs: Props) {
  const response = await engine.call<provproto.CreateResponse>('create', new provproto.CreateRequest().setUrn(urn(kind, name)).setProperties(struct(inputs)));
  return { id: response.getId(), outs: plain(response.getProperties()) };
}
async function read(kind: string, name: string, id: string, props: Props = {}, inputs: Props = {}) {
  const response = await engine.call<provproto.ReadResponse>('read', new provproto.ReadRequest().setUrn(urn(kind, name)).setId(id).setProperties(struct(props)).setInputs(struct(inputs)));
  return { id: response.getId(), props: plain(response.getProperties()), inputs: plain(response.getInputs()) };
}
async function update(kind: string, name: string, id: string, olds: Props, news: Props) {
  const response = await engine.call<provproto.UpdateResponse>('update', new provproto.UpdateRequest().setUrn(urn(kind, name)).setId(id).setOlds(struct(olds)).setNews(struct(news)));
  return plain(response.getProperties());
}
const remove = (kind: string, name: string, id: string, props: Props) => engine.call('delete', new provproto.DeleteRequest().setUrn(urn(kind, name)).setId(id).setProperties(struct(props)));

async function auditOf(name: string) {
  const page = (await admin.request('GET', `/admin/v1/audit?namespace=${NS}&limit=1000`)) as { items: { action: string; name: string; data: { provenance?: Record<string, string> } }[] };
  return page.items.filter((i) => i.name === name);
}

describe('starting and configuring, as the engine does before `pulumi up`', () => {
  it('reports its version, and the schema with one resource per kind, secrets marked', async () => {
    const info = await engine.call<{ getVersion(): string }>('getPluginInfo', engine.empty());
    expect(info.getVersion()).toBe(VERSION);
    const response = await engine.call<provproto.GetSchemaResponse>('getSchema', new provproto.GetSchemaRequest());
    const schema = JSON.parse(response.getSchema()) as PackageSchema;
    expect(schema).toMatchObject({ name: 'gatehouse', version: VERSION });
    expect(Object.keys(schema.resources)).toEqual(['Workspace', 'OrganizationTemplate', 'Organization', 'IdPConnection', 'Client', 'ClaimMapping', 'AccessPolicy', 'User'].map((k) => `gatehouse:index:${k}`));
    expect(schema.resources['gatehouse:index:Client']!.properties.clientSecret).toMatchObject({ type: 'string', secret: true });
    expect(schema.config.variables.token).toMatchObject({ secret: true, defaultInfo: { environment: ['GATEHOUSE_TOKEN', 'GATEHOUSE_ADMIN_TOKEN'] } });
    await expect(engine.call('getSchema', new provproto.GetSchemaRequest().setVersion(2))).rejects.toThrow('unsupported schema version 2');
  });

  it('checks the configuration: the token comes back a secret; a bad endpoint and an unknown key are named', async () => {
    const good = await engine.call<provproto.CheckResponse>('checkConfig', new provproto.CheckRequest().setUrn('urn:pulumi:dev::partners::pulumi:providers:gatehouse::default').setNews(struct({ endpoint: gh.url, token: gh.token, version: VERSION })));
    expect(good.getFailuresList()).toEqual([]);
    expect(plain(good.getInputs())).toEqual({ endpoint: gh.url, token: secretValue(gh.token), version: VERSION });
    const bad = await engine.call<provproto.CheckResponse>('checkConfig', new provproto.CheckRequest().setNews(struct({ endpoint: 'ftp://x', tokn: 'x' })));
    expect(bad.getFailuresList().map((f) => [f.getProperty(), f.getReason()])).toEqual([
      ['tokn', expect.stringContaining('unknown configuration key gatehouse:tokn')],
      ['endpoint', 'expected an http(s) URL'],
    ]);
  });

  it('diffs the configuration without ever replacing the resources', async () => {
    const response = await engine.call<provproto.DiffResponse>('diffConfig', new provproto.DiffRequest().setOlds(struct({ endpoint: 'http://old.example', token: secretValue('a') })).setNews(struct({ endpoint: gh.url, token: secretValue('a') })));
    expect([response.getChanges(), response.getDiffsList(), response.getReplacesList()]).toEqual([DiffChanges.DIFF_SOME, ['endpoint'], []]);
  });

  it('is configured with the endpoint and the secret token', async () => {
    const request = new provproto.ConfigureRequest().setArgs(struct({ endpoint: gh.url, token: secretValue(gh.token) })).setAcceptsecrets(true);
    request.getVariablesMap().set('gatehouse:config:endpoint', gh.url);
    const response = await engine.call<provproto.ConfigureResponse>('configure', request);
    expect(response.getAcceptsecrets()).toBe(true);
  });
});

describe('check', () => {
  it("defaults the object's name to the resource name and applies the schema's defaults", async () => {
    const { inputs } = await check('Organization', 'forge-supplies', organization());
    expect(inputs).toMatchObject({ namespace: NS, name: 'forge-supplies', spec: { suspended: false } });
  });

  it('names each bad field by its property path', async () => {
    const { failures } = await check('Organization', 'Bad_Name', organization({ contract: { ...contract, owner: 'nobody' }, colour: 'red' }));
    expect(failures).toEqual(
      expect.arrayContaining([
        { property: 'name', reason: expect.stringContaining('DNS-1123') },
        { property: 'spec.contract.owner', reason: 'expected an email address' },
        { property: 'spec.colour', reason: 'unknown field' },
      ]),
    );
  });

  it('does not judge values a preview does not know yet', async () => {
    expect((await check('Client', 'sync', m2m(UNKNOWN))).failures).toEqual([]);
  });

  it('refuses a type the package does not have', async () => {
    await expect(check('Tenant', 'x', {})).rejects.toThrow('the gatehouse provider has no resource type gatehouse:index:Tenant');
  });
});

describe('the engine order of `up`, `refresh`, `import`, a replace and `destroy`', () => {
  let org: { id: string; outs: Props };
  let sync: { id: string; outs: Props };
  let clientSecret: string;

  it('up: creates an organization and an m2m client, whose secret comes back wrapped as a Pulumi secret', async () => {
    org = await create('Organization', 'forge-supplies', await checked('Organization', 'forge-supplies', organization()));
    expect(org.id).toBe(`${NS}/forge-supplies`);
    expect(org.outs).toMatchObject({ namespace: NS, name: 'forge-supplies', generation: 1, issuer: `${gh.url}/${NS}/forge-supplies` });
    expect(org.outs).not.toHaveProperty('provenance');

    sync = await create('Client', 'forge-sync', await checked('Client', 'forge-sync', m2m('forge-supplies')));
    expect(sync.outs).toMatchObject({ clientId: `forge-sync.${NS}`, clientSecret: secretValue(expect.stringMatching(/^[A-Za-z0-9_-]{40,}$/)) });
    clientSecret = (sync.outs.clientSecret as { value: string }).value;
    expect(JSON.stringify(masked(sync.outs))).not.toContain(clientSecret);

    // The secret is the client's: the token endpoint takes it.
    const issued = await fetch(`${gh.url}/${NS}/forge-supplies/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`forge-sync.${NS}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(issued.status).toBe(200);
  });

  it('records the stack and project of the URN with each change in the audit log', async () => {
    expect((await auditOf('forge-supplies')).map((r) => [r.action, r.data.provenance])).toEqual([['Organization.created', { source: 'pulumi', stack: 'dev', project: 'partners', update: expect.any(String) }]]);
  });

  it('up again: no changes, and the secret is never echoed by check or diff', async () => {
    const news = await checked('Client', 'forge-sync', m2m('forge-supplies'), sync.outs);
    const result = await diff('Client', 'forge-sync', sync.id, sync.outs, news);
    expect(result).toEqual({ changes: DiffChanges.DIFF_NONE, replaces: [], deleteBeforeReplace: false, detailed: {} });
    expect(JSON.stringify(news)).not.toContain(clientSecret);
  });

  it('up with a change: a per-property diff, then an in-place update that keeps the secret', async () => {
    const news = await checked('Organization', 'forge-supplies', { ...organization({ displayName: 'Forge Supplies AB', emailDomains: ['forge.example'] }), labels: { tier: 'gold' } }, org.outs);
    expect(await diff('Organization', 'forge-supplies', org.id, org.outs, news)).toEqual({
      changes: DiffChanges.DIFF_SOME,
      replaces: [],
      deleteBeforeReplace: false,
      detailed: { 'spec.displayName': Kind.UPDATE, 'spec.emailDomains': Kind.ADD, labels: Kind.ADD },
    });
    org.outs = await update('Organization', 'forge-supplies', org.id, org.outs, news);
    expect(org.outs).toMatchObject({ generation: 2, labels: { tier: 'gold' }, spec: { displayName: 'Forge Supplies AB' } });

    const clientNews = await checked('Client', 'forge-sync', m2m('forge-supplies', { spec: { ...(m2m('forge-supplies').spec as Props), displayName: 'Inventory sync' } }), sync.outs);
    expect((await diff('Client', 'forge-sync', sync.id, sync.outs, clientNews)).detailed).toEqual({ 'spec.displayName': Kind.ADD });
    sync.outs = await update('Client', 'forge-sync', sync.id, sync.outs, clientNews);
    expect(sync.outs.clientSecret).toEqual(secretValue(clientSecret));
  });

  it('refresh: reads the live object, drift included, and keeps the secret it cannot read back', async () => {
    await admin.apply({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Organization', metadata: { name: 'forge-supplies', namespace: NS, labels: { tier: 'gold' } }, spec: { ...(org.outs.spec as Props), suspended: true } } as never);
    const refreshed = await read('Organization', 'forge-supplies', org.id, org.outs);
    expect(refreshed.id).toBe(org.id);
    expect(refreshed.props).toMatchObject({ spec: { suspended: true } });
    expect(refreshed.inputs).toMatchObject({ namespace: NS, name: 'forge-supplies', spec: { suspended: true } });
    org.outs = refreshed.props;

    const client = await read('Client', 'forge-sync', sync.id, sync.outs);
    expect(client.props.clientSecret).toEqual(secretValue(clientSecret));
    expect(client.inputs).not.toHaveProperty('clientSecret');
  });

  it('import: reads by id alone; check and diff of the declared inputs then find nothing to change', async () => {
    const imported = await read('Organization', 'forge-supplies', org.id);
    expect(imported.props).toMatchObject({ namespace: NS, name: 'forge-supplies', issuer: `${gh.url}/${NS}/forge-supplies` });
    const news = await checked('Organization', 'forge-supplies', { ...organization({ displayName: 'Forge Supplies AB', emailDomains: ['forge.example'], suspended: true }), labels: { tier: 'gold' } }, imported.inputs);
    expect((await diff('Organization', 'forge-supplies', org.id, imported.props, news)).changes).toBe(DiffChanges.DIFF_NONE);

    // An imported client has no secret in the state; updating it must not rotate the one its application holds.
    const importedClient = await read('Client', 'forge-sync', sync.id);
    expect(importedClient.props).not.toHaveProperty('clientSecret');
    const rotations = (await auditOf('forge-sync')).filter((r) => r.action === 'Client.secret-rotated').length;
    const clientNews = await checked('Client', 'forge-sync', m2m('forge-supplies', { spec: { ...(m2m('forge-supplies').spec as Props), displayName: 'Sync' } }), importedClient.inputs);
    const updated = await update('Client', 'forge-sync', sync.id, importedClient.props, clientNews);
    expect(updated).not.toHaveProperty('clientSecret');
    expect((await auditOf('forge-sync')).filter((r) => r.action === 'Client.secret-rotated')).toHaveLength(rotations);
    sync.outs = { ...updated, clientSecret: secretValue(clientSecret) };

    await expect(read('Organization', 'x', 'not-an-id')).rejects.toThrow('expected "namespace/name"');
  });

  it('replace: moving a client to another organization replaces it, deleting first (its name is its identity)', async () => {
    const pinnacle = await create('Organization', 'pinnacle', await checked('Organization', 'pinnacle', organization({ displayName: 'Pinnacle' })));
    const news = await checked('Client', 'forge-sync', m2m('pinnacle'), sync.outs);
    const planned = await diff('Client', 'forge-sync', sync.id, sync.outs, news);
    expect(planned).toMatchObject({ changes: DiffChanges.DIFF_SOME, replaces: ['spec.organizationRef'], deleteBeforeReplace: true });
    expect(planned.detailed).toMatchObject({ 'spec.organizationRef.name': Kind.UPDATE_REPLACE, 'spec.displayName': Kind.DELETE });

    // deleteBeforeReplace: the engine deletes the old object, re-checks with no olds, then creates.
    await remove('Client', 'forge-sync', sync.id, sync.outs);
    sync = await create('Client', 'forge-sync', await checked('Client', 'forge-sync', m2m('pinnacle')));
    expect(sync.outs).toMatchObject({ issuer: `${gh.url}/${NS}/pinnacle`, clientSecret: secretValue(expect.any(String)) });
    expect((sync.outs.clientSecret as { value: string }).value).not.toBe(clientSecret);
    expect((await admin.get('Client', NS, 'forge-sync'))?.spec).toMatchObject({ organizationRef: { name: 'pinnacle' } });

    // A new name is another object: created first, then the old one deleted.
    const renamed = await checked('Organization', 'pinnacle', { ...organization({ displayName: 'Pinnacle' }), name: 'pinnacle-logistics' }, pinnacle.outs);
    const rename = await diff('Organization', 'pinnacle', pinnacle.id, pinnacle.outs, renamed);
    expect(rename).toMatchObject({ replaces: ['name'], deleteBeforeReplace: false, detailed: { name: Kind.UPDATE_REPLACE } });
  });

  it('destroy: an organization whose clients the program does not manage is refused, naming them', async () => {
    const error = (await remove('Organization', 'pinnacle', `${NS}/pinnacle`, {}).catch((e: unknown) => e)) as Error & { code: number };
    expect(error.code).toBe(9); // FAILED_PRECONDITION: the engine keeps the resource in the state
    expect(error.message).toContain('Client forge-sync (spec.organizationRef)');
    expect(error.message).toContain('not managed by this Pulumi program');
    expect(await admin.get('Organization', NS, 'pinnacle')).toBeDefined();
  });

  it('destroy: dependants first, then the organizations; a refresh then drops them from the state', async () => {
    await remove('Client', 'forge-sync', sync.id, sync.outs);
    await remove('Organization', 'pinnacle', `${NS}/pinnacle`, {});
    await remove('Organization', 'forge-supplies', org.id, org.outs);
    expect(await admin.get('Organization', NS, 'forge-supplies')).toBeUndefined();
    expect(await read('Organization', 'forge-supplies', org.id, org.outs)).toEqual({ id: '', props: {}, inputs: {} });
  });

  it('never wrote the admin token or a client secret to its output', () => {
    expect(engine.plugin.output()).not.toContain(gh.token);
    expect(engine.plugin.output()).not.toContain(clientSecret);
  });
});

describe('examples/pulumi-yaml, applied as the engine would', () => {
  interface YamlProgram {
    resources: Record<string, { type: string; properties: Props }>;
    outputs: Record<string, string>;
  }
  const program = parse(readFileSync(new URL('../../examples/pulumi-yaml/Pulumi.yaml', import.meta.url), 'utf8')) as YamlProgram;

  /** `${resource.property}` replaced by that resource's output, as Pulumi YAML does once it is known. */
  function resolve(value: unknown, outputs: Map<string, Props>): unknown {
    if (typeof value === 'string') {
      return value.replace(/\$\{(\w+)\.(\w+)\}/g, (_, resource: string, property: string) => {
        const outs = outputs.get(resource);
        if (!outs || !(property in outs)) throw new Error(`\${${resource}.${property}} is not an output of the program's resources`);
        const out = outs[property];
        return String(typeof out === 'object' && out !== null ? (out as { value: unknown }).value : out);
      });
    }
    if (Array.isArray(value)) return value.map((v) => resolve(v, outputs));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, outputs)]));
    return value;
  }

  it('declares resources of the schema that check, create and expose their outputs (the secret as a secret)', async () => {
    const outputs = new Map<string, Props>();
    for (const [name, resource] of Object.entries(program.resources)) {
      const kind = resource.type.replace('gatehouse:index:', '');
      const created = await create(kind, name, await checked(kind, name, resolve(resource.properties, outputs) as Props));
      outputs.set(name, created.outs);
    }
    const stackOutputs = resolve(program.outputs, outputs) as Record<string, string>;
    expect(stackOutputs).toMatchObject({ issuer: `${gh.url}/${NS}/forge-supplies`, clientId: `forge-inventory-sync.${NS}` });
    expect(outputs.get('inventorySync')!.clientSecret).toEqual(secretValue(expect.any(String)));
    expect((await admin.get('AccessPolicy', NS, 'forge-inventory'))?.spec).toMatchObject({ clientRef: { name: 'forge-inventory-sync' } });
  });
});
