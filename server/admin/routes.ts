import Router from '@koa/router';
import { registerNotificationRoutes } from '../governance/notification-routes.ts';
import type { Context } from 'koa';
import { principalOf } from '../governance/guard.ts';
import { z } from 'zod';
import { KINDS, dnsLabel, duration, durationSeconds, kindByName, kindByPlural, type KindDefinition } from '../../api/index.ts';
import { Provenance } from '../changes.ts';
import type { Store } from '../store/index.ts';
import { readBody } from '../http/body.ts';
import type { ObjectService } from '../objects/service.ts';
import type { ChangeContext } from '../changes.ts';
import { changeContext } from '../http/provenance.ts';
import { badRequest, notFound } from '../errors.ts';
import type { AdminTokenVerifier } from '../governance/admin-tokens.ts';
import type { ClientSecrets } from '../clients/secrets.ts';
import type { ScimTokens } from '../scim/tokens.ts';
import type { Clock } from '../clock.ts';
import { registerAuditRoutes } from '../governance/audit-routes.ts';
import type { AdminGuard } from '../governance/guard.ts';
import { withLifecycleStatus } from '../governance/lifecycle.ts';
import { loadChains, loadNamespace } from '../governance/organizations.ts';

/** Up to this many organizations of a namespace, their lifecycle is read chain by chain rather than from the whole namespace. */
const CHAIN_READS = 16;
import { effectiveDocument, loadDeclarations } from '../governance/effective.ts';
import { visibleOrganizations, type Permission } from '../governance/policy.ts';
import { registerGovernanceRoutes } from '../governance/routes.ts';
import { registerAccessRequestRoutes } from '../governance/access-request-routes.ts';
import { organizationOf } from '../objects/scope.ts';
import type { AnyObject, KindName } from '../../api/index.ts';
import type { RiskEngine } from '../risk/engine.ts';
import { presentSuspension, registerRiskRoutes } from '../risk/routes.ts';

const KNOWN = KINDS.map((k) => k.plural).join(', ');

/** At most this many objects per bulk apply: one transaction holds the namespace's lock while it runs. */
export const BULK_LIMIT = 1000;

const BulkApply = z.object({
  items: z
    .array(
      z.object({
        object: z.looseObject({ kind: z.string(), metadata: z.looseObject({ name: z.string() }) }),
        provenance: Provenance.optional(),
      }),
    )
    .min(1)
    .max(BULK_LIMIT),
});

const BulkStatus = z.object({
  items: z
    .array(z.object({ kind: z.string(), name: z.string(), status: z.unknown() }))
    .min(1)
    .max(BULK_LIMIT),
});

function bulkBodyProblem(error: z.ZodError, expected: string) {
  const issue = error.issues[0]!;
  const path = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  return badRequest(`${path || 'body'}: ${issue.message} (expected ${expected}, at most ${BULK_LIMIT} items)`, [{ path: path || 'items', message: issue.message }]);
}

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

/** `?dryRun=All`, as kubectl's server-side dry run spells it: admission runs, nothing is written or audited. */
function dryRunOf(ctx: Context): boolean {
  const value = ctx.query.dryRun;
  if (value === undefined) return false;
  if (value === 'All') return true;
  throw badRequest(`dryRun must be "All" (run the admission, write nothing), got ${JSON.stringify(value)}`, [{ path: 'dryRun', message: 'must be "All"' }]);
}

const readPermission = (kind: KindName): Permission => (kind === 'User' ? 'users.read' : 'objects.read');

