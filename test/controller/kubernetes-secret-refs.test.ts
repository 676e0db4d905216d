import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AdminClient } from '../../client/admin-client.ts';
import type { KubernetesController } from '../../controller/kubernetes/run.ts';
import type { FakeKube, KubeObject } from '../support/fake-kube.ts';
import type { Check } from '../support/eventually.ts';
import { readyOf as ready, startKubeControllerHarness, type KubeControllerHarness } from '../support/kube-controller.ts';
import type { TestServer } from '../support/server.ts';
import { NS, idp, organization } from '../support/objects.ts';

let harness: KubeControllerHarness;
let kube: FakeKube;
let gh: TestServer;
let admin: AdminClient;
let controller: KubernetesController;
/** Writes of the server's secret store the controller made (PUT …/secrets/{name}). */
const secretWrites: string[] = [];
/** Every value the tests put in a Secret, to prove none leaks anywhere else. */
const values = new Set<string>();

const countingFetch: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (init?.method === 'PUT' && /\/secrets\/[^/]+$/.test(new URL(url).pathname)) secretWrites.push(new URL(url).pathname);
  return fetch(input, init);
};

const start = (identity: string) => harness.start(identity, { fetch: countingFetch });
const eventually = <T>(check: Check<T>, ms?: number) => harness.eventually(check, ms);

const morePasses = async (n: number) => {
  const passes = controller.loop.passes;
  await eventually(() => controller.loop.passes >= passes + n);
};

const readyIdp = (name: string, status: string, reason?: string) =>
  eventually(() => {
    const o = kube.get('idpconnections', NS, name);
    const r = ready(o);
    return r?.status === status && (!reason || r.reason === reason) && o;
  });

const secret = (name: string, data: Record<string, string>): KubeObject => {
  for (const v of Object.values(data)) values.add(v);
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, stringData: data };
};
const setSecret = (name: string, data: Record<string, string>) => {
  const current = kube.get('secrets', NS, name);
  if (!current) return kube.create('secrets', secret(name, data));
  return kube.update('secrets', { ...secret(name, data), metadata: { ...current.metadata } });
};

const stored = (name: string, key: string) => gh.gatehouse.upstreamSecrets.value(NS, { name, key });
const serverSecrets = async () => ((await admin.request('GET', `/admin/v1/namespaces/${NS}/secrets`)) as { items: { name: string; keys: string[] }[] }).items;
const writesOf = (name: string) => secretWrites.filter((p) => p.endsWith(`/secrets/${name}`)).length;

beforeAll(async () => {
  // A short resync: referenced Secrets are read by name each pass, not watched.
  harness = await startKubeControllerHarness({ resyncMs: 150 });
  ({ kube, gh, admin } = harness);
  controller = await start('replica-a');
  await eventually(() => controller.elector.leading);
  // A connection routes only domains its organization owns: the two below list subdomains forge declares.
  kube.create('organizations', organization('forge', { emailDomains: ['forge.example', 'alpha.forge.example', 'beta.forge.example'] }) as KubeObject);
});
afterAll(async () => {
  await controller.stop();
  await harness.close();
});

