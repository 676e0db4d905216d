import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { withDescendants, dnsLabel, type OrganizationObject } from '../../api/index.ts';
import { badRequest } from '../errors.ts';
import type { ChainRecord } from '../audit/chain.ts';
import { toOcsf } from '../audit/ocsf.ts';
import type { AuditQuery, Store } from '../store/index.ts';
import { principalOf, type AdminGuard } from './guard.ts';
import { visibleOrganizations } from './policy.ts';

const instant = z.union([
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
  z.iso.datetime({ offset: true, error: 'expected an RFC 3339 date-time or epoch milliseconds' }).transform((s) => Date.parse(s)),
]);

export const AuditFilters = z.strictObject({
  namespace: dnsLabel.optional(),
  organization: dnsLabel.optional(),
  /** With `organization`: also its sub-organizations (the default). */
  subOrganizations: z.enum(['true', 'false']).default('true'),
  actor: z.string().max(256).optional(),
  client: z.string().max(256).optional(),
  subject: z.string().max(256).optional(),
  /** An action (`login.failed`), or a prefix ending in `*` (`token.*`). */
  action: z.string().max(128).optional(),
  since: instant.optional(),
  until: instant.optional(),
  before: z.coerce.number().int().min(1).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  format: z.enum(['ndjson', 'ocsf']).optional(),
  follow: z.enum(['true', 'false']).optional(),
});
export type AuditFilters = z.infer<typeof AuditFilters>;
type Filters = AuditFilters;

function parse(ctx: Context): Filters {
  return parseAuditFilters(ctx.query);
}

/** The audit filters of a query string; a 400 problem naming each bad (or unknown) parameter. */
export function parseAuditFilters(input: unknown): AuditFilters {
  const parsed = AuditFilters.safeParse(input);
  if (!parsed.success) {
    // Each error names its query parameter; an unknown parameter is named too (zod reports it at the root).
    const errors = parsed.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((key) => ({ path: key, message: 'unknown query parameter' })) : [{ path: i.path.join('.') || 'query', message: i.message }]));
    throw badRequest(`bad audit query: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  }
  return parsed.data;
}

/** The store query a caller may make: its filters, narrowed to what it may see (the admin API's and the portal's). */
export async function scopedAuditQuery(ctx: Context, f: AuditFilters, { store, guard }: { store: Store; guard: AdminGuard }): Promise<AuditQuery> {
  const principal = principalOf(ctx);
  const visible = visibleOrganizations(principal);
  const namespace = f.namespace ?? (principal.kind === 'user' ? principal.namespace : undefined);
  await guard.require(ctx, 'audit.read', { namespace, organization: f.organization ?? (visible === 'all' ? null : principal.kind === 'user' ? principal.organization : null) });
  const query: AuditQuery = {
    ...(namespace ? { namespace } : {}),
    ...(f.actor ? { actor: f.actor } : {}),
    ...(f.client ? { client: f.client } : {}),
    ...(f.subject ? { subject: f.subject } : {}),
    ...(f.since !== undefined ? { since: f.since } : {}),
    ...(f.until !== undefined ? { until: f.until } : {}),
    ...(f.before !== undefined ? { before: f.before } : {}),
  };
  if (f.action?.endsWith('*')) query.actionPrefix = f.action.slice(0, -1);
  else if (f.action) query.action = f.action;
  if (f.organization) {
    if (f.subOrganizations === 'false') query.organizations = [f.organization];
    else {
      const orgs = await store.objects.list({ kind: 'Organization', ...(namespace ? { namespace } : {}) });
      const byName = new Map<string, OrganizationObject>();
      for (const o of orgs) byName.set(o.object.metadata.name, o.object as OrganizationObject);
      query.organizations = withDescendants(byName, f.organization);
    }
  }
  if (visible !== 'all') query.organizations = (query.organizations ?? [...visible]).filter((o) => visible.has(o));
  return query;
}

export interface AuditRoutesOptions {
  store: Store;
  guard: AdminGuard;
  /** How often a followed export looks for new records (ms). */
  followPollMs?: number;
  /** A compact JWS over the chain's head, signed with `namespace`'s signing key (server/audit/checkpoint.ts). */
  checkpoint(namespace: string): Promise<string>;
}

const CheckpointQuery = z.strictObject({ namespace: dnsLabel });

/**
 * `GET /audit` (newest first, cursor `before`), `GET /audit/export` (oldest first, cursor
 * `after`, NDJSON or OCSF, `follow=true` keeps streaming new records for a log shipper),
 * `GET /audit/verify`, `GET /audit/checkpoint?namespace=` (a signed head to keep elsewhere).
 * Partner administrators see only their organizations' records.
 */
export function registerAuditRoutes(router: Router, options: AuditRoutesOptions): void {
  const { store, guard } = options;

  const scopedQuery = (ctx: Context, f: Filters) => scopedAuditQuery(ctx, f, { store, guard });

  router.get('/audit', async (ctx) => {
    const f = parse(ctx);
    const query = await scopedQuery(ctx, f);
    const limit = f.limit ?? 100;
    const items = await store.audit.query({ ...query, limit });
    ctx.body = { items, next: items.length === limit ? items[items.length - 1]!.seq : null };
  });

  router.get('/audit/export', async (ctx) => {
    const f = parse(ctx);
    const query = await scopedQuery(ctx, f);
    delete query.before;
    const format = f.format ?? 'ndjson';
    const follow = f.follow === 'true';
    const pollMs = options.followPollMs ?? 1000;
    let closed = false;
    // The response's close: the request's fires as soon as it has been read.
    ctx.res.on('close', () => (closed = true));
    const line = (r: ChainRecord): string | undefined => {
      if (format === 'ndjson') return `${JSON.stringify(r)}\n`;
      const event = toOcsf(r);
      return event ? `${JSON.stringify(event)}\n` : undefined;
    };
    async function* records(): AsyncGenerator<string> {
      let after = f.after ?? 0;
      for (;;) {
        const page = await store.audit.query({ ...query, after, ascending: true, limit: 500 });
        for (const r of page) {
          const out = line(r);
          if (out) yield out;
        }
        if (page.length > 0) after = page[page.length - 1]!.seq;
        if (page.length === 500) continue;
        if (!follow || closed) return;
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        if (closed) return;
      }
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = format === 'ocsf' ? 'application/x-ndjson; profile="https://schema.ocsf.io/1.1.0"' : 'application/x-ndjson';
    ctx.status = 200;
    // Streamed here rather than through koa: a shipper hanging up is how a followed export
    // ends, not an error to log; and the headers go out at once, before any record matches.
    ctx.respond = false;
    ctx.res.flushHeaders();
    pipeline(Readable.from(records()), ctx.res).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ERR_STREAM_PREMATURE_CLOSE') ctx.app.emit('error', error, ctx);
    });
  });

  router.get('/audit/verify', async (ctx) => {
    await guard.require(ctx, 'audit.verify', {});
    ctx.body = await store.verifyAudit();
  });

  // The head of the whole chain, so only those who may verify the whole chain may have it signed.
  router.get('/audit/checkpoint', async (ctx) => {
    const parsed = CheckpointQuery.safeParse(ctx.query);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.') || 'namespace', message: i.message }));
      throw badRequest(`bad checkpoint query: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')} (GET /admin/v1/audit/checkpoint?namespace=NAME)`, errors);
    }
    await guard.require(ctx, 'audit.verify', { namespace: parsed.data.namespace });
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/jose';
    ctx.body = await options.checkpoint(parsed.data.namespace);
  });
}
