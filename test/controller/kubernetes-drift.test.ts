import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AnyObject } from '../../api/index.ts';
import type { KubernetesController } from '../../controller/kubernetes/run.ts';
import type { KubeObject } from '../support/fake-kube.ts';
import { readyOf, startKubeControllerHarness, type KubeControllerHarness } from '../support/kube-controller.ts';
import { NS, organization } from '../support/objects.ts';

let harness: KubeControllerHarness;
let controller: KubernetesController;

beforeAll(async () => {
  harness = await startKubeControllerHarness({ resyncMs: 300, eventuallyMs: 8000 });
  controller = await harness.start('reporter', { drift: 'report' });
  await harness.eventually(() => controller.elector.leading);
});
afterAll(async () => {
  await controller.stop();
  await harness.close();
});

const drifted = (o: KubeObject | undefined) => (o?.status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((c) => c.type === 'Drifted');

describe('Kubernetes source with --drift report', () => {
  it('leaves an organization changed through the admin API, and the resource shows Drifted=True and Ready=False', async () => {
    harness.kube.create('organizations', organization('harbor') as KubeObject);
    await harness.eventually(() => readyOf(harness.kube.get('organizations', NS, 'harbor'))?.status === 'True');
    const current = (await harness.admin.get('Organization', NS, 'harbor'))!;
    await harness.admin.apply({ ...current, spec: { ...current.spec, displayName: 'Harbor (by hand)' } } as AnyObject);
    const resource = await harness.eventually(() => {
      const o = harness.kube.get('organizations', NS, 'harbor');
      return drifted(o)?.status === 'True' && o;
    });
    expect(drifted(resource)).toMatchObject({ reason: 'ChangedOnServer', message: expect.stringContaining('differs from its declaration in spec.displayName') });
    expect(readyOf(resource)).toMatchObject({ status: 'False', reason: 'Drifted' });
    // Several resyncs later, still as changed on the server.
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect((await harness.admin.get('Organization', NS, 'harbor'))!.spec).toMatchObject({ displayName: 'Harbor (by hand)' });
  });
});
