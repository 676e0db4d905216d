import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { dnsLabel, issuerPath, withDescendants } from '../../api/index.ts';
import type { ChangeContext } from '../changes.ts';
import { notFound } from '../errors.ts';
import { readBody } from '../http/body.ts';
import { enqueue, iso, organizationAdmins } from '../notifications/outbox.ts';
import { principalOf } from './guard.ts';
import { loadNamespace } from './organizations.ts';
import { label, parseBody } from './params.ts';
import { governanceService, type GovernanceRoutesOptions } from './service.ts';
import { issuedBeforeNow } from './token-ends.ts';

const Deprovision = z.strictObject({ organization: dnsLabel.optional(), user: z.string().min(1).max(128).optional(), reason: z.string().max(1024).optional() }).refine((b) => (b.organization === undefined) !== (b.user === undefined), { error: 'name exactly one of "organization" or "user"' });

/**
 * Runtime administration of an organization's users (delegated to partner admins within
 * the policy), the deprovisioning hook for partner-management systems, and certification.
 */
export function registerGovernanceRoutes(router: Router, options: GovernanceRoutesOptions): void {
  const { store, clock, guard } = options;
  const service = governanceService(options);
  const context = (ctx: Context, extra: Record<string, string> = {}): ChangeContext => ({ actor: principalOf(ctx).actor, provenance: { source: 'admin-api', ...extra } });

  router.get('/namespaces/:namespace/organizations/:organization/users', async (ctx) => {
    ctx.body = { items: await service.listUsers(ctx, label(ctx, 'namespace'), label(ctx, 'organization')) };
  });

  router.post('/namespaces/:namespace/organizations/:organization/users', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    await guard.require(ctx, 'users.write', { namespace, organization });
    const invited = await service.invite(ctx, namespace, organization, await readBody(ctx, options.bodyLimit));
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = invited;
  });

  router.put('/namespaces/:namespace/organizations/:organization/users/:user/roles', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    await guard.require(ctx, 'users.write', { namespace, organization });
    ctx.body = { user: await service.setRoles(ctx, namespace, organization, String(ctx.params.user), await readBody(ctx, options.bodyLimit)) };
  });

  router.post('/namespaces/:namespace/organizations/:organization/users/:user/:operation', async (ctx) => {
    const done = await service.operate(ctx, label(ctx, 'namespace'), label(ctx, 'organization'), String(ctx.params.user), String(ctx.params.operation));
    if ('link' in done) {
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = done.link;
      return;
    }
    ctx.body = done.result;
  });

  router.get('/namespaces/:namespace/organizations/:organization/mfa', async (ctx) => {
    ctx.body = await service.mfaTightening(ctx, label(ctx, 'namespace'), label(ctx, 'organization'));
  });

  router.put('/namespaces/:namespace/organizations/:organization/mfa', async (ctx) => {
    ctx.body = await service.setMfaTightening(ctx, label(ctx, 'namespace'), label(ctx, 'organization'), await readBody(ctx, options.bodyLimit));
  });

  router.get('/namespaces/:namespace/organizations/:organization/users/:user/passkeys', async (ctx) => {
    ctx.body = { items: await service.listPasskeys(ctx, label(ctx, 'namespace'), label(ctx, 'organization'), String(ctx.params.user)) };
  });

  router.delete('/namespaces/:namespace/organizations/:organization/users/:user/passkeys/:credential', async (ctx) => {
    ctx.body = await service.revokePasskey(ctx, label(ctx, 'namespace'), label(ctx, 'organization'), String(ctx.params.user), String(ctx.params.credential));
  });

  /**
   * Removes a runtime user and erases its personal data (users/erasure.ts): for leavers and
   * erasure requests. A declared user is removed by deleting its User declaration instead.
   */
  router.delete('/namespaces/:namespace/organizations/:organization/users/:user', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    ctx.body = await service.erase(ctx, namespace, organization, String(ctx.params.user));
  });

  router.post('/namespaces/:namespace/deprovision', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const body = parseBody(Deprovision, await readBody(ctx, options.bodyLimit), 'deprovisioning request');
    const now = clock.now();
    const change = context(ctx, { action: 'deprovision' });
    if (body.user) {
      const user = await store.users.find(namespace, body.user);
      await guard.require(ctx, 'lifecycle.write', { namespace, organization: user?.organization || null });
      if (!user) throw notFound(`user ${namespace}/${body.user} does not exist`);
      ctx.body = await store.transaction(async (repo) => {
        const { deactivated, revoked } = await service.deactivate(repo, namespace, [user], now);
        await repo.audit.append({ action: 'user.deactivated', actor: change.actor, namespace, organization: user.organization || null, kind: 'User', name: user.id, subject: user.id, data: { via: 'deprovision', changed: deactivated.length > 0, revoked, ...(body.reason ? { reason: body.reason } : {}) } }, now);
        // The organization's administrators hear who lost access (the user itself is gone from every session).
        if (deactivated.length > 0 && user.organization) {
          for (const admin of await organizationAdmins(repo, namespace, user.organization)) {
            if (admin.id === user.id) continue;
            await enqueue(repo, { namespace, organization: user.organization, message: 'user-deprovisioned', to: admin.email, recipientName: admin.profile.name ?? admin.email, variables: { userEmail: user.email, reason: body.reason ?? 'not given', deprovisionedAt: iso(now) } }, now);
          }
        }
        return { user: user.id, deactivated, revoked };
      });
      return;
    }
    const organization = body.organization!;
    await guard.require(ctx, 'lifecycle.write', { namespace, organization });
    ctx.body = await store.transaction(async (repo) => {
      const view = await loadNamespace(repo, namespace);
      if (!view.organizations.has(organization)) throw notFound(`Organization ${namespace}/${organization} does not exist`);
      const organizations = withDescendants(view.organizations, organization);
      const users = await repo.users.list(namespace, organizations);
      const { deactivated, revoked: userRevoked } = await service.deactivate(repo, namespace, users, now);
      const revoked =
        userRevoked +
        (await repo.oidc.revokeIssuers(
          organizations.map((o) => issuerPath(namespace, o)),
          issuedBeforeNow(),
        ));
      await repo.audit.append({ action: 'organization.deprovisioned', actor: change.actor, namespace, organization, kind: 'Organization', name: organization, data: { organizations, deactivated, revoked, ...(body.reason ? { reason: body.reason } : {}) } }, now);
      return { organization, organizations, deactivated, revoked };
    });
  });

  router.post('/namespaces/:namespace/organizations/:organization/certify', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    await guard.require(ctx, 'lifecycle.write', { namespace, organization });
    const raw = ctx.request.length ? await readBody(ctx, options.bodyLimit) : undefined;
    ctx.body = await service.certify(ctx, namespace, organization, raw);
  });
}
