import { beforeAll, describe, expect, it } from '@jest/globals';
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'node:fs';
import { secretValue } from './engine.ts';

// The TypeScript SDK generated from schema.json (gatehouse/pulumi/native), under Pulumi's mocks:
// what a program sends the engine for the native provider's resources.

interface Registration {
  type: string;
  name: string;
  id?: string;
  inputs: Record<string, unknown>;
  version?: string;
  secretOutputs?: string[];
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const registrations: Registration[] = [];
const options = new Map<string, { version: string; secretOutputs: string[] }>();
let sdk: typeof import('../../provider/native-sdk.ts');
const output = <T>(o: pulumi.Output<T>) => new Promise<T>((done) => o.apply((v) => done(v)));

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registrations.push({ type: args.type, name: args.name, ...(args.id ? { id: args.id } : {}), inputs: args.inputs as Record<string, unknown> });
        const inputs = args.inputs as { namespace?: string; name?: string };
        // `.get` sends only the id; the provider's Read answers with the object.
        const [namespace, name] = args.id ? args.id.split('/') : [inputs.namespace, inputs.name ?? args.name];
        const state: Record<string, unknown> = { ...args.inputs, namespace, name, generation: 1 };
        if (args.type === 'gatehouse:index:Organization') state.issuer = `https://id.blixit.example/${namespace}/${name}`;
        if (args.type === 'gatehouse:index:Client') Object.assign(state, { clientId: `${name}.${namespace}`, clientSecret: 'mock-secret' });
        return { id: `${namespace}/${name}`, state };
      },
      call: () => ({}),
    },
    'partners',
    'dev',
  );
  // The options the engine receives besides the inputs, which the mocks leave out.
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: { getName(): string; getVersion(): string; getAdditionalsecretoutputsList(): string[] }, cb: unknown): unknown };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    options.set(req.getName(), { version: req.getVersion(), secretOutputs: req.getAdditionalsecretoutputsList() });
    return register(req, cb);
  };
  sdk = await import('../../provider/native-sdk.ts');
});

describe('the native SDK', () => {
  it('registers gatehouse:index:<Kind> resources with the declared inputs, for the plugin of this version', async () => {
    const forge = new sdk.Organization('forge-supplies', { namespace: 'blixit-partners', spec: { displayName: 'Forge Supplies' } });
    expect(await output(forge.issuer)).toBe('https://id.blixit.example/blixit-partners/forge-supplies');
    expect(sdk.Organization.isInstance(forge)).toBe(true);
    expect(sdk.Client.isInstance(forge)).toBe(false);
    const registered = registrations.find((r) => r.name === 'forge-supplies')!;
    expect(registered.type).toBe('gatehouse:index:Organization');
    expect(registered.inputs).toEqual({ namespace: 'blixit-partners', spec: { displayName: 'Forge Supplies' } });
    expect(options.get('forge-supplies')).toEqual({ version: VERSION, secretOutputs: [] });
  });

  it("asks the engine to keep a client's secret as a secret", async () => {
    const sync = new sdk.Client('forge-sync', { namespace: 'blixit-partners', spec: { organizationRef: { name: 'forge-supplies' }, type: 'm2m' } });
    expect(await output(sync.clientId)).toBe('forge-sync.blixit-partners');
    expect(options.get('forge-sync')?.secretOutputs).toEqual(['clientSecret']);
  });

  it('reads an existing object by its id with .get', async () => {
    const existing = sdk.Organization.get('cascade', 'blixit-partners/cascade-consulting');
    expect(await output(existing.name)).toBe('cascade-consulting');
    expect(registrations.find((r) => r.name === 'cascade')).toMatchObject({ type: 'gatehouse:index:Organization', id: 'blixit-partners/cascade-consulting' });
  });

  it('configures an explicit provider with the token as a secret', async () => {
    const eu = new sdk.Provider('eu', { endpoint: 'https://eu.id.example', token: 'gha_not-a-real-token' });
    await output(eu.urn);
    const registered = registrations.find((r) => r.name === 'eu')!;
    expect(registered.type).toBe('pulumi:providers:gatehouse');
    expect(registered.inputs.endpoint).toBe('https://eu.id.example');
    expect(registered.inputs.token).toEqual(secretValue('gha_not-a-real-token'));
    expect(options.get('eu')?.version).toBe(VERSION);
  });
});
