import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import { Forbidden, Unauthorized, notFound } from '../errors.ts';
import { fingerprint, type RefusalAudit } from '../audit/refusals.ts';
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
  if (!principal) throw new Unauthorized('send an admin token as "Authorization: Bearer <token>"');
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
  private readonly refusals: RefusalAudit | undefined;
  private readonly addressOf: (req: IncomingMessage) => string;

  /** `refusals`: where refused tokens are audited (rate-limited per source address); `addressOf`: that address. */
  constructor(options: { store: Store; clock: Clock; resolver: PrincipalResolver; refusals?: RefusalAudit; addressOf?: (req: IncomingMessage) => string }) {
    this.store = options.store;
    this.clock = options.clock;
    this.resolver = options.resolver;
    this.refusals = options.refusals;
    this.addressOf = options.addressOf ?? ((req) => req.socket.remoteAddress ?? '');
  }

  authenticate() {
    return async (ctx: Context, next: Next): Promise<void> => {
      const header = ctx.get('authorization');
      const match = /^Bearer ([\x21-\x7E]+)$/i.exec(header);
      if (!match) {
        // No header at all is no attempt; a header that is not a bearer token is a malformed one.
        if (header) await this.refused(ctx, header, 'malformed');
        throw new Unauthorized('send an admin token (or a partner administrator\'s access token) as "Authorization: Bearer <token>"');
      }
      const result = await this.resolver.resolve(match[1]!);
      if ('principal' in result) {
        const state = ctx.state as GuardState;
        state.principal = result.principal;
        state.actor = result.principal.actor;
        return next();
      }
      if (result.status === 401) {
        await this.refused(ctx, match[1]!, result.reason);
        throw new Unauthorized(result.detail);
      }
      await this.audit(ctx, { actor: result.actor, namespace: result.namespace, organization: result.organization }, result.detail, 'authenticate');
      throw new Forbidden(result.detail);
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
    await this.audit(ctx, { actor: principal.actor, namespace: principal.kind === 'user' ? principal.namespace : (target.namespace ?? null), organization: principal.kind === 'user' ? principal.organization : null }, reason, permission, target);
    throw new Forbidden(reason, { extra: { permission } });
  }

  /** An `access.refused-token` record: where, why, and the token's fingerprint, never the token. */
  private async refused(ctx: Context, presented: string, reason: string): Promise<void> {
    await this.refusals?.record('token', this.addressOf(ctx.req), { actor: 'anonymous', data: { method: ctx.method, path: ctx.path, reason, fingerprint: fingerprint(presented) } });
  }

  /**
   * Answers a partner administrator asking for something outside its organizations (another
   * partner's, or nothing at all) with the same 404 either way, and records the attempt
   * without naming whose it was: the actor's own auditors read this record.
   */
  async conceal(ctx: Context, detail: string, permission: Permission): Promise<never> {
    const principal = principalOf(ctx);
    if (principal.kind === 'user' && principal.scope !== 'namespace') {
      await this.audit(ctx, { actor: principal.actor, namespace: principal.namespace, organization: principal.organization }, 'not found among your organizations', permission);
    }
    throw notFound(detail);
  }

  private async audit(ctx: Context, who: { actor: string; namespace: string | null; organization: string | null }, reason: string, permission: string, target: Target = {}): Promise<void> {
    await this.store.transaction((repo) =>
      repo.audit.append(
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
