import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as pulumi from '@pulumi/pulumi';
import { resolve } from 'node:path';
import { parseObject, sortForApply, type AnyObject, type KindName } from '../../api/index.ts';
import { AdminClient } from '../../client/admin-client.ts';
import { readManifests } from '../../controller/sources/manifest-files.ts';
import { GatehouseResources, check, type ObjectInputs } from '../../provider/logic.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Registration {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  additionalSecretOutputs: string[];
}

const registrations: Registration[] = [];
const secretOutputsByName = new Map<string, string[]>();
let program: typeof import('../../examples/pulumi/blixit-partners.ts');
let blixit: ReturnType<typeof program.blixitPartners>;

const kindOf = (type: string) => /^pulumi-nodejs:dynamic\/gatehouse:(\w+)$/.exec(type)?.[1] as KindName | undefined;
const output = <T>(o: pulumi.Output<T>) => new Promise<T>((done) => o.apply((v) => done(v)));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registrations.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown>, additionalSecretOutputs: secretOutputsByName.get(args.name) ?? [] });
        const { namespace, name } = args.inputs as { namespace: string; name: string };
        const computed: Record<string, unknown> = {};
        if (kindOf(args.type) === 'Organization') computed.issuer = `https://id.blixit.example/${namespace}/${name}`;
        if (kindOf(args.type) === 'Client') Object.assign(computed, { clientId: `${name}.${namespace}`, clientSecret: 'mock-secret' });
        return { id: `${namespace}/${name}`, state: { ...args.inputs, ...computed } };
      },
      call: () => ({}),
    },
    'blixit-partners',
    'dev',
  );
  // What reaches the engine besides the inputs: the mocks' own arguments leave the resource options out.
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: { getName(): string; getAdditionalsecretoutputsList(): string[] }, cb: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    secretOutputsByName.set(req.getName(), req.getAdditionalsecretoutputsList());
    return register(req, cb);
  };
  program = await import('../../examples/pulumi/blixit-partners.ts');
  blixit = program.blixitPartners();
  await until(() => registrations.length === 19, 'the program to register its resources');
});

