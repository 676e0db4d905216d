import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { AdminClient } from '../../client/admin-client.ts';
import { ControllerLoop, type PassObserver } from '../loop.ts';
import { Reconciler, type DriftMode } from '../reconciler.ts';
import { ClientSecretDelivery } from './client-secrets.ts';
import { LeaderElector } from './lease.ts';
import { SecretRefSync } from './secret-refs.ts';
import { KubernetesSource } from './source.ts';

export interface KubernetesControllerOptions {
  client: AdminClient;
  out: (line: string) => void;
  resyncMs: number;
  drift?: DriftMode;
  owner?: string;
  namespace?: string;
  observer?: PassObserver;
  /** The Lease holder's identity (POD_NAME); the host name when unset. */
  podName?: string;
  /** Where the Lease lives (POD_NAMESPACE); else `namespace`, else gatehouse-system. */
  podNamespace?: string;
}

export interface StartKubernetesOptions {
  kubeConfig: KubeConfig;
  client: AdminClient;
  out: (line: string) => void;
  /** Identity on created objects: the same for every replica, so a new leader owns what the old one created. */
  owner?: string;
  /** This replica, for the Lease. */
  identity: string;
  namespace?: string;
  leaseNamespace: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  renewMs?: number;
  resyncMs?: number;
  now?: () => Date;
  observer?: PassObserver;
  /** What to do with objects changed on the server behind their resources' back (default `correct`). */
  drift?: DriftMode;
}

export interface KubernetesController {
  source: KubernetesSource;
  elector: LeaderElector;
  loop: ControllerLoop;
  reconciler: Reconciler;
  stop(): Promise<void>;
}

/**
 * Informers run on every replica (a new leader starts with a warm cache); only the replica
 * holding the Lease runs reconcile passes and so writes to the server or the cluster.
 */
export async function startKubernetesController(options: StartKubernetesOptions): Promise<KubernetesController> {
  const owner = options.owner ?? 'kubernetes:gatehouse-controller';
  const reconciler = new Reconciler({ client: options.client, owner, source: 'kubernetes', ...(options.now ? { now: options.now } : {}), ...(options.drift ? { drift: options.drift } : {}) });
  let loop: ControllerLoop | undefined;
  const source = new KubernetesSource({
    kubeConfig: options.kubeConfig,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    onChange: () => loop?.trigger(),
    onKeys: (keys) => loop?.enqueue(keys),
    onError: (error) => options.out(`kubernetes: ${error instanceof Error ? error.message : String(error)}`),
    ...(options.now ? { now: options.now } : {}),
    clientSecrets: new ClientSecretDelivery({ core: options.kubeConfig.makeApiClient(CoreV1Api), admin: options.client, owner }),
    secretRefs: new SecretRefSync({ core: options.kubeConfig.makeApiClient(CoreV1Api), admin: options.client, owner }),
  });
  const runningLoop = new ControllerLoop({
    reconciler,
    read: async () => {
      await source.ensureFinalizers();
      return source.read();
    },
    readKeys: (keys) => source.readKeys(keys),
    onPass: async (report) => {
      await source.afterPass(report, owner);
      if (report.writes > 0 || report.failed > 0) {
        options.out(`reconciled ${report.applied} resources (${report.created} created, ${report.updated} updated, ${report.unchanged} unchanged, ${report.deleted} deleted, ${report.failed} failed)`);
      }
    },
    onError: (error, retryInMs) => options.out(`controller: ${error instanceof Error ? error.message : String(error)}; retrying in ${(retryInMs / 1000).toFixed(1)} s`),
    ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const elector = new LeaderElector({
    api: options.kubeConfig.makeApiClient(CoordinationV1Api),
    namespace: options.leaseNamespace,
    name: options.leaseName ?? 'gatehouse-controller',
    identity: options.identity,
    ...(options.leaseDurationSeconds ? { leaseDurationSeconds: options.leaseDurationSeconds } : {}),
    ...(options.renewMs ? { renewMs: options.renewMs } : {}),
    ...(options.now ? { now: options.now } : {}),
    onStartedLeading: () => {
      options.out(`leader: ${options.identity} holds the lease`);
      loop = runningLoop;
      loop.start();
    },
    onStoppedLeading: async () => {
      options.out(`leader: ${options.identity} lost the lease; standing by`);
      loop = undefined;
      await runningLoop.stop();
    },
  });
  await source.start();
  elector.start();
  return {
    source,
    elector,
    loop: runningLoop,
    reconciler,
    async stop() {
      await elector.stop();
      await runningLoop.stop();
      await source.stop();
    },
  };
}

/** `gatehouse controller --kubernetes`: the kubeconfig of the environment, or the pod's service account. */
export async function runKubernetesController(options: KubernetesControllerOptions): Promise<() => Promise<void>> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const identity = options.podName ?? hostname();
  const controller = await startKubernetesController({
    kubeConfig,
    client: options.client,
    out: options.out,
    identity,
    leaseNamespace: options.podNamespace ?? options.namespace ?? 'gatehouse-system',
    resyncMs: options.resyncMs,
    ...(options.drift ? { drift: options.drift } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  options.out(`controller: watching Gatehouse resources${options.namespace ? ` in ${options.namespace}` : ''} as ${identity}`);
  return () => controller.stop();
}
