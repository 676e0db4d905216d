import type Router from '@koa/router';
import { z } from 'zod';
import { dnsLabel, MESSAGE_NAMES, type MessageName } from '../../api/index.ts';
import { badRequest } from '../errors.ts';
import type { NotificationRecord, Store } from '../store/index.ts';
import { renderMessage } from '../notifications/templates.ts';
import { principalOf, type AdminGuard } from './guard.ts';
import { loadNamespace } from './organizations.ts';
import { visibleOrganizations } from './policy.ts';
import { label } from './params.ts';

const Query = z.strictObject({
  organization: dnsLabel.optional(),
  state: z.enum(['pending', 'sent', 'held', 'failed', 'expired']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** A message as the admin API shows it: what was (or will be) sent, rendered with today's templates. */
export function presentNotification(n: NotificationRecord, rendered: { subject: string; text: string } | undefined) {
  return {
    id: n.id,
    namespace: n.namespace,
    organization: n.organization || null,
    message: n.message,
    to: n.recipient,
    state: n.state,
    attempts: n.attempts,
    channels: n.channel,
    lastError: n.lastError,
    createdAt: iso(n.createdAt),
    sentAt: iso(n.sentAt),
    nextAttemptAt: n.state === 'pending' ? iso(n.nextAttemptAt) : null,
    ...(n.variables.link ? { link: n.variables.link } : {}),
    ...(rendered ? { subject: rendered.subject, text: rendered.text } : {}),
  };
}

/**
 * `GET /admin/v1/namespaces/{namespace}/notifications[?organization=&state=&limit=]`: the outbox.
 * Without a mail server it is how a message (an invitation's link, say) reaches a person. Links
 * are credentials until used: reading needs `users.write` (who may make such links anyway), and a
 * partner administrator sees only its organizations' messages.
 */
export function registerNotificationRoutes(router: Router, options: { store: Store; guard: AdminGuard }): void {
  const { store, guard } = options;
  router.get('/namespaces/:namespace/notifications', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const parsed = Query.safeParse(ctx.query);
    if (!parsed.success) {
      const errors = parsed.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((key) => ({ path: key, message: 'unknown query parameter' })) : [{ path: i.path.join('.') || 'query', message: i.message }]));
      throw badRequest(`bad notifications query: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
    }
    const q = parsed.data;
    const principal = principalOf(ctx);
    const visible = visibleOrganizations(principal);
    let organizations: string[] | undefined;
    if (q.organization) {
      await guard.require(ctx, 'users.write', { namespace, organization: q.organization });
      organizations = [q.organization];
    } else if (visible === 'all') {
      await guard.require(ctx, 'users.write', { namespace, organization: null });
    } else {
      const own = principal.kind === 'user' ? principal.organization : null;
      await guard.require(ctx, 'users.write', { namespace, organization: own });
      organizations = [...visible];
    }
    const rows = await store.notifications.list(namespace, { ...(organizations ? { organizations } : {}), ...(q.state ? { state: q.state } : {}), ...(q.limit ? { limit: q.limit } : {}) });
    const view = await loadNamespace(store, namespace);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { items: rows.map((n) => presentNotification(n, (MESSAGE_NAMES as string[]).includes(n.message) ? renderMessage(view, n.organization, n.message as MessageName, n.variables) : undefined)) };
  });
}
