import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type AppOptions, type GatehouseApp } from '../../server/app.ts';
import { fixedClock } from '../../server/clock.ts';
import { listen } from '../../server/http/listen.ts';
import { silentLogger, type Logger } from '../../server/log.ts';
import type { Metrics } from '../../server/observability/metrics.ts';
import { openStore, type Store, type StoreOptions } from '../../server/store/index.ts';
import { ensureBootstrapToken } from '../../server/governance/admin-tokens.ts';
import { Sealer } from '../../server/secrets/sealer.ts';
import { NS } from './objects.ts';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
/** The test servers' GATEHOUSE_SECRET_KEY: what a tool reading their store (audit verify) needs too. */
export const TEST_SECRET_KEY = 'test-secret-key-0123456789abcdefghijklmnop';

export interface TestServer {
  url: string;
  token: string;
  store: Store;
  gatehouse: GatehouseApp;
  clock: ReturnType<typeof fixedClock>;
  dataDir: string;
  /** Calls the admin API with the bootstrap token; JSON in, JSON out. */
  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  /** PUTs a declaration into the test namespace (`NS`) through the admin API; throws with the server's answer unless it was accepted. */
  put(plural: string, object: { metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: unknown }): Promise<any>;
  close(): Promise<void>;
}

/** A Gatehouse server on 127.0.0.1 with a fresh store (SQLite in a temp dir unless `store` says otherwise). */
export async function startTestServer(
  options: {
    store?: StoreOptions;
    dataDir?: string;
    now?: string;
    bodyLimit?: number;
    trustedProxies?: string[];
    logger?: Logger;
    metrics?: Metrics;
    federationSetup?: { allowLoopbackHttp?: boolean };
    geoipDb?: string;
    publicHost?: string;
    notifications?: AppOptions['notifications'];
    maxProviders?: number;
    pollMs?: number;
  } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'gatehouse-test-')));
  const store = await openStore(options.store ?? { dataDir });
  const clock = fixedClock(options.now ?? '2026-11-23T09:00:00Z');
  await ensureBootstrapToken(store, TEST_ADMIN_TOKEN, clock.now());
  const sealer = new Sealer(TEST_SECRET_KEY);
  const settings = {
    store,
    clock,
    logger: options.logger ?? silentLogger,
    sealer,
    publicUrl: 'http://127.0.0.1',
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
    ...(options.federationSetup ? { federationSetup: options.federationSetup } : {}),
    ...(options.geoipDb ? { geoipDb: options.geoipDb } : {}),
    ...(options.notifications ? { notifications: options.notifications } : {}),
    ...(options.maxProviders !== undefined ? { maxProviders: options.maxProviders } : {}),
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
  };
  let gatehouse: GatehouseApp;
  try {
    gatehouse = createApp(settings);
  } catch (error) {
    await store.close();
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const running = await listen(gatehouse.callback, { host: '127.0.0.1', port: 0 });
  // `localhost` where WebAuthn needs a domain for its RP ID (an IP address is refused): the server still listens on 127.0.0.1.
  const url = options.publicHost ? running.url.replace('127.0.0.1', options.publicHost) : running.url;
  settings.publicUrl = url;
  const server: TestServer = {
    url,
    token: TEST_ADMIN_TOKEN,
    store,
    gatehouse,
    clock,
    dataDir,
    async admin(method, path, body, headers = {}) {
      const res = await fetch(`${running.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    async put(plural, object) {
      const res = await server.admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${object.metadata.name}`, object);
      if (res.status >= 300) throw new Error(JSON.stringify(res.body));
      return res.body;
    },
    async close() {
      await running.close();
      await gatehouse.notifications.stop();
      await gatehouse.refusals.close();
      await gatehouse.audit.close();
      await store.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}