describe('the BlixitPartners Pulumi program', () => {
  it('declares every object of the workspace as a gatehouse resource', () => {
    const byKind = new Map<string, string[]>();
    for (const r of registrations) byKind.set(kindOf(r.type)!, [...(byKind.get(kindOf(r.type)!) ?? []), r.name].sort());
    expect(Object.fromEntries(byKind)).toEqual({
      Workspace: ['blixit-partners'],
      OrganizationTemplate: ['standard-partner'],
      Organization: ['cascade-consulting', 'forge-supplies', 'pinnacle-logistics'],
      IdPConnection: ['cascade-directory', 'forge-oidc', 'pinnacle-saml'],
      Client: ['cascade-timesheets', 'forge-inventory-sync', 'forge-portal', 'partner-portal', 'pinnacle-shipments'],
      ClaimMapping: ['cascade-claims', 'forge-claims', 'pinnacle-claims'],
      AccessPolicy: ['cascade-timesheets', 'forge-inventory'],
      User: ['ana-cascade'],
    });
  });

  it('names each object after its Pulumi resource and records the stack and project as provenance', () => {
    const org = registrations.find((r) => r.name === 'cascade-consulting')!;
    expect(org.inputs).toMatchObject({ namespace: 'blixit-partners', name: 'cascade-consulting', labels: { 'blixit.example/region': 'emea' } });
    expect(org.inputs.provenance).toEqual({ source: 'pulumi', stack: 'dev', project: 'blixit-partners', update: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('references other resources through their outputs, so Pulumi orders creation and deletion', () => {
    const idp = registrations.find((r) => r.name === 'forge-oidc')!;
    expect(idp.inputs.spec).toMatchObject({ organizationRef: { name: 'forge-supplies' } });
  });

  it("passes an AccessPolicy's approvers through, typed from api/ (AccessPolicyArgs)", () => {
    const policy = registrations.find((r) => kindOf(r.type) === 'AccessPolicy' && r.name === 'cascade-timesheets')!;
    expect(policy.inputs.spec).toMatchObject({ approvers: { roles: ['organization-admin'] }, scopes: expect.arrayContaining([expect.objectContaining({ scope: 'timesheets:approve', requireApproval: true })]) });
  });

  it('asks the engine to keep every client secret as a Pulumi secret', () => {
    for (const r of registrations.filter((r) => kindOf(r.type) === 'Client')) expect(r.additionalSecretOutputs).toEqual(['clientSecret']);
    for (const r of registrations.filter((r) => kindOf(r.type) !== 'Client')) expect(r.additionalSecretOutputs).toEqual([]);
  });

  it('carries no credential in any resource input, the serialized provider included', () => {
    expect(registrations.every((r) => typeof r.inputs.__provider === 'string' && (r.inputs.__provider as string).includes('logic.ts'))).toBe(true);
    const text = JSON.stringify(registrations.map((r) => r.inputs));
    expect(text).not.toMatch(/adminToken|GATEHOUSE_ADMIN_TOKEN"?:/);
    expect(text).not.toContain('mock-secret');
  });

  it('exposes the issuer and client id as outputs', async () => {
    expect(await output(blixit.cascade.issuer)).toBe('https://id.blixit.example/blixit-partners/cascade-consulting');
    expect(await output(blixit.timesheets.clientId)).toBe('cascade-timesheets.blixit-partners');
  });
});

describe('the Pulumi program and the YAML manifests', () => {
  let fromYaml: TestServer;
  let fromPulumi: TestServer;
  beforeAll(async () => {
    [fromYaml, fromPulumi] = await Promise.all([startTestServer(), startTestServer()]);
  });
  afterAll(async () => {
    await Promise.all([fromYaml?.close(), fromPulumi?.close()]);
  });

  async function state(gh: TestServer): Promise<Record<string, unknown>[]> {
    const admin = new AdminClient({ endpoint: gh.url, token: gh.token });
    const kinds: KindName[] = ['Workspace', 'OrganizationTemplate', 'Organization', 'IdPConnection', 'Client', 'ClaimMapping', 'AccessPolicy', 'User'];
    const objects = (await Promise.all(kinds.map((k) => admin.list(k)))).flat();
    return objects.map((o) => ({ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name, labels: o.metadata.labels ?? {}, annotations: o.metadata.annotations ?? {}, spec: o.spec })).sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
  }

  it('describe the same server state', async () => {
    const manifests = await readManifests(resolve(import.meta.dirname, '../../examples/blixit-partners'));
    expect(manifests.errors).toEqual([]);
    const admin = new AdminClient({ endpoint: fromYaml.url, token: fromYaml.token });
    for (const { object } of sortForApply(manifests.objects)) await admin.apply(object);

    // The program's resources, created through the provider in dependency order as Pulumi would.
    const resources = new GatehouseResources(new AdminClient({ endpoint: fromPulumi.url, token: fromPulumi.token }));
    const declared = registrations.map((r) => {
      const { __provider: _serialized, ...inputs } = r.inputs;
      const kind = kindOf(r.type)!;
      const { inputs: checked, failures } = check(kind, inputs as Partial<ObjectInputs>);
      expect(failures).toEqual([]);
      const object = parseObject({ apiVersion: 'gatehouse.dev/v1alpha1', kind, metadata: { name: checked.name, namespace: checked.namespace, labels: checked.labels }, spec: checked.spec });
      return { object, kind, inputs: checked };
    });
    for (const { kind, inputs } of sortForApply<{ object: AnyObject; kind: KindName; inputs: ObjectInputs }>(declared)) await resources.create(kind, inputs);

    const yamlState = await state(fromYaml);
    expect(yamlState).toHaveLength(19);
    expect(await state(fromPulumi)).toEqual(yamlState);
  });
});
