import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { loadSealer } from '../server/secrets/sealer.ts';
import { sortForApply } from '../api/index.ts';
import { readManifests } from '../controller/sources/manifest-files.ts';
import { createApp } from '../server/app.ts';
import { systemClock } from '../server/clock.ts';
import { listen } from '../server/http.ts';
import { consoleLogger } from '../server/log.ts';
import { openStore } from '../server/store/index.ts';
import { ensureBootstrapToken } from '../server/admin/tokens.ts';
import type { ObjectService } from '../server/admin/objects.ts';
import { Problem } from '../server/admin/problem.ts';

export const SERVE_USAGE = `gatehouse serve [--dir PATH] [--port N] [--host ADDR]

Starts the Gatehouse server. With --dir, applies every YAML declaration under PATH
on start (the same validation and audit as the admin API).

Environment:
  PORT                    port to listen on (default 8080)
  HOST                    address to listen on (default 127.0.0.1)
  PUBLIC_URL              external base URL of issuers (default http://127.0.0.1:PORT)
  GATEHOUSE_DATA_DIR      where the embedded SQLite store lives (default ./data)
  DATABASE_URL            postgres://… to use PostgreSQL instead (several replicas)
  GATEHOUSE_ADMIN_TOKEN   bootstrap admin token; generated and printed once if unset
  GATEHOUSE_SECRET_KEY    key that seals secrets at rest (required with DATABASE_URL);
                          generated into GATEHOUSE_DATA_DIR/secret.key if unset`;

interface Out {
  (line: string): void;
}

/** Applies a directory of declarations; returns a one-line summary and the failures. */
export async function applyDirectory(objects: ObjectService, dir: string, out: Out): Promise<{ failed: number }> {
  const manifests = await readManifests(dir);
  const counts = { created: 0, updated: 0, unchanged: 0 };
  let failed = manifests.errors.length;
  for (const e of manifests.errors) out(`  ✗ ${e.file} (document ${e.document + 1}): ${e.message}`);
  for (const item of sortForApply(manifests.objects)) {
    try {
      const result = await objects.apply(item.object, { actor: 'gatehouse serve --dir', provenance: { source: 'directory', file: item.file } });
      counts[result.outcome]++;
    } catch (error) {
      failed++;
      out(`  ✗ ${item.file} (document ${item.document + 1}): ${error instanceof Problem || error instanceof Error ? error.message : String(error)}`);
    }
  }
  out(`applied ${manifests.objects.length - (failed - manifests.errors.length)} objects from ${dir} (${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged${failed ? `, ${failed} failed` : ''})`);
  return { failed };
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
  const logger = consoleLogger();

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
    const gatehouse = createApp({ store, clock: systemClock, logger, sealer, get publicUrl() { return publicUrl; } });
    if (values.dir) await applyDirectory(gatehouse.objects, resolve(values.dir), out);
    const running = await listen(gatehouse.app, { host, port });
    gatehouse.lifecycle.start();
    if (!env.PUBLIC_URL && port === 0) publicUrl = running.url;
    out(`listening on ${running.url}`);
    out(`  admin API  ${running.url}/admin/v1/namespaces/{namespace}/{organizations|clients|…}`);
    out(`  health     ${running.url}/healthz  ${running.url}/readyz`);
    out(`  try: curl -H "authorization: Bearer $TOKEN" ${running.url}/admin/v1/organizations`);
    return async () => {
      gatehouse.lifecycle.stop();
      await running.close();
      await store.close();
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
