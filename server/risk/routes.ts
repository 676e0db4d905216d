import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { RISK_RULES, dnsLabel, type RiskRuleName } from '../../api/index.ts';
import type { ChainRecord } from '../audit/chain.ts';
import type { Clock } from '../clock.ts';
import { badRequest, notFound } from '../errors.ts';
import { principalOf, type AdminGuard } from '../governance/guard.ts';
import type { ClientSuspension, Store } from '../store/index.ts';
import type { RiskAction, RiskEngine } from './engine.ts';

export interface RiskRoutesOptions {
  store: Store;
  guard: AdminGuard;
  clock: Clock;
  risk: RiskEngine;
}

const DAY = 86_400_000;
const Query = z.strictObject({
  /** Epoch ms or an RFC 3339 date-time; default: the last 7 days. */
  since: z
    .union([
      z
        .string()
        .regex(/^\d{1,15}$/)
        .transform(Number),
      z.iso.datetime({ offset: true, error: 'expected an RFC 3339 date-time or epoch milliseconds' }).transform((s) => Date.parse(s)),
    ])
    .optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
});

function label(ctx: Context, param: string): string {
  const value = String(ctx.params[param]);
  const parsed = dnsLabel.safeParse(value);
  if (!parsed.success) throw badRequest(`${param} "${value}" in the URL: ${parsed.error.issues[0]!.message}`, [{ path: param, message: parsed.error.issues[0]!.message }]);
  return value;
}

export const presentSuspension = (s: ClientSuspension) => ({ client: s.client, organization: s.organization, score: s.score, rules: s.rules, suspendedAt: new Date(s.suspendedAt).toISOString(), until: s.until === null ? null : new Date(s.until).toISOString() });

/** One decision as the summary lists it: when, whose, the score, the rules that fired and why, the action. */
function presentDecision(r: ChainRecord) {
  const data = r.data as { stage?: string; score?: number; action?: RiskAction; rules?: { rule: string; weight: number; reason: string }[]; country?: string; signals?: { ip?: string; device?: string } };
  return { seq: r.seq, at: new Date(r.at).toISOString(), event: r.action, stage: data.stage ?? null, subject: r.subject, client: r.client, score: data.score ?? null, action: data.action ?? null, rules: data.rules ?? [], ip: data.signals?.ip ?? null, ...(data.country ? { country: data.country } : {}) };
}

export type RiskSummary = Awaited<ReturnType<typeof riskSummary>>;

/**
 * An organization's risk events since `since` (default: the last 7 days): decisions by action,
 * rules fired, its suspended clients, the latest `limit` (default 20) decisions with their
 * reasons. The caller has checked that its principal may read the organization's audit.
 */
export async function riskSummary(store: Store, clock: Clock, namespace: string, organization: string, since = clock.now() - 7 * DAY, limit = 20) {
  const where = { namespace, organizations: [organization], since };
  const decisions = await store.audit.query({ ...where, actionPrefix: 'risk.', limit: 1000 });
  const suspensions = await store.audit.query({ ...where, actionPrefix: 'client.', limit: 1000 });
  const byAction: Record<RiskAction, number> = { allow: 0, stepUp: 0, deny: 0, suspendClient: 0 };
  const byRule = Object.fromEntries(RISK_RULES.map((r) => [r, 0])) as Record<RiskRuleName, number>;
  for (const r of decisions) {
    const data = r.data as { action?: RiskAction; rules?: { rule?: string }[] };
    if (data.action && data.action in byAction) byAction[data.action]++;
    for (const f of data.rules ?? []) if (f.rule && f.rule in byRule) byRule[f.rule as RiskRuleName]++;
  }
  const suspended = (await store.risk.suspensions(namespace)).filter((s) => s.organization === organization && (s.until === null || s.until > clock.now()));
  return {
    namespace,
    organization,
    since: new Date(since).toISOString(),
    evaluated: decisions.length,
    truncated: decisions.length === 1000,
    decisions: byAction,
    rules: byRule,
    suspendedClients: suspended.map(presentSuspension),
    suspensionEvents: suspensions.length,
    recent: decisions.slice(0, limit).map(presentDecision),
  };
}

/**
 * `GET /admin/v1/namespaces/{ns}/organizations/{org}/risk`: the organization's risk events
 * since `since` (default 7 days) summarised — decisions by action, rules fired, suspended
 * clients, the latest decisions with their reasons. Read with `audit.read`: a partner
 * administrator sees only its own organization's. `DELETE …/clients/{name}/suspension` lifts
 * a suspension (workspace administrators: `lifecycle.write`).
 */
export function registerRiskRoutes(router: Router, options: RiskRoutesOptions): void {
  const { store, guard, clock, risk } = options;

  router.get('/namespaces/:namespace/organizations/:organization/risk', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const organization = label(ctx, 'organization');
    // Checked by name before it is looked up: a refusal says nothing of whether it exists.
    await guard.require(ctx, 'audit.read', { namespace, organization });
    if (!(await store.objects.get('Organization', namespace, organization))) throw notFound(`Organization ${namespace}/${organization} does not exist`);
    const parsed = Query.safeParse(ctx.query);
    if (!parsed.success)
      throw badRequest(
        `bad risk query: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}`,
        parsed.error.issues.map((i) => ({ path: i.path.join('.') || 'query', message: i.message })),
      );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await riskSummary(store, clock, namespace, organization, parsed.data.since, parsed.data.limit);
  });

  router.delete('/namespaces/:namespace/clients/:name/suspension', async (ctx) => {
    const namespace = label(ctx, 'namespace');
    const name = label(ctx, 'name');
    const stored = await store.objects.get('Client', namespace, name);
    const organization = (stored?.object.spec as { organizationRef?: { name: string } } | undefined)?.organizationRef?.name ?? null;
    await guard.require(ctx, 'lifecycle.write', { namespace, organization });
    const lifted = await risk.lift(namespace, name, principalOf(ctx).actor);
    if (!lifted) throw notFound(`Client ${namespace}/${name} is not suspended`);
    ctx.body = { lifted: presentSuspension(lifted) };
  });
}