describe('IdPConnection secretRefs read from Kubernetes Secrets', () => {
  const forgeIdp = () => idp('forge-oidc', 'forge', { oidc: { issuer: 'https://login.forge.example', clientId: 'gatehouse', clientSecretRef: { name: 'forge-idp', key: 'client-secret' } } }) as KubeObject;

  it('waits for a missing Secret: Ready=False Pending naming the Secret and key, a Warning Event, and nothing written', async () => {
    kube.create('idpconnections', forgeIdp());
    const cr = await readyIdp('forge-oidc', 'False', 'Pending');
    expect(ready(cr)!.message).toContain(`Secret ${NS}/forge-idp`);
    expect(ready(cr)!.message).toContain('"client-secret"');
    expect(ready(cr)!.message).toContain('does not exist');
    const event = await eventually(() => kube.list('events').find((e) => (e.involvedObject as { name: string }).name === 'forge-oidc' && e.reason === 'Pending'));
    expect(event).toMatchObject({ type: 'Warning', message: expect.stringContaining(`Secret ${NS}/forge-idp`) });
    await morePasses(2);
    expect(writesOf('forge-idp')).toBe(0);
    expect(await serverSecrets()).toEqual([]);
    // The connection itself is in the server: only its secret is awaited.
    expect(await admin.get('IdPConnection', NS, 'forge-oidc')).toBeDefined();
  });

  it('waits for a missing key in a Secret that exists, still writing nothing', async () => {
    setSecret('forge-idp', { 'other-key': 'unrelated-value-1f3a' });
    const cr = await eventually(() => {
      const o = kube.get('idpconnections', NS, 'forge-oidc');
      return ready(o)?.message.includes('no such key') && o;
    });
    expect(ready(cr)).toMatchObject({ status: 'False', reason: 'Pending', message: expect.stringContaining(`key "client-secret" in Secret ${NS}/forge-idp`) });
    await morePasses(2);
    expect(writesOf('forge-idp')).toBe(0);
    expect(await serverSecrets()).toEqual([]);
  });

  it('converges once the key appears: the server holds it, the connection is Ready, one write audited without the value', async () => {
    setSecret('forge-idp', { 'other-key': 'unrelated-value-1f3a', 'client-secret': 'forge-upstream-secret-v1-7d2c' });
    await readyIdp('forge-oidc', 'True', 'Reconciled');
    expect(await stored('forge-idp', 'client-secret')).toBe('forge-upstream-secret-v1-7d2c');
    // Only the referenced key is copied: the server needs nothing else from the Secret.
    expect(await serverSecrets()).toEqual([expect.objectContaining({ name: 'forge-idp', keys: ['client-secret'] })]);
    expect(writesOf('forge-idp')).toBe(1);
    const audit = (await admin.request('GET', '/admin/v1/audit?limit=1000')) as { items: { action: string; name: string; data: { keys?: string[]; provenance?: Record<string, string> } }[] };
    const records = audit.items.filter((i) => i.action.startsWith('Secret.'));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ action: 'Secret.created', name: 'forge-idp', data: { keys: ['client-secret'], provenance: { source: 'kubernetes', secret: `${NS}/forge-idp` } } });
    await eventually(() => kube.list('events').find((e) => (e.involvedObject as { name: string }).name === 'forge-oidc' && e.reason === 'SecretCopied'));
  });

  it('makes zero writes on idle passes', async () => {
    const before = secretWrites.length;
    await morePasses(4);
    expect(secretWrites.length).toBe(before);
  });

  it('writes once when the value changes', async () => {
    const before = writesOf('forge-idp');
    setSecret('forge-idp', { 'other-key': 'unrelated-value-1f3a', 'client-secret': 'forge-upstream-secret-v2-91ab' });
    await eventually(async () => (await stored('forge-idp', 'client-secret')) === 'forge-upstream-secret-v2-91ab');
    await morePasses(3);
    expect(writesOf('forge-idp')).toBe(before + 1);
    expect(ready(kube.get('idpconnections', NS, 'forge-oidc'))).toMatchObject({ status: 'True' });
  });

  it('ignores changes to keys nobody references', async () => {
    const before = writesOf('forge-idp');
    setSecret('forge-idp', { 'other-key': 'unrelated-value-2b7e', 'client-secret': 'forge-upstream-secret-v2-91ab' });
    await morePasses(3);
    expect(writesOf('forge-idp')).toBe(before);
  });

  it('puts back a secret replaced through the admin API (drift)', async () => {
    const before = writesOf('forge-idp');
    gh.clock.advance(1000);
    values.add('tampered-value-5e0d');
    await admin.putSecret(NS, 'forge-idp', { 'client-secret': 'tampered-value-5e0d' });
    await eventually(async () => (await stored('forge-idp', 'client-secret')) === 'forge-upstream-secret-v2-91ab');
    await morePasses(2);
    expect(writesOf('forge-idp')).toBe(before + 1);
  });

  it('leaves an identical value put through the admin API alone: the fingerprint compares data, not timestamps', async () => {
    const before = writesOf('forge-idp');
    gh.clock.advance(1000);
    const described = await admin.putSecret(NS, 'forge-idp', { 'client-secret': 'forge-upstream-secret-v2-91ab' });
    expect(described.fingerprint).toMatch(/^scrypt\$/);
    await morePasses(3);
    expect(writesOf('forge-idp')).toBe(before);
    expect((await admin.describeSecret(NS, 'forge-idp'))!.updatedAt).toBe(described.updatedAt);
  });

  it('writes nothing after a controller restart: the server’s fingerprint shows it already holds the data', async () => {
    await controller.stop();
    const before = writesOf('forge-idp');
    controller = await start('replica-b');
    await eventually(() => controller.elector.leading);
    await eventually(() => controller.loop.passes >= 2);
    await morePasses(3);
    expect(writesOf('forge-idp')).toBe(before);
    expect(ready(kube.get('idpconnections', NS, 'forge-oidc'))).toMatchObject({ status: 'True' });
  });

  it('writes once after a restart when the Secret changed while no controller ran', async () => {
    await controller.stop();
    setSecret('forge-idp', { 'client-secret': 'forge-upstream-secret-v3-0c5e' });
    const before = writesOf('forge-idp');
    controller = await start('replica-c');
    await eventually(async () => (await stored('forge-idp', 'client-secret')) === 'forge-upstream-secret-v3-0c5e');
    await morePasses(3);
    expect(writesOf('forge-idp')).toBe(before + 1);
  });

  it('copies keys of one Secret referenced by two connections in one write, so neither replaces the other', async () => {
    setSecret('shared-idp', { alpha: 'alpha-secret-3c9f', beta: 'beta-secret-8e41' });
    kube.create('idpconnections', idp('forge-alpha', 'forge', { emailDomains: ['alpha.forge.example'], oidc: { issuer: 'https://alpha.forge.example', clientId: 'a', clientSecretRef: { name: 'shared-idp', key: 'alpha' } } }) as KubeObject);
    kube.create('idpconnections', idp('forge-beta', 'forge', { emailDomains: ['beta.forge.example'], oidc: { issuer: 'https://beta.forge.example', clientId: 'b', clientSecretRef: { name: 'shared-idp', key: 'beta' } } }) as KubeObject);
    await readyIdp('forge-alpha', 'True');
    await readyIdp('forge-beta', 'True');
    expect(await stored('shared-idp', 'alpha')).toBe('alpha-secret-3c9f');
    expect(await stored('shared-idp', 'beta')).toBe('beta-secret-8e41');
    await morePasses(2);
    expect(await stored('shared-idp', 'alpha')).toBe('alpha-secret-3c9f');
  });

  it('goes back to Pending when the Secret is deleted, and the server keeps the last value', async () => {
    const before = writesOf('forge-idp');
    kube.remove('secrets', NS, 'forge-idp');
    const cr = await readyIdp('forge-oidc', 'False', 'Pending');
    expect(ready(cr)!.message).toContain('the server keeps the value copied last');
    expect(await stored('forge-idp', 'client-secret')).toBe('forge-upstream-secret-v3-0c5e');
    expect(writesOf('forge-idp')).toBe(before);
    setSecret('forge-idp', { 'client-secret': 'forge-upstream-secret-v3-0c5e' });
    await readyIdp('forge-oidc', 'True');
  });

  it('reports a Secret it may not read as Ready=False SecretFailed with the API’s reason', async () => {
    const allow = kube.forbid('GET', /\/secrets\/forge-idp$/);
    try {
      const cr = await readyIdp('forge-oidc', 'False', 'SecretFailed');
      expect(ready(cr)!.message).toContain('HTTP 403 Forbidden');
      expect(ready(cr)!.message).toContain(`Secret ${NS}/forge-idp`);
    } finally {
      allow();
    }
    await readyIdp('forge-oidc', 'True');
  });

  it('never puts a value in status, Events, the controller’s output, the server’s objects or its audit log', async () => {
    expect(values.size).toBeGreaterThanOrEqual(5);
    const places = {
      crs: JSON.stringify(kube.list('idpconnections')),
      events: JSON.stringify(kube.list('events')),
      server: JSON.stringify(await admin.list('IdPConnection', NS)),
      secrets: JSON.stringify(await serverSecrets()),
      audit: JSON.stringify(await admin.request('GET', '/admin/v1/audit?limit=1000')),
      log: harness.lines.join('\n'),
    };
    for (const value of values) {
      for (const [place, text] of Object.entries(places)) expect({ place, leaked: text.includes(value) }).toEqual({ place, leaked: false });
    }
  });

  it('reads referenced Secrets by name only: no list or watch of Secrets', () => {
    const secretRequests = kube.requests.filter((r) => /\/secrets(\/|$|\?)/.test(r));
    expect(secretRequests.some((r) => r.endsWith('/secrets/forge-idp'))).toBe(true);
    expect(secretRequests.filter((r) => /^GET [^?]*\/secrets(\?watch)?$/.test(r))).toEqual([]);
    expect(secretRequests.filter((r) => /\/secrets\/(forge-idp|shared-idp)$/.test(r) && !r.startsWith('GET '))).toEqual([]);
  });
});
