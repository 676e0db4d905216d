import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { dnsLabel } from '../../api/index.ts';
import { readBody } from '../http/body.ts';
import { badRequest } from '../errors.ts';
import { principalOf, type AdminGuard } from '../governance/guard.ts';
import type { Permission } from '../governance/policy.ts';
import { InspectRequest } from './inspect.ts';
import { PORTAL_SOURCE, type FederationSetup } from './setup.ts';

function label(ctx: Context, param: string): string {
  const value = String(ctx.params[param]);
  const result = dnsLabel.safeParse(value);
  if (!result.success) throw badRequest(`${param} "${value}" in the URL: ${result.error.issues[0]!.message}`, [{ path: param === 'name' ? 'metadata.name' : param, message: result.error.issues[0]!.message }]);
  return value;
}

/**
 * `/admin/v1/namespaces/{ns}/organizations/{org}/sso`: the portal's guided IdP setup as an
 * API, so every step can be scripted too. Each route asks the policy for the organization in
 * the path (a partner administrator's own, `sso.write`), before anything is read.
 */
export function federationSetupRoutes(setup: FederationSetup, guard: AdminGuard, bodyLimit?: number): Router {
  const router = new Router({ prefix: '/admin/v1/namespaces/:namespace/organizations/:organization/sso' });
  router.use(guard.authenticate() as Middleware);
  const at = async (ctx: Context, permission: Permission) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    await guard.require(ctx, permission, { namespace, organization });
    ctx.set('Cache-Control', 'no-store');
    return { namespace, organization, context: { actor: principalOf(ctx).actor, provenance: { source: PORTAL_SOURCE } } };
  };

  router.get('/', async (ctx) => {
    const { namespace, organization } = await at(ctx, 'objects.read');
    ctx.body = await setup.overview(namespace, organization);
  });
  router.post('/inspect', async (ctx) => {
    const { namespace, organization, context } = await at(ctx, 'sso.write');
    const parsed = InspectRequest.safeParse(await readBody(ctx, bodyLimit));
    if (!parsed.success)
      throw badRequest(
        'inspect: give {"type":"oidc","issuer":…}, {"type":"saml","metadataUrl":…} or {"type":"saml","metadataXml":…}',
        parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    const { metadataXml: _xml, ...shown } = await setup.inspect(namespace, organization, parsed.data, context.actor);
    ctx.body = shown;
  });
  router.get('/drafts/:name', async (ctx) => {
    const { namespace, organization } = await at(ctx, 'objects.read');
    ctx.body = await setup.draft(namespace, organization, label(ctx, 'name'));
  });
  router.put('/drafts/:name', async (ctx) => {
    const { namespace, organization, context } = await at(ctx, 'sso.write');
    ctx.body = await setup.saveDraft(namespace, organization, label(ctx, 'name'), await readBody(ctx, bodyLimit), context);
  });
  router.delete('/drafts/:name', async (ctx) => {
    const { namespace, organization, context } = await at(ctx, 'sso.write');
    await setup.deleteDraft(namespace, organization, label(ctx, 'name'), context);
    ctx.status = 204;
  });
  router.post('/drafts/:name/test', async (ctx) => {
    const { namespace, organization, context } = await at(ctx, 'sso.write');
    const hint = typeof ctx.query.login_hint === 'string' ? ctx.query.login_hint.slice(0, 320) : '';
    ctx.status = 201;
    ctx.body = await setup.startTest(namespace, organization, label(ctx, 'name'), context, hint);
  });
  router.post('/drafts/:name/enable', async (ctx) => {
    const { namespace, organization, context } = await at(ctx, 'sso.write');
    ctx.body = await setup.enable(namespace, organization, label(ctx, 'name'), context);
  });
  router.delete('/connections/:name', async (ctx) => {
    const { namespace, organization, context } = await at(ctx, 'sso.write');
    await setup.disable(namespace, organization, label(ctx, 'name'), context);
    ctx.status = 204;
  });
  return router;
}
