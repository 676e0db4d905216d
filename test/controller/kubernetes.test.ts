import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AdminClient } from '../../client/admin-client.ts';
import type { KubernetesController } from '../../controller/kubernetes/run.ts';
import { FINALIZER, toDeclaration } from '../../controller/kubernetes/source.ts';
import type { FakeKube, KubeObject } from '../support/fake-kube.ts';
import type { Check } from '../support/eventually.ts';
import { readyOf as ready, startKubeControllerHarness, type KubeControllerHarness } from '../support/kube-controller.ts';
import { NS, client, idp, organization } from '../support/objects.ts';

let harness: KubeControllerHarness;
let kube: FakeKube;
let admin: AdminClient;
let first: KubernetesController;

const start = (identity: string) => harness.start(identity);
const eventually = <T>(check: Check<T>, ms?: number) => harness.eventually(check, ms);

beforeAll(async () => {
  harness = await startKubeControllerHarness({ eventuallyMs: 5000 });
  ({ kube, admin } = harness);
  first = await start('replica-a');
  await eventually(() => first.elector.leading);
});
afterAll(async () => {
  await first.stop();
  await harness.close();
});

describe('Kubernetes source, against a fake API server driven by the real @kubernetes/client-node', () => {
  it('creates the server objects of new resources, adds the finalizer and reports Ready through the status subresource', async () => {
    kube.create('organizations', organization('cascade') as KubeObject);
    kube.create('clients', client('cascade-app', 'cascade') as KubeObject);
    await eventually(async () => (await admin.get('Client', NS, 'cascade-app')) !== undefined);
    // A resource that arrives during a pass can be applied before the next pass adds its
    // finalizer; level-triggered deletion covers that window, so both are awaited here.
    const cr = await eventually(() => {
      const o = kube.get('clients', NS, 'cascade-app');
      return ready(o)?.status === 'True' && o?.metadata.finalizers?.includes(FINALIZER) && o;
    });
    expect(cr.metadata.finalizers).toEqual([FINALIZER]);
    expect(cr.status).toMatchObject({ observedGeneration: 1 });
    expect(ready(cr)).toMatchObject({ reason: 'Reconciled', observedGeneration: 1 });
    expect(kube.requests).toContain(`PATCH /apis/gatehouse.dev/v1alpha1/namespaces/${NS}/clients/cascade-app/status`);
    const records = (await admin.request('GET', `/admin/v1/audit?organization=cascade&action=Client.created`)) as { items: { data: { provenance: Record<string, string> } }[] };
    expect(records.items[0]!.data.provenance).toMatchObject({ source: 'kubernetes', uid: cr.metadata.uid, reason: 'declared' });
  });

  it('applies a spec change and observes the new generation', async () => {
    const cr = kube.get('organizations', NS, 'cascade')!;
    kube.update('organizations', { ...cr, spec: { ...(cr.spec as object), tokens: { accessToken: '5m' } } });
    await eventually(async () => ((await admin.get('Organization', NS, 'cascade'))?.spec as { tokens?: { accessToken?: string } } | undefined)?.tokens?.accessToken === '5m');
    await eventually(() => ready(kube.get('organizations', NS, 'cascade'))?.observedGeneration === 2);
  });

  it('marks a resource with a dangling reference Ready=False and records a Warning Event', async () => {
    kube.create('clients', client('orphan-app', 'nobody') as KubeObject);
    const cr = await eventually(() => {
      const o = kube.get('clients', NS, 'orphan-app');
      return ready(o)?.status === 'False' && o;
    });
    expect(ready(cr)).toMatchObject({ reason: 'InvalidReference', message: expect.stringContaining('spec.organizationRef.name') });
    const event = await eventually(() => kube.list('events').find((e) => (e.involvedObject as { name: string }).name === 'orphan-app'));
    expect(event).toMatchObject({ type: 'Warning', reason: 'InvalidReference' });
  });

  it("shows the server's ConnectionReady on an IdPConnection beside its own Ready", async () => {
    const condition = (type: string) => (o: KubeObject | undefined) => (o?.status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((c) => c.type === type);
    const connectionReady = condition('ConnectionReady');
    kube.create('idpconnections', idp('cascade-oidc', 'cascade', { oidc: { issuer: 'https://sso.cascade.example', clientId: 'gatehouse', clientSecretRef: { name: 'cascade-oidc', key: 'client-secret' } } }) as KubeObject);
    const pending = await eventually(() => {
      const o = kube.get('idpconnections', NS, 'cascade-oidc');
      return connectionReady(o)?.status === 'False' && o;
    });
    expect(connectionReady(pending)).toMatchObject({ reason: 'Pending', message: expect.stringContaining('cascade-oidc (key client-secret)') });
    // The Kubernetes Secret it names is not there yet: the controller says so in Ready too.
    expect(ready(pending)).toMatchObject({ status: 'False', reason: 'Pending' });
    // Delivered the Kubernetes way: the controller copies the Secret into the server's store.
    kube.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cascade-oidc', namespace: NS }, stringData: { 'client-secret': 'kube-mirrored-secret-value' } } as KubeObject);
    // Any event makes a pass (so does the periodic resync): a label change here.
    kube.update('idpconnections', { ...pending, metadata: { ...pending.metadata, labels: { team: 'partners' } } });
    const readyNow = await eventually(() => {
      const o = kube.get('idpconnections', NS, 'cascade-oidc');
      return connectionReady(o)?.status === 'True' && o;
    });
    expect(ready(readyNow)).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect(JSON.stringify(readyNow)).not.toContain('kube-mirrored-secret-value');
  });

  it('deprovisions a deleted resource in the server before letting it go (finalizer)', async () => {
    kube.remove('clients', NS, 'orphan-app');
    await eventually(() => kube.get('clients', NS, 'orphan-app') === undefined);
    kube.remove('clients', NS, 'cascade-app');
    await eventually(() => kube.get('clients', NS, 'cascade-app') === undefined);
    expect(await admin.get('Client', NS, 'cascade-app')).toBeUndefined();
    const records = (await admin.request('GET', `/admin/v1/audit?organization=cascade&action=Client.deleted`)) as { items: { data: { provenance: Record<string, string> } }[] };
    expect(records.items[0]!.data.provenance).toMatchObject({ source: 'kubernetes', reason: 'undeclared' });
  });

  it('re-lists after the watch is compacted away (410 Gone) and picks up what changed meanwhile', async () => {
    const lists = () => kube.requests.filter((r) => r === 'GET /apis/gatehouse.dev/v1alpha1/clients').length;
    const before = lists();
    kube.compact();
    kube.create('clients', client('after-410', 'cascade') as KubeObject);
    await eventually(async () => (await admin.get('Client', NS, 'after-410')) !== undefined);
    await eventually(() => lists() > before);
  });

  it('hands over to a standby replica when the leader stops, and only the leader writes', async () => {
    const second = await start('replica-b');
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(second.elector.leading).toBe(false);
      await first.stop();
      await eventually(() => second.elector.leading);
      kube.create('clients', client('after-handover', 'cascade') as KubeObject);
      await eventually(async () => (await admin.get('Client', NS, 'after-handover')) !== undefined);
      expect(first.elector.leading).toBe(false);
      expect(kube.get('leases', 'gatehouse-system', 'gatehouse-controller')?.spec).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });
    } finally {
      await second.stop();
    }
  });
});

describe('toDeclaration', () => {
  it('drops the API server’s and tools’ bookkeeping before the schema sees the object', () => {
    const cr = {
      apiVersion: 'gatehouse.dev/v1alpha1',
      kind: 'Organization',
      metadata: {
        name: 'x',
        namespace: NS,
        uid: 'u',
        resourceVersion: '7',
        generation: 3,
        finalizers: [FINALIZER],
        managedFields: [],
        creationTimestamp: new Date('2026-11-23T00:00:00Z'),
        labels: { team: 'partners' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'argocd.argoproj.io/tracking-id': 't', note: 'kept' },
      },
      spec: { displayName: 'X' },
    };
    expect(toDeclaration(cr, 'Organization')).toEqual({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Organization', metadata: { name: 'x', namespace: NS, labels: { team: 'partners' }, annotations: { note: 'kept' } }, spec: { displayName: 'X' } });
  });
});
