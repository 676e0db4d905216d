import type { AdminClient } from '../../client/admin-client.ts';

export interface KubernetesControllerOptions {
  client: AdminClient;
  out: (line: string) => void;
  resyncMs: number;
  owner?: string;
  namespace?: string;
  env: NodeJS.ProcessEnv;
}

export async function runKubernetesController(_options: KubernetesControllerOptions): Promise<() => Promise<void>> {
  throw new Error('the Kubernetes source is not available yet');
}
