import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { loadSealer } from '../server/secrets/sealer.ts';
import { AdminClient } from '../client/admin-client.ts';
import { startDirectoryController, type DirectoryController } from '../controller/directory-controller.ts';
import { createApp } from '../server/app.ts';
import { systemClock } from '../server/clock.ts';
import { listen } from '../server/http.ts';
import { jsonLogger } from '../server/log.ts';
import { Metrics } from '../server/observability/metrics.ts';
import { serveMetrics } from '../server/observability/metrics-server.ts';
import { OBSERVABILITY_ENV_HELP, observabilitySettings } from '../server/observability/settings.ts';
import type { Tracing } from '../server/observability/tracing.ts';
import type { RunningServer } from '../server/http.ts';
import { openStore } from '../server/store/index.ts';
import { ensureBootstrapToken, generateToken, hashToken } from '../server/admin/tokens.ts';

export const SERVE_USAGE = `gatehouse serve [--dir PATH] [--port N] [--host ADDR]

Starts the Gatehouse server. With --dir, runs the controller beside it: every YAML
declaration under PATH is applied through the admin API, and again within a second
of any change to the folder (objects removed from it are deleted, drift made
through the admin API is put back). In a git checkout, each change records the
commit, author and date of its file.

Environment:
  PORT                    port to listen on (default 8080)
  HOST                    address to listen on (default 127.0.0.1)
  PUBLIC_URL              external base URL of issuers (default http://127.0.0.1:PORT)
  GATEHOUSE_DATA_DIR      where the embedded SQLite store lives (default ./data)
  DATABASE_URL            postgres://… to use PostgreSQL instead (several replicas)
  GATEHOUSE_ADMIN_TOKEN   bootstrap admin token; generated and printed once if unset
  GATEHOUSE_SECRET_KEY    key that seals secrets at rest (required with DATABASE_URL);
                          generated into GATEHOUSE_DATA_DIR/secret.key if unset
  GATEHOUSE_TRUSTED_PROXIES  comma-separated CIDR blocks of the reverse proxies in front;
                          their X-Forwarded-For names the client for organizations'
                          network.allowedCidrs (default: none, the socket's peer counts)
${OBSERVABILITY_ENV_HELP}`;

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
  const port = Number(values.port ?? env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got "${values.port ?? env.PORT}"`);
  const host = values.host ?? env.HOST ?? '127.0.0.1';
  const observability = observabilitySettings(env);
  const logger = jsonLogger({ level: observability.logLevel });
  const metrics = observability.metrics ? new Metrics({ maxOrganizations: observability.metrics.maxOrganizations }) : undefined;
  // Imported only when asked for: a server without tracing never loads the OpenTelemetry SDK.
  const tracing: Tracing | undefined = observability.tracing ? await (await import('../server/observability/tracing.ts')).startTracing(observability.tracing) : undefined;

  const store = await openStore({ ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}), dataDir: resolve(env.GATEHOUSE_DATA_DIR ?? './data') });
  out(`store: ${store.driver.dialect} at ${store.location}`);
  try {
    const token = await ensureBootstrapToken(store, env.GATEHOUSE_ADMIN_TOKEN, systemClock.now());
    if (token.source === 'generated') {
      out(`admin token (shown once; only its hash is kept): ${token.token}`);
    } else if (token.source === 'environment') {
      out('admin token: from GATEHOUSE_ADMIN_TOKEN');
    } else {
      out('admin token: kept from an earlier start (set GATEHOUSE_ADMIN_TOKEN to replace it)');
    }

    const dataDir = resolve(env.GATEHOUSE_DATA_DIR ?? './data');
    const { sealer, source: keySource } = loadSealer(env, join(dataDir, 'secret.key'));
    if (keySource === 'generated') out(`secrets at rest: sealed with a new key in ${join(dataDir, 'secret.key')} (set GATEHOUSE_SECRET_KEY in production)`);
    else if (keySource === 'file') out(`secrets at rest: sealed with the key in ${join(dataDir, 'secret.key')}`);

    // The public URL is known before binding only when the port is fixed; port 0 is resolved after listen.
    let publicUrl = env.PUBLIC_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const trustedProxies = (env.GATEHOUSE_TRUSTED_PROXIES ?? '').split(',').map((cidr) => cidr.trim()).filter(Boolean);
    const gatehouse = createApp({ store, clock: systemClock, logger, sealer, ...(metrics ? { metrics } : {}), get publicUrl() { return publicUrl; }, ...(trustedProxies.length ? { trustedProxies } : {}) });
    if (trustedProxies.length) out(`trusted proxies: ${trustedProxies.join(', ')} (their X-Forwarded-For names the client)`);
    // The embedded controller is a client of the admin API like any other, with a token of its
    // own that lives only in this process's memory (its hash in the store).
    const controllerToken = values.dir ? generateToken() : undefined;
    if (controllerToken) await store.repo.putAdminToken('controller', hashToken(controllerToken).toString('hex'), systemClock.now());
    const metricsServer: RunningServer | undefined = metrics && observability.metrics
      ? await serveMetrics(metrics, { host: observability.metrics.host ?? host, port: observability.metrics.port, token: observability.metrics.token })
      : undefined;
    let running: RunningServer;
    try {
      running = await listen(tracing ? tracing.wrap(gatehouse.callback) : gatehouse.callback, { host, port });
    } catch (error) {
      await metricsServer?.close();
      throw error;
    }
    gatehouse.lifecycle.start();
    gatehouse.sweeper.start();
    if (!env.PUBLIC_URL && port === 0) publicUrl = running.url;
    let controller: DirectoryController | undefined;
    if (values.dir && controllerToken) {
      const loopback = /^(0\.0\.0\.0|::|\[::\])$/.test(host) ? `http://127.0.0.1:${running.port}` : running.url;
      const client = new AdminClient({ endpoint: loopback, token: controllerToken });
      controller = startDirectoryController({ dir: resolve(values.dir), client, out, ...(metrics ? { observer: metrics.reconcileObserver('directory') } : {}) });
      await controller.firstPass;
    }
    out(`listening on ${running.url}`);
    out(`  admin API  ${running.url}/admin/v1/namespaces/{namespace}/{organizations|clients|…}`);
    out(`  issuers    ${running.url}/{namespace}/{organization}/.well-known/openid-configuration`);
    out(`  health     ${running.url}/healthz  ${running.url}/readyz`);
    if (metricsServer) out(`  metrics    ${metricsServer.url}/metrics${observability.metrics?.token ? ' (bearer token required)' : ''}`);
    if (observability.tracing) out(`  tracing    OTLP/HTTP to ${observability.tracing.endpoint} as ${observability.tracing.serviceName}`);
    out(`  try: curl -H "authorization: Bearer $TOKEN" ${running.url}/admin/v1/organizations`);
    return async () => {
      await controller?.stop();
      gatehouse.lifecycle.stop();
      await gatehouse.sweeper.stop();
      await running.close();
      await gatehouse.refusals.close();
      await metricsServer?.close();
      await tracing?.shutdown();
      await gatehouse.audit.close();
      await store.close();
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
