import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { loadSealer } from '../server/secrets/sealer.ts';
import { AdminClient } from '../client/admin-client.ts';
import { startDirectoryController, type DirectoryController } from '../controller/directory-controller.ts';
import { createApp } from '../server/app.ts';
import { systemClock } from '../server/clock.ts';
import { listen } from '../server/http/listen.ts';
import { jsonLogger } from '../server/log.ts';
import { Metrics } from '../server/observability/metrics.ts';
import { serveMetrics } from '../server/observability/metrics-server.ts';
import { observabilitySettings } from '../server/observability/settings.ts';
import type { Tracing } from '../server/observability/tracing.ts';
import type { RunningServer } from '../server/http/listen.ts';
import { openStore } from '../server/store/index.ts';
import { ensureBootstrapToken, generateToken, hashToken } from '../server/governance/admin-tokens.ts';
import { environmentHelp, readConfig } from './config.ts';
import { storeOptionsFrom } from './store-env.ts';

export const SERVE_USAGE = `gatehouse serve [--dir PATH] [--port N] [--host ADDR]

Starts the Gatehouse server. With --dir, runs the controller beside it: every YAML
declaration under PATH is applied through the admin API, and again within a second
of any change to the folder (objects removed from it are deleted, drift made
through the admin API is put back). In a git checkout, each change records the
commit, author and date of its file.

${environmentHelp('serve')}`;

/** Time allowed after the grace period for the audit writer to drain and the store to close. */
const CLOSE_STORE_MS = 10_000;

