import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { duration, durationSeconds, type AccessPolicyObject, type ClientObject, type OrganizationObject } from '../../api/index.ts';
import { readBody } from '../http/body.ts';
import { Problem, badRequest, notFound } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { approversOf, gatedScopes } from '../oidc/approval.ts';
import { contractsEnd } from '../oidc/lifetimes.ts';
import type { AccessRequestRecord, AccessRequestState, Store } from '../store/index.ts';
import { STATES, auditDecision as audit, isApprover, iso, notifyDecision, presentRequest } from './access-requests.ts';
import { principalOf, type AdminGuard } from './guard.ts';
import type { Principal } from './policy.ts';
import { chainFor, loadNamespace } from './organizations.ts';
import { label, parseBody } from './params.ts';

const note = z.string().max(1024).optional();
/** Longer than any contract anyone signs; past it a date is not even representable for long. */
const MAX_APPROVAL_DAYS = 3650;
const Approve = z.strictObject({ for: duration.refine((d) => !duration.safeParse(d).success || durationSeconds(d) <= MAX_APPROVAL_DAYS * 86400, { error: `at most ${MAX_APPROVAL_DAYS}d` }).optional(), note }).optional();
const Decide = z.strictObject({ note }).optional();

export type AccessDecision = 'approve' | 'deny' | 'revoke';

interface Declarations {
  policies: AccessPolicyObject[];
  organizations: ReadonlyMap<string, OrganizationObject>;
  clients: ReadonlyMap<string, ClientObject>;
}

const isRequester = (principal: Principal, r: AccessRequestRecord) => principal.kind === 'user' && principal.namespace === r.namespace && principal.userId === r.userId;

/** The scopes of `r` a policy still gates, each with the policies whose approvers decide it. */
function governedScopes(d: Declarations, r: AccessRequestRecord): [string, AccessPolicyObject[]][] {
  const gated = gatedScopes(d.organizations, d.policies, r.organization, d.clients.get(r.clientId));
  return r.scopes.filter((s) => gated.has(s)).map((s) => [s, gated.get(s)!]);
}

/** Why the principal is not an approver of every one of those scopes; undefined when it is. */
function notAnApprover(principal: Principal, governed: readonly [string, AccessPolicyObject[]][]): string | undefined {
  const [scope, from] = governed.find(([, policies]) => !isApprover(principal, approversOf(policies))) ?? [];
  return scope === undefined ? undefined : `you are not an approver of scope ${scope}: AccessPolicy ${from!.map((p) => p.metadata.name).join(', ')} declares spec.approvers`;
}

/** Whether the principal approves, denies or revokes `r` as a declared approver (a request no policy gates any more is nobody's to approve). */
function decidesIt(principal: Principal, r: AccessRequestRecord, d: Declarations): boolean {
  const governed = governedScopes(d, r);
  return !isRequester(principal, r) && governed.length > 0 && notAnApprover(principal, governed) === undefined;
}

/**
 * Listing and deciding access requests with the admin API's guardrails (only declared
 * approvers, never one's own request), for the admin API and the portal alike.
 */
