import Router, { type RouterContext } from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { dnsLabel, type SecretDescription } from '../../api/index.ts';
import { secretFingerprint } from '../../client/secret-fingerprint.ts';
import type { ChangeContext } from '../changes.ts';
import { readBody } from '../http/body.ts';
import { badRequest, notFound } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { Sealer } from '../secrets/sealer.ts';
import type { Store } from '../store/index.ts';

export const UPSTREAM_SECRET_SCOPE = 'secret';

const SecretData = z.strictObject({
  data: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,253}$/, { error: 'expected a key like a Kubernetes Secret key ([A-Za-z0-9._-])' }), z.string().max(65536)).refine((d) => Object.keys(d).length >= 1 && Object.keys(d).length <= 64, { error: 'between 1 and 64 keys' }),
});

/** `fingerprint` is absent from secrets stored before it existed: a writer then sees no match and writes once. */
const Sealed = z.object({ data: z.record(z.string(), z.string()), updatedAt: z.number(), fingerprint: z.string().optional() });

/**
 * Secrets the server needs from outside and never shows again: upstream IdP client
 * secrets, referenced from IdPConnections by name and key. Written through the admin API
 * (the controller copies Kubernetes Secrets in), sealed at rest, read only by the broker.
 */
export class UpstreamSecrets {
  private readonly store: Store;
  private readonly sealer: Sealer;
  private readonly clock: Clock;

  constructor(options: { store: Store; sealer: Sealer; clock: Clock }) {
    this.store = options.store;
    this.sealer = options.sealer;
    this.clock = options.clock;
  }

  private static row(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  async put(namespace: string, name: string, input: unknown, context: ChangeContext): Promise<{ outcome: 'created' | 'updated'; secret: SecretDescription }> {
    const parsed = SecretData.safeParse(input);
    if (!parsed.success) throw badRequest(`secret ${namespace}/${name}: ${parsed.error.issues.map((i) => `${['', ...i.path].join('.').slice(1) || 'body'}: ${i.message}`).join('; ')}`);
    const now = this.clock.now();
    const row = UpstreamSecrets.row(namespace, name);
    const fingerprint = await secretFingerprint(parsed.data.data);
    const sealed = this.sealer.seal(JSON.stringify({ data: parsed.data.data, updatedAt: now, fingerprint }), `${UPSTREAM_SECRET_SCOPE} ${row}`);
    const outcome = await this.store.transaction(async (repo) => {
      const existed = await repo.secrets.get(UPSTREAM_SECRET_SCOPE, row);
      await repo.secrets.put(UPSTREAM_SECRET_SCOPE, row, sealed, now);
      const result = existed ? ('updated' as const) : ('created' as const);
      // Key names only: the audit log must never hold a secret value.
      await repo.audit.append({ action: existed ? 'Secret.updated' : 'Secret.created', actor: context.actor, namespace, kind: 'Secret', name, data: { keys: Object.keys(parsed.data.data).sort(), ...(context.provenance ? { provenance: context.provenance } : {}) } }, now);
      return result;
    });
    return { outcome, secret: { namespace, name, keys: Object.keys(parsed.data.data).sort(), updatedAt: new Date(now).toISOString(), fingerprint } };
  }

  private async open(namespace: string, name: string): Promise<z.infer<typeof Sealed> | undefined> {
    const row = UpstreamSecrets.row(namespace, name);
    const stored = await this.store.secrets.get(UPSTREAM_SECRET_SCOPE, row);
    if (!stored) return undefined;
    return Sealed.parse(JSON.parse(this.sealer.open(stored.sealed, `${UPSTREAM_SECRET_SCOPE} ${row}`)));
  }

  async describe(namespace: string, name: string): Promise<SecretDescription | undefined> {
    const opened = await this.open(namespace, name);
    if (!opened) return undefined;
    return { namespace, name, keys: Object.keys(opened.data).sort(), updatedAt: new Date(opened.updatedAt).toISOString(), ...(opened.fingerprint ? { fingerprint: opened.fingerprint } : {}) };
  }

  async list(namespace: string): Promise<SecretDescription[]> {
    const rows = await this.store.secrets.list(UPSTREAM_SECRET_SCOPE, `${namespace}/`);
    const out: SecretDescription[] = [];
    for (const r of rows) {
      const described = await this.describe(namespace, r.name.slice(namespace.length + 1));
      if (described) out.push(described);
    }
    return out;
  }

  /** The value the broker needs; undefined when the secret or its key has not been delivered yet. */
  async value(namespace: string, ref: { name: string; key: string }): Promise<string | undefined> {
    return (await this.open(namespace, ref.name))?.data[ref.key];
  }

  async delete(namespace: string, name: string, context: ChangeContext): Promise<boolean> {
    const row = UpstreamSecrets.row(namespace, name);
    return this.store.transaction(async (repo) => {
      if (!(await repo.secrets.get(UPSTREAM_SECRET_SCOPE, row))) return false;
      await repo.secrets.delete(UPSTREAM_SECRET_SCOPE, row);
      await repo.audit.append({ action: 'Secret.deleted', actor: context.actor, namespace, kind: 'Secret', name, data: {} }, this.clock.now());
      return true;
    });
  }
}

function label(value: unknown, what: string): string {
  const parsed = dnsLabel.safeParse(String(value));
  if (!parsed.success) throw badRequest(`${what} "${String(value)}" in the URL: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/**
 * `/admin/v1/namespaces/{ns}/secrets[/{name}]`: write-only. Mounted before the admin
 * router, whose `/{plural}` routes would otherwise answer "unknown resource type".
 */
export function secretRoutes(secrets: UpstreamSecrets, auth: Middleware, changeContext: (ctx: RouterContext) => ChangeContext, bodyLimit?: number): Router {
  const router = new Router({ prefix: '/admin/v1/namespaces/:namespace/secrets' });
  router.use(auth);
  router.get('/', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { kind: 'SecretList', items: await secrets.list(label(ctx.params.namespace, 'namespace')) };
  });
  router.get('/:name', async (ctx) => {
    const namespace = label(ctx.params.namespace, 'namespace');
    const name = label(ctx.params.name, 'name');
    const found = await secrets.describe(namespace, name);
    if (!found) throw notFound(`secret ${namespace}/${name} does not exist`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = found;
  });
  router.put('/:name', async (ctx) => {
    const result = await secrets.put(label(ctx.params.namespace, 'namespace'), label(ctx.params.name, 'name'), await readBody(ctx, bodyLimit), changeContext(ctx));
    ctx.status = result.outcome === 'created' ? 201 : 200;
    ctx.set('Gatehouse-Outcome', result.outcome);
    ctx.body = result.secret;
  });
  router.delete('/:name', async (ctx) => {
    const namespace = label(ctx.params.namespace, 'namespace');
    const name = label(ctx.params.name, 'name');
    if (!(await secrets.delete(namespace, name, changeContext(ctx)))) throw notFound(`secret ${namespace}/${name} does not exist`);
    ctx.body = { deleted: [`Secret/${name}`] };
  });
  return router;
}
