import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { AdminClient } from '../client/admin-client.ts';
import { problemLines, startDirectoryController, summarize } from '../controller/directory-controller.ts';
import { DirectorySource } from '../controller/sources/directory.ts';
import { Reconciler } from '../controller/reconciler.ts';
import { Metrics } from '../server/observability/metrics.ts';
import { serveMetrics } from '../server/observability/metrics-server.ts';
import { observabilitySettings } from '../server/observability/settings.ts';
import { environmentHelp, readConfig } from './config.ts';

export const CONTROLLER_USAGE = `gatehouse controller --dir PATH --endpoint URL [--owner NAME] [--once]
gatehouse controller --kubernetes --endpoint URL [--namespace NS] [--owner NAME]

Reconciles declarations into a Gatehouse server through its admin API.

  --dir PATH         a folder of YAML declarations (a git checkout records commits);
                     re-applied within a second of any change
  --kubernetes       Gatehouse custom resources from the cluster of the current
                     kubeconfig (or the in-cluster service account)
  --endpoint URL     the server's base URL (or GATEHOUSE_ENDPOINT)
  --owner NAME       identity recorded on created objects; only objects carrying it
                     are ever deleted (default: directory:<PATH> /
                     kubernetes:gatehouse-controller, shared by all replicas)
  --namespace NS     watch one namespace only (Kubernetes mode)
  --once             one pass, then exit: 0 when everything applied, 1 otherwise
                     (a drift reported with --drift report counts as not applied)
  --resync SECONDS   pass interval without changes, to put back drift (default 30)
  --drift MODE       correct (default): put back what was changed on the server; report:
                     leave it, set the object's Drifted condition and log it (or GATEHOUSE_DRIFT)

${environmentHelp('controller')}`;

type Out = (line: string) => void;

/** Runs the controller; resolves to a stop function (or, with --once, to the exit code). */
export async function controller(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`)): Promise<(() => Promise<void>) | number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      kubernetes: { type: 'boolean' },
      endpoint: { type: 'string' },
      owner: { type: 'string' },
      namespace: { type: 'string' },
      once: { type: 'boolean' },
      resync: { type: 'string' },
      drift: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out(CONTROLLER_USAGE);
    return 0;
  }
  if (!values.dir === !values.kubernetes) throw new Error('give exactly one source: --dir PATH or --kubernetes');
  const config = readConfig('controller', { ...env, ...(values.endpoint !== undefined ? { GATEHOUSE_ENDPOINT: values.endpoint } : {}), ...(values.drift !== undefined ? { GATEHOUSE_DRIFT: values.drift } : {}) });
  const drift = config.GATEHOUSE_DRIFT;
  const endpoint = config.GATEHOUSE_ENDPOINT;
  if (!endpoint) throw new Error('give the server with --endpoint URL (or GATEHOUSE_ENDPOINT)');
  const token = config.GATEHOUSE_ADMIN_TOKEN!;
  const resyncMs = values.resync ? Number(values.resync) * 1000 : 30_000;
  if (!Number.isFinite(resyncMs) || resyncMs < 1000) throw new Error(`--resync must be a number of seconds ≥ 1, got "${values.resync}"`);
  const client = new AdminClient({ endpoint, token });
  const observability = observabilitySettings(config);

  /** The controller's own /metrics, when GATEHOUSE_METRICS_PORT asks for it; returns what stops it. */
  const withMetrics = async (source: string, start: (observer: ReturnType<Metrics['reconcileObserver']> | undefined) => Promise<() => Promise<void>>): Promise<() => Promise<void>> => {
    const settings = observability.metrics;
    if (!settings) return start(undefined);
    const metrics = new Metrics({ maxOrganizations: settings.maxOrganizations });
    const server = await serveMetrics(metrics, { host: settings.host ?? '127.0.0.1', port: settings.port, token: settings.token });
    out(`controller: metrics on ${server.url}/metrics`);
    try {
      const stop = await start(metrics.reconcileObserver(source));
      return async () => {
        await stop();
        await server.close();
      };
    } catch (error) {
      await server.close();
      throw error;
    }
  };

  if (values.kubernetes) {
    const { runKubernetesController } = await import('../controller/kubernetes/run.ts');
    return withMetrics('kubernetes', (observer) =>
      runKubernetesController({
        client,
        out,
        resyncMs,
        drift,
        ...(values.owner ? { owner: values.owner } : {}),
        ...(values.namespace ? { namespace: values.namespace } : {}),
        ...(observer ? { observer } : {}),
        ...(config.POD_NAME ? { podName: config.POD_NAME } : {}),
        ...(config.POD_NAMESPACE ? { podNamespace: config.POD_NAMESPACE } : {}),
      }),
    );
  }

  const dir = resolve(values.dir!);
  if (values.once) {
    const source = new DirectorySource({ dir });
    const reconciler = new Reconciler({ client, owner: values.owner ?? `directory:${source.dir}`, source: 'directory', drift });
    const report = await reconciler.reconcile(await source.read());
    for (const line of problemLines(report)) out(line);
    out(summarize(report, dir));
    return report.failed > 0 || report.drifted > 0 ? 1 : 0;
  }
  out(`controller: reconciling ${dir} into ${endpoint}${drift === 'report' ? ' (drift is reported, not corrected)' : ''}`);
  return withMetrics('directory', async (observer) => {
    const running = startDirectoryController({ dir, client, out, resyncMs, drift, ...(values.owner ? { owner: values.owner } : {}), ...(observer ? { observer } : {}) });
    return () => running.stop();
  });
}
