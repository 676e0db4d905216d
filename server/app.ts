import Koa from 'koa';
import Router from '@koa/router';
import { adminRouter } from './admin/routes.ts';
import { ObjectService } from './admin/objects.ts';
import { problemMiddleware } from './admin/problem.ts';
import { AdminTokenVerifier } from './admin/tokens.ts';
import type { Clock } from './clock.ts';
import type { Logger } from './log.ts';
import type { Store } from './store/index.ts';
import type { Sealer } from './secrets/sealer.ts';
import { ClientSecrets } from './clients/secrets.ts';

export interface AppOptions {
  store: Store;
  clock: Clock;
  publicUrl: string;
  logger: Logger;
  sealer: Sealer;
  bodyLimit?: number;
}

export interface GatehouseApp {
  app: Koa;
  objects: ObjectService;
  verifier: AdminTokenVerifier;
  clientSecrets: ClientSecrets;
}

/** The Koa application: health, the admin API; the OIDC issuers and broker mount here too. */
export function createApp(options: AppOptions): GatehouseApp {
  const { store, logger } = options;
  const app = new Koa();
  app.proxy = false;
  const objects = new ObjectService(options);
  const verifier = new AdminTokenVerifier(store);
  const clientSecrets = new ClientSecrets({ store, sealer: options.sealer, clock: options.clock });

  app.use(
    problemMiddleware((error, ctx) => {
      logger.error(`${ctx.method} ${ctx.path} failed`, error);
    }),
  );

  const health = new Router();
  health.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  health.get('/readyz', async (ctx) => {
    try {
      await store.driver.all('SELECT 1 AS ok');
      ctx.body = { status: 'ready', store: store.driver.dialect };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'not ready', reason: 'the store does not answer' };
    }
  });
  app.use(health.routes());

  const admin = adminRouter({ store, objects, verifier, clientSecrets, ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}) });
  app.use(admin.routes());
  app.use(admin.allowedMethods({ throw: false }));
  return { app, objects, verifier, clientSecrets };
}