function withDeadline(work: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

interface Out {
  (line: string): void;
}

export async function serve(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`)): Promise<() => Promise<void>> {
  const { values } = parseArgs({
    args: argv,
    options: { dir: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    out(SERVE_USAGE);
    return async () => {};
  }
  // Flags win over the environment; both go through the same validation.
  const config = readConfig('serve', { ...env, ...(values.port !== undefined ? { PORT: values.port } : {}), ...(values.host !== undefined ? { HOST: values.host } : {}) });
  const { PORT: port, HOST: host } = config;
  const observability = observabilitySettings(config);
  const logger = jsonLogger({ level: observability.logLevel });
  const metrics = observability.metrics ? new Metrics({ maxOrganizations: observability.metrics.maxOrganizations }) : undefined;
  // Imported only when asked for: a server without tracing never loads the OpenTelemetry SDK.
  const tracing: Tracing | undefined = observability.tracing ? await (await import('../server/observability/tracing.ts')).startTracing(observability.tracing) : undefined;

  const store = await openStore({ ...storeOptionsFrom(config), dataDir: resolve(config.GATEHOUSE_DATA_DIR) });
  out(`store: ${store.driver.dialect} at ${store.location}`);
  try {
    const token = await ensureBootstrapToken(store, config.GATEHOUSE_ADMIN_TOKEN, systemClock.now());
    if (token.source === 'generated') {
      out(`admin token (shown once; only its hash is kept): ${token.token}`);
    } else if (token.source === 'environment') {
      out('admin token: from GATEHOUSE_ADMIN_TOKEN');
    } else {
      out('admin token: kept from an earlier start (set GATEHOUSE_ADMIN_TOKEN to replace it)');
    }

    const dataDir = resolve(config.GATEHOUSE_DATA_DIR);
    const { sealer, source: keySource } = loadSealer(config, join(dataDir, 'secret.key'));
    if (keySource === 'generated') out(`secrets at rest: sealed with a new key in ${join(dataDir, 'secret.key')} (set GATEHOUSE_SECRET_KEY in production)`);
    else if (keySource === 'file') out(`secrets at rest: sealed with the key in ${join(dataDir, 'secret.key')}`);

    // The public URL is known before binding only when the port is fixed; port 0 is resolved after listen.
    let publicUrl = config.PUBLIC_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const trustedProxies = config.GATEHOUSE_TRUSTED_PROXIES;
    const gatehouse = createApp({
      store,
      clock: systemClock,
      logger,
      sealer,
      ...(metrics ? { metrics } : {}),
      get publicUrl() {
        return publicUrl;
      },
      ...(trustedProxies.length ? { trustedProxies } : {}),
      ...(config.GATEHOUSE_GEOIP_DB ? { geoipDb: config.GATEHOUSE_GEOIP_DB } : {}),
      maxProviders: config.GATEHOUSE_MAX_PROVIDERS,
      notifications: { smtpUrl: config.GATEHOUSE_SMTP_URL, from: config.GATEHOUSE_MAIL_FROM, leaseMs: config.GATEHOUSE_NOTIFICATION_LEASE_SECONDS * 1000, onHeld: (line) => out(line) },
    });
    out(config.GATEHOUSE_SMTP_URL ? 'notifications: sent by email (GATEHOUSE_SMTP_URL)' : 'notifications: held, no GATEHOUSE_SMTP_URL (each one is printed here and listed by `gatehouse notifications list`)');
    if (trustedProxies.length) out(`trusted proxies: ${trustedProxies.join(', ')} (their X-Forwarded-For names the client)`);
    // The embedded controller is a client of the admin API like any other, with a token of its
    // own that lives only in this process's memory (its hash in the store).
    const controllerToken = values.dir ? generateToken() : undefined;
    if (controllerToken) await store.adminTokens.put('controller', hashToken(controllerToken).toString('hex'), systemClock.now());
    const dir = values.dir ? resolve(values.dir) : undefined;
    // Not ready until the declared issuers exist: a replica answering ready earlier would send partners 404s.
    const declared = dir ? gatehouse.readiness.wait('declarations', `the declarations under ${dir} applied once`) : undefined;
    const metricsServer: RunningServer | undefined = metrics && observability.metrics ? await serveMetrics(metrics, { host: observability.metrics.host ?? host, port: observability.metrics.port, token: observability.metrics.token }) : undefined;
    let running: RunningServer;
    try {
      running = await listen(tracing ? tracing.wrap(gatehouse.callback) : gatehouse.callback, { host, port });
    } catch (error) {
      await metricsServer?.close();
      throw error;
    }
    gatehouse.lifecycle.start();
    gatehouse.sweeper.start();
    gatehouse.notifications.start();
    if (!config.PUBLIC_URL && port === 0) publicUrl = running.url;
    let controller: DirectoryController | undefined;
    if (dir && controllerToken) {
      out(`readiness: ${running.url}/readyz answers 503 until the declarations under ${dir} are applied`);
      const loopback = /^(0\.0\.0\.0|::|\[::\])$/.test(host) ? `http://127.0.0.1:${running.port}` : running.url;
      const client = new AdminClient({ endpoint: loopback, token: controllerToken });
      controller = startDirectoryController({ dir, client, out, ...(metrics ? { observer: metrics.reconcileObserver('directory') } : {}) });
      await controller.firstPass;
      declared?.();
    }
    out(`listening on ${running.url}`);
    out(`  admin API  ${running.url}/admin/v1/namespaces/{namespace}/{organizations|clients|…}`);
    out(`  issuers    ${running.url}/{namespace}/{organization}/.well-known/openid-configuration`);
    out(`  health     ${running.url}/healthz  ${running.url}/readyz`);
    if (metricsServer) out(`  metrics    ${metricsServer.url}/metrics${observability.metrics?.token ? ' (bearer token required)' : ''}`);
    if (observability.tracing) out(`  tracing    OTLP/HTTP to ${observability.tracing.endpoint} as ${observability.tracing.serviceName}`);
    out(`  try: curl -H "authorization: Bearer $TOKEN" ${running.url}/admin/v1/organizations`);
    const graceMs = config.GATEHOUSE_SHUTDOWN_GRACE_SECONDS * 1000;
    // Drain, in order: no longer ready, no new connections, requests in flight finish (for up to
    // the grace period), then the audit records they queued are written and the store closed.
    const drain = async () => {
      gatehouse.readiness.stop();
      await controller?.stop();
      gatehouse.lifecycle.stop();
      const closing = running.close(graceMs);
      await gatehouse.sweeper.stop();
      await gatehouse.notifications.stop();
      await closing;
      await gatehouse.refusals.close();
      await metricsServer?.close();
      await tracing?.shutdown();
      await gatehouse.audit.close();
      await store.close();
      out('stopped: requests in flight finished, audit records written, store closed');
    };
    return () => withDeadline(drain(), graceMs + CLOSE_STORE_MS, `did not stop within ${(graceMs + CLOSE_STORE_MS) / 1000} s (GATEHOUSE_SHUTDOWN_GRACE_SECONDS plus ${CLOSE_STORE_MS / 1000} s to write the audit log and close the store)`);
  } catch (error) {
    await store.close();
    throw error;
  }
}
