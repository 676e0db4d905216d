/**
 * What the Kubernetes controller specs share: a fake API server driven by the real
 * @kubernetes/client-node, a Gatehouse test server and its admin client, and controller
 * replicas with a short lease, whose log every failed `eventually` prints.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { AdminClient } from '../../client/admin-client.ts';
import { startKubernetesController, type KubernetesController } from '../../controller/kubernetes/run.ts';
import type { DriftMode } from '../../controller/reconciler.ts';
import { startFakeKube, type FakeKube, type KubeObject } from './fake-kube.ts';
import { pollUntil, type Check } from './eventually.ts';
import { startTestServer, type TestServer } from './server.ts';

export interface ReadyCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** The Ready condition the controller wrote to a resource's status. */
export function readyOf(o: KubeObject | undefined): ReadyCondition | undefined {
  return (o?.status?.conditions as ReadyCondition[] | undefined)?.find((c) => c.type === 'Ready');
}

export interface KubeControllerHarness {
  kube: FakeKube;
  gh: TestServer;
  admin: AdminClient;
  /** Every replica's log, each line prefixed with the replica's identity. */
  lines: string[];
  /** Starts a replica. `fetch` replaces the one its admin client calls the server with. */
  start(identity: string, options?: { fetch?: typeof fetch; drift?: DriftMode }): Promise<KubernetesController>;
  /** Polls `check` until it gives a value; a timeout fails with the replicas' log. */
  eventually<T>(check: Check<T>, ms?: number): Promise<T>;
  /** Stops the fake API server and the Gatehouse server (stop the replicas first). */
  close(): Promise<void>;
}

/** `resyncMs`: how often replicas re-read everything (Secrets are read, not watched). */
export async function startKubeControllerHarness(options: { resyncMs?: number; eventuallyMs?: number } = {}): Promise<KubeControllerHarness> {
  const kube = await startFakeKube();
  const gh = await startTestServer();
  const admin = new AdminClient({ endpoint: gh.url, token: gh.token });
  const lines: string[] = [];
  return {
    kube,
    gh,
    admin,
    lines,
    start(identity, { fetch, drift } = {}) {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromString(kube.kubeconfig);
      return startKubernetesController({
        kubeConfig,
        client: fetch ? new AdminClient({ endpoint: gh.url, token: gh.token, fetch }) : admin,
        out: (line) => lines.push(`${identity}: ${line}`),
        identity,
        leaseNamespace: 'gatehouse-system',
        leaseDurationSeconds: 2,
        renewMs: 100,
        ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
        ...(drift ? { drift } : {}),
      });
    },
    eventually: (check, ms = options.eventuallyMs ?? 8000) => pollUntil(check, ms, () => lines.join('\n')),
    async close() {
      await kube.close();
      await gh.close();
    },
  };
}