export function accessRequestService(options: { store: Store; clock: Clock; guard: AdminGuard }) {
  const { store, clock, guard } = options;

  /** The request with that id; another organization's is as absent as a missing one. */
  const requestAt = async (ctx: Context, namespace: string, organization: string, id: string, permission: 'accessrequests.read' | 'accessrequests.decide'): Promise<AccessRequestRecord> => {
    const found = /^ar-[0-9a-f]{18}$/.test(id) ? await store.accessRequests.find(namespace, id) : undefined;
    if (!found || found.organization !== organization) return guard.conceal(ctx, `access request ${id} does not exist in organization ${namespace}/${organization}`, permission);
    return found;
  };

  /** What a decision reads of the namespace's declarations: its AccessPolicies, Organizations and Clients (by client id). */
  const declarationsOf = async (namespace: string): Promise<Declarations> => {
    const objects = await store.objects.list({ namespace });
    const of = <T>(kind: string) => objects.filter((o) => o.object.kind === kind).map((o) => o.object as T);
    return {
      policies: of<AccessPolicyObject>('AccessPolicy'),
      organizations: new Map(of<OrganizationObject>('Organization').map((o) => [o.metadata.name, o])),
      clients: new Map(of<ClientObject>('Client').map((c) => [`${c.metadata.name}.${namespace}`, c])),
    };
  };

  /**
   * Only a declared approver of every scope of the request decides it, and never the user who
   * asked. A scope no policy gates any more (the declaration changed) needs no approver; a
   * request none of whose scopes is gated any more is closed by a workspace administrator.
   */
  const mayDecide = async (ctx: Context, r: AccessRequestRecord, decision: AccessDecision): Promise<void> => {
    const principal = principalOf(ctx);
    const target = { namespace: r.namespace, organization: r.organization };
    if (isRequester(principal, r)) {
      await guard.refuse(ctx, `access request ${r.id} is your own: another approver must ${decision} it`, 'accessrequests.decide', target);
    }
    const governed = governedScopes(await declarationsOf(r.namespace), r);
    if (governed.length === 0) {
      if (decision === 'approve') throw new Problem(409, 'Conflict', `no AccessPolicy of organization ${r.organization} asks for approval of ${r.scopes.join(', ')} for client ${r.clientId} any more; nothing to approve`);
      await guard.require(ctx, 'lifecycle.write', target);
      return;
    }
    const refusal = notAnApprover(principal, governed);
    if (refusal) await guard.refuse(ctx, refusal, 'accessrequests.decide', target);
  };

  const list = async (ctx: Context, namespace: string, organization: string, state: unknown) => {
    await guard.require(ctx, 'accessrequests.read', { namespace, organization });
    if (state !== undefined && !STATES.includes(state as AccessRequestState)) throw badRequest(`state "${String(state)}" in the query: expected one of ${STATES.join(', ')}`);
    const now = clock.now();
    // An approval past its end is `expired` whether or not the monitor has marked it yet.
    const stored = state === 'expired' || state === 'approved' ? 'approved' : (state as AccessRequestState | undefined);
    const items = (await store.accessRequests.list(namespace, { organizations: [organization], ...(stored ? { state: stored } : {}) })).map((r) => presentRequest(r, now));
    if (state === 'expired') items.push(...(await store.accessRequests.list(namespace, { organizations: [organization], state: 'expired' })).map((r) => presentRequest(r, now)));
    return state ? items.filter((i) => i.state === state) : items;
  };

  const find = async (ctx: Context, namespace: string, organization: string, id: string) => {
    await guard.require(ctx, 'accessrequests.read', { namespace, organization });
    return presentRequest(await requestAt(ctx, namespace, organization, id, 'accessrequests.read'), clock.now());
  };

  /** Approves (`raw` may say `for` and `note`), denies or revokes (`note`); `raw` is checked here, named as the admin API names it. */
  const decide = async (ctx: Context, namespace: string, organization: string, id: string, decision: AccessDecision, raw: unknown) => {
    await guard.require(ctx, 'accessrequests.decide', { namespace, organization });
    const r = await requestAt(ctx, namespace, organization, id, 'accessrequests.decide');
    const body: { for?: string | undefined; note?: string | undefined } | undefined = decision === 'approve' ? parseBody(Approve, raw, 'approval') : parseBody(Decide, raw, decision === 'deny' ? 'denial' : 'revocation');
    await mayDecide(ctx, r, decision);
    const actor = principalOf(ctx).actor;
    const now = clock.now();
    const wanted = decision === 'revoke' ? 'approved' : 'pending';
    const shown = presentRequest(r, now).state;
    if (shown !== wanted) throw new Problem(409, 'Conflict', `access request ${r.id} is ${shown}; only a ${wanted} request can be ${decision === 'approve' ? 'approved' : decision === 'deny' ? 'denied' : 'revoked'}`);
    const extra = body?.note ? { note: body.note } : {};

    if (decision === 'approve') {
      const asked = body?.for ? now + durationSeconds(body.for) * 1000 : undefined;
      // An approval never outlives the partner's contract (nor its parents'): past it, no token is served anyway.
      const contractEnd = contractsEnd(chainFor(await loadNamespace(store, namespace), organization));
      const expiresAt = asked === undefined ? (contractEnd ?? null) : contractEnd !== undefined ? Math.min(asked, contractEnd) : asked;
      const capped = asked !== undefined && contractEnd !== undefined && asked > contractEnd ? { requested: iso(asked), to: iso(contractEnd), reason: `organization ${organization}'s contract ends at ${iso(contractEnd)}` } : undefined;
      await store.transaction(async (repo) => {
        if (!(await repo.accessRequests.decide(namespace, r.id, { state: 'approved', at: now, by: actor, expiresAt }))) throw new Problem(409, 'Conflict', `access request ${r.id} was decided meanwhile`);
        await audit(repo, 'accessrequest.approved', actor, r, now, { expiresAt: iso(expiresAt), ...(body?.for ? { for: body.for } : {}), ...(capped ? { capped } : {}), justification: r.justification, ...extra });
        await notifyDecision(repo, r, 'approved', actor, now);
      });
      return { ...presentRequest((await store.accessRequests.find(namespace, r.id))!, now), ...(capped ? { capped } : {}) };
    }
    await store.transaction(async (repo) => {
      const changed = decision === 'deny' ? await repo.accessRequests.decide(namespace, r.id, { state: 'denied', at: now, by: actor, expiresAt: null }) : await repo.accessRequests.end(namespace, r.id, { state: 'revoked', at: now, by: actor });
      if (!changed) throw new Problem(409, 'Conflict', `access request ${r.id} was decided meanwhile`);
      await audit(repo, decision === 'deny' ? 'accessrequest.denied' : 'accessrequest.revoked', actor, r, now, decision === 'revoke' ? { approvedBy: r.decidedBy, ...extra } : extra);
      await notifyDecision(repo, r, decision === 'deny' ? 'denied' : 'revoked', actor, now);
    });
    return presentRequest((await store.accessRequests.find(namespace, r.id))!, now);
  };

  /**
   * The requests of any organization of the namespace that the principal decides (a declared
   * approver of every scope a policy still gates, not the requester): what a workspace user
   * named in `approvers.users` sees in the workspace portal. Nothing else is listed.
   */
  const decidable = async (ctx: Context, namespace: string) => {
    await guard.require(ctx, 'accessrequests.decide', { namespace, organization: null });
    const principal = principalOf(ctx);
    const declarations = await declarationsOf(namespace);
    const now = clock.now();
    return (await store.accessRequests.list(namespace)).filter((r) => decidesIt(principal, r, declarations)).map((r) => presentRequest(r, now));
  };

  /** One request the principal decides; any other is refused (audited), a missing one is a 404. */
  const findDecidable = async (ctx: Context, namespace: string, id: string) => {
    await guard.require(ctx, 'accessrequests.decide', { namespace, organization: null });
    const found = /^ar-[0-9a-f]{18}$/.test(id) ? await store.accessRequests.find(namespace, id) : undefined;
    if (!found) throw notFound(`access request ${id} does not exist in namespace ${namespace}`);
    const principal = principalOf(ctx);
    const declarations = await declarationsOf(namespace);
    if (!decidesIt(principal, found, declarations)) {
      const why = isRequester(principal, found) ? 'it is your own' : (notAnApprover(principal, governedScopes(declarations, found)) ?? 'no AccessPolicy asks for approval of its scopes any more');
      await guard.refuse(ctx, `access request ${id} of organization ${found.organization} is not one you decide: ${why}`, 'accessrequests.read', { namespace, organization: found.organization });
    }
    return presentRequest(found, clock.now());
  };

  return { list, find, decide, decidable, findDecidable };
}