export interface AdminRoutesOptions {
  store: Store;
  objects: ObjectService;
  clientSecrets: ClientSecrets;
  /** SCIM bearer tokens of IdPConnections (POST/DELETE …/idpconnections/{name}/scim-token). */
  scimTokens: ScimTokens;
  passwordLink(namespace: string, user: string, context: ChangeContext): Promise<{ url: string; expiresAt: string }>;
  rotateKeys(namespace: string, publishAheadSeconds: number): Promise<{ kid: string; activatesAt: number }>;
  /** A signed checkpoint of the audit chain's head (GET /audit/checkpoint). */
  auditCheckpoint(namespace: string): Promise<string>;
  verifier: AdminTokenVerifier;
  /** Authentication and the policy table every route asks (server/governance/policy.ts). */
  guard: AdminGuard;
  clock: Clock;
  publicUrl: () => string;
  /** Adds the server's own conditions to an IdPConnection (`ConnectionReady`: can it sign anybody in now). */
  connectionStatus(object: AnyObject): Promise<AnyObject>;
  /** Client suspensions (shown in Client and Organization status) and the risk summary. */
  risk: RiskEngine;
  bodyLimit?: number;
}

/** `/admin/v1`: declarative PUT/GET/DELETE of every kind, status, and the audit log. */
export function adminRouter(options: AdminRoutesOptions): Router {
  const { objects, store } = options;
  const { guard } = options;
  const router = new Router({ prefix: '/admin/v1' });
  router.use(guard.authenticate());
  registerAuditRoutes(router, { store, guard, checkpoint: options.auditCheckpoint });
  registerGovernanceRoutes(router, {
    store,
    clock: options.clock,
    guard,
    objects,
    publicUrl: options.publicUrl,
    passwordLink: options.passwordLink,
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
  });
  registerAccessRequestRoutes(router, { store, clock: options.clock, guard, ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}) });
  registerRiskRoutes(router, { store, guard, clock: options.clock, risk: options.risk });
  registerNotificationRoutes(router, { store, guard });

  /** What the caller may see of a list, with the lifecycle conditions organizations carry. */
  const visible = async (ctx: Context, kind: KindName, items: AnyObject[], namespace?: string): Promise<AnyObject[]> => {
    const principal = principalOf(ctx);
    await guard.require(ctx, readPermission(kind), { namespace: namespace ?? (principal.kind === 'user' ? principal.namespace : undefined), organization: principal.kind === 'user' ? principal.organization : null });
    const orgs = visibleOrganizations(principal);
    const shown = orgs === 'all' ? items : items.filter((o) => o.metadata.namespace === (principal.kind === 'user' ? principal.namespace : o.metadata.namespace) && orgs.has(organizationOf(o) ?? ''));
    return withServerConditions(kind, shown);
  };
  /** Conditions the server computes on every read, so they are true when read. */
  const withServerConditions = async (kind: KindName, items: AnyObject[]): Promise<AnyObject[]> => {
    if (kind === 'Organization') return withSuspensions(kind, await withLifecycle(items));
    if (kind === 'Client') return withSuspensions(kind, items);
    if (kind === 'IdPConnection') return Promise.all(items.map((o) => options.connectionStatus(o)));
    return items;
  };
  /** A suspended client's `status.suspension`, an organization's `status.suspendedClients`: while the suspension stands. */
  const withSuspensions = async (kind: 'Organization' | 'Client', items: AnyObject[]): Promise<AnyObject[]> => {
    if (items.length === 0) return items;
    const now = options.clock.now();
    const standing = (await store.risk.suspensions()).filter((s) => s.until === null || s.until > now);
    const field = kind === 'Client' ? 'suspension' : 'suspendedClients';
    return items.map((o) => {
      const mine = standing.filter((s) => s.namespace === o.metadata.namespace && (kind === 'Client' ? s.client === o.metadata.name : s.organization === o.metadata.name));
      const stored = (o as { status?: Record<string, unknown> }).status;
      if (mine.length === 0 && stored?.[field] === undefined) return o;
      // Computed on every read: a value a status write carried back is never what is shown.
      const { [field]: _, ...status } = stored ?? {};
      if (mine.length > 0) status[field] = kind === 'Client' ? presentSuspension(mine[0]!) : mine.map((s) => s.client);
      return { ...o, status } as AnyObject;
    });
  };
  const withLifecycle = async (items: AnyObject[]): Promise<AnyObject[]> => {
    const views = new Map<string, Awaited<ReturnType<typeof loadNamespace>>>();
    const out: AnyObject[] = [];
    for (const o of items) {
      const ns = o.metadata.namespace!;
      // A few organizations (a GET of one) are judged from their own parent chains, read by name; a list from the namespace, read once.
      if (!views.has(ns)) {
        const names = items.filter((i) => i.metadata.namespace === ns).map((i) => i.metadata.name);
        views.set(ns, await (names.length <= CHAIN_READS ? loadChains(store, ns, names) : loadNamespace(store, ns)));
      }
      out.push(withLifecycleStatus(o, views.get(ns)!, options.clock.now()));
    }
    return out;
  };
  /** The organization a write touches: the one the object names, before and after the change. */
  const requireWrite = async (ctx: Context, kind: KindName, namespace: string, name: string, body?: unknown) => {
    const existing = await store.objects.get(kind, namespace, name);
    const before = kind === 'Organization' ? name : existing ? organizationOf(existing.object) : null;
    await guard.require(ctx, 'objects.write', { namespace, organization: before });
    const spec = body && typeof body === 'object' ? (body as { spec?: { organizationRef?: { name?: unknown } } }).spec : undefined;
    const after = kind === 'Organization' ? name : typeof spec?.organizationRef?.name === 'string' ? spec.organizationRef.name : null;
    if (after !== before) await guard.require(ctx, 'objects.write', { namespace, organization: after });
  };

  router.get('/:plural', async (ctx) => {
    const def = kindFrom(ctx);
    ctx.body = { apiVersion: 'gatehouse.dev/v1alpha1', kind: `${def.kind}List`, items: await visible(ctx, def.kind, await objects.list(def.kind)) };
  });

  router.get('/namespaces/:namespace/:plural', async (ctx) => {
    const def = kindFrom(ctx);
    const namespace = pathName(ctx, 'namespace');
    ctx.body = { apiVersion: 'gatehouse.dev/v1alpha1', kind: `${def.kind}List`, items: await visible(ctx, def.kind, await objects.list(def.kind, namespace), namespace) };
  });

  router.get('/namespaces/:namespace/:plural/:name', async (ctx) => {
    const def = kindFrom(ctx);
    const namespace = pathName(ctx, 'namespace');
    const name = pathName(ctx, 'name');
    // An organization is checked by name before it is looked up, so a refusal says nothing of whether it exists.
    if (def.kind === 'Organization') await guard.require(ctx, 'objects.read', { namespace, organization: name });
    const principal = principalOf(ctx);
    if (principal.kind === 'user' && principal.scope !== 'namespace') {
      // A partner administrator asks its own organization's permission first; then another
      // partner's object (or a workspace one) is "not found", exactly as a missing one.
      await guard.require(ctx, readPermission(def.kind), { namespace, organization: principal.organization });
      const stored = await store.objects.get(def.kind, namespace, name);
      const owner = stored ? organizationOf(stored.object) : null;
      if (!stored || owner === null || !principal.scope.has(owner)) await guard.conceal(ctx, `${def.kind} ${namespace}/${name} does not exist`, readPermission(def.kind));
    }
    const object = await objects.get(def.kind, namespace, name);
    await guard.require(ctx, readPermission(def.kind), { namespace, organization: organizationOf(object) });
    ctx.body = (await withServerConditions(def.kind, [object]))[0];
  });

  /** What an organization's settings come to after its template and parents, and where each came from (api/effective.ts). */
  router.get('/namespaces/:namespace/organizations/:name/effective', async (ctx) => {
    const namespace = pathName(ctx, 'namespace');
    const name = pathName(ctx, 'name');
    // Checked by name before it is looked up, as GET of the organization itself.
    await guard.require(ctx, 'objects.read', { namespace, organization: name });
    const document = effectiveDocument(await loadDeclarations(store, namespace), namespace, name);
    if (!document) throw notFound(`Organization ${namespace}/${name} does not exist`);
    ctx.body = document;
  });

  router.put('/namespaces/:namespace/:plural/:name', async (ctx) => {
    const def = kindFrom(ctx);
    const namespace = pathName(ctx, 'namespace');
    const name = pathName(ctx, 'name');
    const context = changeContext(ctx);
    const dryRun = dryRunOf(ctx);
    const body = await readBody(ctx, options.bodyLimit);
    // A dry run is authorised as the write itself: it answers what that caller's write would do.
    await requireWrite(ctx, def.kind, namespace, name, body);
    const result = await objects.apply(body, context, { namespace, kind: def.kind, name }, { dryRun });
    ctx.status = result.outcome === 'created' ? 201 : 200;
    ctx.set('Gatehouse-Outcome', result.outcome);
    if (dryRun) ctx.set('Gatehouse-Dry-Run', 'All');
    ctx.body = result.object;
  });

  /**
   * Bulk apply: several objects of one namespace in one transaction, in the order given, each
   * authorised and audited as its own PUT. All or nothing: a refused object rolls the batch back
   * and the problem names it (`item`, `object`, field paths). See docs/admin-api.md.
   */
  router.post('/namespaces/:namespace/apply', async (ctx) => {
    const namespace = pathName(ctx, 'namespace');
    const context = changeContext(ctx);
    const dryRun = dryRunOf(ctx);
    const parsed = BulkApply.safeParse(await readBody(ctx, options.bodyLimit));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const path = issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '');
      throw badRequest(`${path || 'body'}: ${issue.message} (expected {"items": [{"object": {...}, "provenance"?: {...}}], at most ${BULK_LIMIT} items)`, [{ path: path || 'items', message: issue.message }]);
    }
    const { items } = parsed.data;
    for (const [i, item] of items.entries()) {
      const { kind, metadata } = item.object;
      const def = kindByName(kind);
      if (!def) throw badRequest(`items[${i}].object.kind: unknown kind "${kind}"; known: ${KINDS.map((k) => k.kind).join(', ')}`, [{ path: `items[${i}].object.kind`, message: 'unknown kind' }]);
      const name = dnsLabel.safeParse(metadata.name);
      if (!name.success) throw badRequest(`items[${i}].object.metadata.name: ${name.error.issues[0]!.message}`, [{ path: `items[${i}].object.metadata.name`, message: name.error.issues[0]!.message }]);
      // Each object is authorised exactly as its own PUT would be (a partner administrator's guardrails included).
      await requireWrite(ctx, def.kind, namespace, name.data, item.object);
    }
    const results = await objects.applyMany(namespace, items, context, { dryRun });
    if (dryRun) ctx.set('Gatehouse-Dry-Run', 'All');
    ctx.body = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'ApplyResultList', items: results.map((r) => ({ outcome: r.outcome, object: r.object })) };
  });

  /** Bulk status: several objects' statuses in one transaction, each authorised as its own `PUT …/status`. All or nothing. */
  router.post('/namespaces/:namespace/status', async (ctx) => {
    const namespace = pathName(ctx, 'namespace');
    const context = changeContext(ctx);
    const parsed = BulkStatus.safeParse(await readBody(ctx, options.bodyLimit));
    if (!parsed.success) throw bulkBodyProblem(parsed.error, '{"items": [{"kind": "Client", "name": "…", "status": {...}}]}');
    const items = parsed.data.items.map((item, i) => {
      const def = kindByName(item.kind);
      if (!def) throw badRequest(`items[${i}].kind: unknown kind "${item.kind}"; known: ${KINDS.map((k) => k.kind).join(', ')}`, [{ path: `items[${i}].kind`, message: 'unknown kind' }]);
      const name = dnsLabel.safeParse(item.name);
      if (!name.success) throw badRequest(`items[${i}].name: ${name.error.issues[0]!.message}`, [{ path: `items[${i}].name`, message: name.error.issues[0]!.message }]);
      return { kind: def.kind, name: name.data, status: item.status };
    });
    for (const item of items) await requireWrite(ctx, item.kind, namespace, item.name);
    ctx.body = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'StatusResultList', items: await objects.setStatuses(namespace, items, context) };
  });

  router.put('/namespaces/:namespace/:plural/:name/status', async (ctx) => {
    const def = kindFrom(ctx);
    await requireWrite(ctx, def.kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'));
    const body = await readBody(ctx, options.bodyLimit);
    const status = body && typeof body === 'object' && 'status' in body ? (body as { status: unknown }).status : body;
    ctx.body = await objects.setStatus(def.kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'), status, changeContext(ctx));
  });

  router.post('/namespaces/:namespace/clients/:name/secret', async (ctx) => {
    await requireWrite(ctx, 'Client', pathName(ctx, 'namespace'), pathName(ctx, 'name'));
    const result = await options.clientSecrets.rotate(pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });

  router.post('/namespaces/:namespace/idpconnections/:name/scim-token', async (ctx) => {
    await requireWrite(ctx, 'IdPConnection', pathName(ctx, 'namespace'), pathName(ctx, 'name'));
    const result = await options.scimTokens.rotate(pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = result;
  });

  router.delete('/namespaces/:namespace/idpconnections/:name/scim-token', async (ctx) => {
    await requireWrite(ctx, 'IdPConnection', pathName(ctx, 'namespace'), pathName(ctx, 'name'));
    ctx.body = await options.scimTokens.revoke(pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx));
  });

  router.post('/namespaces/:namespace/users/:name/password-link', async (ctx) => {
    const user = await store.users.find(pathName(ctx, 'namespace'), pathName(ctx, 'name'));
    const principal = principalOf(ctx);
    if (principal.kind === 'user' && principal.scope !== 'namespace') {
      // Another partner's user answers as a missing one does: its organization is not named.
      await guard.require(ctx, 'users.write', { namespace: pathName(ctx, 'namespace'), organization: principal.organization });
      if (!user?.organization || !principal.scope.has(user.organization)) await guard.conceal(ctx, `user ${pathName(ctx, 'namespace')}/${pathName(ctx, 'name')} does not exist`, 'users.write');
    }
    await guard.require(ctx, 'users.write', { namespace: pathName(ctx, 'namespace'), organization: user ? user.organization || null : null });
    if (principal.kind === 'user' && principal.scope !== 'namespace') {
      // The organization user routes also check the target's roles against the caller's.
      await guard.refuse(ctx, 'partner administrators send password links through POST /admin/v1/namespaces/{namespace}/organizations/{organization}/users/{user}/password-link', 'users.write', { namespace: pathName(ctx, 'namespace'), organization: user?.organization || null });
    }
    const link = await options.passwordLink(pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 201;
    ctx.body = link;
  });

  router.post('/namespaces/:namespace/signing-keys/rotate', async (ctx) => {
    await guard.require(ctx, 'objects.write', { namespace: pathName(ctx, 'namespace'), organization: null });
    const ahead = typeof ctx.query.publishAhead === 'string' ? ctx.query.publishAhead : '1h';
    if (!duration.safeParse(ahead).success) throw badRequest('publishAhead must be a duration such as "10m" or "1h"', [{ path: 'publishAhead', message: 'expected a duration' }]);
    ctx.body = await options.rotateKeys(pathName(ctx, 'namespace'), durationSeconds(ahead));
  });

  router.delete('/namespaces/:namespace/:plural/:name', async (ctx) => {
    const def = kindFrom(ctx);
    await requireWrite(ctx, def.kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'));
    const cascade = ctx.query.cascade === 'true';
    ctx.body = await objects.delete(def.kind, pathName(ctx, 'namespace'), pathName(ctx, 'name'), changeContext(ctx), { cascade });
  });

  return router;
}
