import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { KINDS, dnsLabel, duration, durationSeconds, kindByPlural, type KindDefinition } from '../../api/index.ts';
import type { Store } from '../store/index.ts';
import { readBody } from './body.ts';
import { ObjectService, type ChangeContext } from './objects.ts';
import { Problem, badRequest, notFound } from './problem.ts';
import type { AdminTokenVerifier } from './tokens.ts';
import type { ClientSecrets } from '../clients/secrets.ts';

export const PROVENANCE_HEADER = 'gatehouse-provenance';

const Provenance = z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/), z.string().max(1024)).refine((p) => Object.keys(p).length <= 32, { error: 'at most 32 entries' });

interface AdminState {
  actor: string;
}

const KNOWN = KINDS.map((k) => k.plural).join(', ');

function kindFrom(ctx: Context): KindDefinition {
  const def = kindByPlural(String(ctx.params.plural));
  if (!def) throw notFound(`unknown resource type "${ctx.params.plural}"; known: ${KNOWN}`);
  return def;
}

function pathName(ctx: Context, param: 'namespace' | 'name'): string {
  const value = String(ctx.params[param]);
  const result = dnsLabel.safeParse(value);
  if (!result.success) {
    throw badRequest(`${param} "${value}" in the URL: ${result.error.issues[0]!.message}`, [{ path: param === 'name' ? 'metadata.name' : 'metadata.namespace', message: result.error.issues[0]!.message }]);
  }
  return value;
}

export function changeContext(ctx: Context): ChangeContext {
  const header = ctx.get(PROVENANCE_HEADER);
  const context: ChangeContext = { actor: (ctx.state as AdminState).actor };
  if (!header) return context;
  let parsed: unknown;
  try {
    parsed = JSON.parse(header);
  } catch {
    throw badRequest(`the ${PROVENANCE_HEADER} header must be a JSON object of strings, e.g. {"source":"git","commit":"3f2a9c1"}`);
  }
  const result = Provenance.safeParse(parsed);
  if (!result.success) throw badRequest(`the ${PROVENANCE_HEADER} header must be a JSON object of at most 32 string values: ${result.error.issues[0]!.message}`);
  context.provenance = result.data;
  return context;
}

export function bearerAuth(verifier: AdminTokenVerifier) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([\x21-\x7E]+)$/i.exec(header);
    if (!match) throw new Problem(401, 'Unauthorized', 'send an admin token as "Authorization: Bearer <token>"');
    const name = await verifier.identify(match[1]!);
    if (!name) throw new Problem(401, 'Unauthorized', 'the admin token is not valid');
    (ctx.state as AdminState).actor = `admin-token:${name}`;
    await next();
  };
}

const AuditQuery = z.strictObject({
  namespace: dnsLabel.optional(),
  organization: dnsLabel.optional(),
  action: z.string().max(128).optional(),
  actor: z.string().max(256).optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export interface AdminRoutesOptions {
  store: Store;
  objects: ObjectService;
  clientSecrets: ClientSecrets;
  passwordLink(namespace: string, user: string, context: ChangeContext): Promise<{ url: string; expiresAt: string }>;
  rotateKeys(namespace: string, publishAheadSeconds: number): Promise<{ kid: string; activatesAt: number }>;
  verifier: AdminTokenVerifier;
  bodyLimit?: number;
}

/** `/admin/v1`: declarative PUT/GET/DELETE of every kind, status, and the audit log. */
export function adminRouter(options: AdminRoutesOptions): Router {
  const { objects, store } = options;
  const router = new Router({ prefix: '/admin/v1' });
  router.use(bearerAuth(options.verifier));

  router.get('/audit', async (ctx) => {
    const parsed = AuditQuery.safeParse(ctx.query);
    if (!parsed.success) throw badRequest(`bad audit query: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}`);
    const items = await store.repo.queryAudit(parsed.data);
    const limit = parsed.data.limit ?? 100;
    ctx.body = { items, next: items.length === limit ? items[items.length - 1]!.seq : null };
  });

  router.get('/audit/verify', async (ctx) => {
    ctx.body = await store.verifyAudit();
  });

  router.get('/:plural', async (ctx) => {
    const def = kindFrom(ctx);
    ctx.body = { apiVersion: 'gatehouse.dev/v1alpha1', kind: `${def.kind}List`, items: await objects.list(def.kind) };
  });

  router.get('/namespaces/:namespace/:plural', async (ctx) => {
    const def = kindFrom(ctx);
    ctx.body = { apiVersion: 'gatehouse.dev/v1alpha1', kind: `${def.kind}List`, items: await objects.list(def.kind, pathName(ctx, 'namespace')) };
  });

  router.get('/namespaces/:namespace/:plural/:name', async (ctx) => {
    ctx.body = await objects.get(kindFrom(ctx).kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'));
  });

  router.put('/namespaces/:namespace/:plural/:name', async (ctx) => {
    const def = kindFrom(ctx);
    const namespace = pathName(ctx, 'namespace');
    const name = pathName(ctx, 'name');
    const context = changeContext(ctx);
    const body = await readBody(ctx, options.bodyLimit);
    const result = await objects.apply(body, context, { namespace, kind: def.kind, name });
    ctx.status = result.outcome === 'created' ? 201 : 200;
    ctx.set('Gatehouse-Outcome', result.outcome);
    ctx.body = result.object;
  });

  router.put('/namespaces/:namespace/:plural/:name/status', async (ctx) => {
    const def = kindFrom(ctx);
    const body = await readBody(ctx, options.bodyLimit);
    const status = body && typeof body === 'object' && 'status' in body ? (body as { status: unknown }).status : body;
    ctx.body = await objects.setStatus(def.kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'), status);
  });

  router.post('/namespaces/:namespace/clients/:name/secret', async (ctx) => {
    const result = await options.clientSecrets.rotate(pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });

  router.post('/namespaces/:namespace/users/:name/password-link', async (ctx) => {
    const link = await options.passwordLink(pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = link;
  });

  router.post('/namespaces/:namespace/signing-keys/rotate', async (ctx) => {
    const ahead = typeof ctx.query.publishAhead === 'string' ? ctx.query.publishAhead : '1h';
    if (!duration.safeParse(ahead).success) throw badRequest('publishAhead must be a duration such as "10m" or "1h"', [{ path: 'publishAhead', message: 'expected a duration' }]);
    ctx.body = await options.rotateKeys(pathName(ctx, 'namespace'), durationSeconds(ahead));
  });

  router.delete('/namespaces/:namespace/:plural/:name', async (ctx) => {
    const def = kindFrom(ctx);
    const cascade = ctx.query.cascade === 'true';
    ctx.body = await objects.delete(def.kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx), { cascade });
  });

  return router;
}