export type AccessRequestService = ReturnType<typeof accessRequestService>;

/** `…/organizations/{org}/accessrequests`: list, read, and approve, deny or revoke (see access-requests.ts). */
export function registerAccessRequestRoutes(router: Router, options: { store: Store; clock: Clock; guard: AdminGuard; bodyLimit?: number }): void {
  const service = accessRequestService(options);
  const base = '/namespaces/:namespace/organizations/:organization/accessrequests';

  router.get(base, async (ctx) => {
    const items = await service.list(ctx, label(ctx, 'namespace'), label(ctx, 'organization'), ctx.query.state);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { items };
  });

  router.get(`${base}/:id`, async (ctx) => {
    const shown = await service.find(ctx, label(ctx, 'namespace'), label(ctx, 'organization'), String(ctx.params.id));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = shown;
  });

  router.post(`${base}/:id/:decision`, async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    const decision = String(ctx.params.decision);
    if (decision !== 'approve' && decision !== 'deny' && decision !== 'revoke') throw new Problem(404, 'Not Found', `no operation "${decision}"; use approve, deny or revoke`);
    const raw = ctx.request.length ? await readBody(ctx, options.bodyLimit) : undefined;
    ctx.body = await service.decide(ctx, namespace, organization, String(ctx.params.id), decision, raw);
  });
}
