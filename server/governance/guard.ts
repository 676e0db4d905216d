import type { Context, Next } from 'koa';
import { Problem } from '../admin/problem.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';
import { decide, type Permission, type Principal, type Target } from './policy.ts';
import type { PrincipalResolver } from './principals.ts';

interface GuardState {
  actor: string;
  principal: Principal;
}

export function principalOf(ctx: Context): Principal {
  const principal = (ctx.state as Partial<GuardState>).principal;
  if (!principal) throw new Problem(401, 'Unauthorized', 'send an admin token as "Authorization: Bearer <token>"');
  return principal;
}

/**
 * Authenticates admin API calls and enforces the policy table: every refusal is a 403
 * problem and an `admin.denied` audit record naming who tried what, where.
 */
export class AdminGuard {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly resolver: PrincipalResolver;

  constructor(options: { store: Store; clock: Clock; resolver: PrincipalResolver }) {
    this.store = options.store;
    this.clock = options.clock;
    this.resolver = options.resolver;
  }

  authenticate() {
    return async (ctx: Context, next: Next): Promise<void> => {
      const match = /^Bearer ([\x21-\x7E]+)$/i.exec(ctx.get('authorization'));
      if (!match) throw new Problem(401, 'Unauthorized', 'send an admin token (or a partner administrator\'s access token) as "Authorization: Bearer <token>"');
      const result = await this.resolver.resolve(match[1]!);
      if ('principal' in result) {
        const state = ctx.state as GuardState;
        state.principal = result.principal;
        state.actor = result.principal.actor;
        return next();
      }
      if (result.status === 401) throw new Problem(401, 'Unauthorized', result.detail);
      await this.audit(ctx, { actor: result.actor, namespace: result.namespace, organization: result.organization }, result.detail, 'authenticate');
      throw new Problem(403, 'Forbidden', result.detail);
    };
  }

  /** Throws 403 (audited) unless the caller may do `permission` on `target`. */
  async require(ctx: Context, permission: Permission, target: Target): Promise<void> {
    const principal = principalOf(ctx);
    const decision = decide(principal, permission, target);
    if (decision.allowed) return;
    await this.refuse(ctx, decision.reason, permission, target);
  }

  /** Refuses the request for a reason found outside the policy table (a managed user, an unassignable role). */
  async refuse(ctx: Context, reason: string, permission: Permission, target: Target): Promise<never> {
    const principal = principalOf(ctx);
    await this.audit(
      ctx,
      { actor: principal.actor, namespace: principal.kind === 'user' ? principal.namespace : (target.namespace ?? null), organization: principal.kind === 'user' ? principal.organization : null },
      reason,
      permission,
      target,
    );
    throw new Problem(403, 'Forbidden', reason, { extra: { permission } });
  }

  private async audit(ctx: Context, who: { actor: string; namespace: string | null; organization: string | null }, reason: string, permission: string, target: Target = {}): Promise<void> {
    await this.store.transaction((repo) =>
      repo.appendAudit(
        {
          action: 'admin.denied',
          actor: who.actor,
          namespace: who.namespace,
          organization: who.organization,
          outcome: 'refused',
          data: { method: ctx.method, path: ctx.path, permission, reason, ...(target.namespace !== undefined ? { targetNamespace: target.namespace } : {}), ...(target.organization !== undefined ? { targetOrganization: target.organization } : {}) },
        },
        this.clock.now(),
      ),
    );
  }
}
