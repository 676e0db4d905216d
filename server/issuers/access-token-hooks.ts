import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { fingerprint, isUnsignedJwt, refusedReason, type RefusalAudit, type RefusedReason } from '../audit/refusals.ts';
import { clientAddress } from '../oidc/admission.ts';
import { mayIntrospect, mayRevoke, NOT_YOURS } from '../oidc/token-access.ts';
import { isJwt, verifyAccessJwt } from '../oidc/verify.ts';
import { signalsOf } from '../risk/signals.ts';
import type { Answered, GateOptions } from './gates.ts';
import type { Issuer } from './issuer.ts';

/**
 * The after-hooks that read JWT access tokens, which oidc-provider does not keep: it refuses
 * them at introspection and revocation (`unsupported_token_type`) once it has authenticated
 * the caller, and we answer instead (introspect-jwt, revoke-jwt); and the audit of a refused
 * bearer token (audit-refusal), which says why a JWT was refused.
 */
export class AccessTokenHooks {
  private readonly options: GateOptions;

  constructor(options: GateOptions) {
    this.options = options;
  }

  /** The introspect-jwt hook: a JWT answered for, and an inactive answer (ours or the provider's) audited. */
  async introspect(ctx: Context, issuer: Issuer, oidc: Answered): Promise<void> {
    await this.introspectJwt(ctx, issuer);
    if (ctx.status === 200 && (ctx.body as { active?: boolean } | undefined)?.active === false) {
      const { snapshot } = issuer;
      await this.options.audit.append({
        action: 'token.introspected-inactive',
        actor: oidc.client?.clientId ?? 'anonymous',
        namespace: snapshot.namespace,
        organization: snapshot.organization ?? null,
        client: oidc.client?.clientId ?? null,
        outcome: 'inactive',
        data: { signals: signalsOf(ctx.req, this.options.trustedProxies) },
      });
    }
  }

  /**
   * A bearer token userinfo refused, and an authorization request whose redirect_uri its client
   * never registered (the provider answers it with an error page: it must not redirect there).
   */
  async auditRefusal(ctx: Context, issuer: Issuer, oidc: Answered, refusals: RefusalAudit): Promise<void> {
    const { snapshot } = issuer;
    const where = { actor: 'anonymous', namespace: snapshot.namespace, organization: snapshot.organization ?? null };
    if (oidc.route === 'userinfo' && ctx.status === 401) {
      const bearer = /^Bearer ([\x21-\x7E]+)$/i.exec(ctx.get('authorization'))?.[1];
      if (!bearer) return;
      const reason = await this.userinfoReason(issuer, bearer);
      await refusals.record('token', clientAddress(ctx.req, this.options.trustedProxies), { ...where, data: { method: ctx.method, path: ctx.path, reason, fingerprint: fingerprint(bearer) } });
      return;
    }

    if (oidc.route === 'authorization' && ctx.status === 400) {
      const redirectUri = oidc.params?.redirect_uri;
      const client = oidc.client;
      if (typeof redirectUri !== 'string' || !client || client.redirectUriAllowed?.(redirectUri) !== false) return;
      await refusals.record('redirect-uri', clientAddress(ctx.req, this.options.trustedProxies), {
        ...where,
        client: client.clientId,
        // The URI is the attacker's own string, not a secret: kept, but bounded.
        data: { method: ctx.method, path: ctx.path, redirectUri: redirectUri.slice(0, 512) },
      });
    }
  }

  /** Why userinfo refused a token: a JWT is checked as this issuer's access tokens are, to say which way it fails. */
  private async userinfoReason(issuer: Issuer, token: string): Promise<RefusedReason> {
    if (isUnsignedJwt(token)) return 'alg-not-allowed';
    if (!isJwt(token)) return 'unknown';
    try {
      await jwtVerify(token, createLocalJWKSet({ keys: issuer.ring.publicJwks as never }), { issuer: issuer.url, currentDate: new Date(this.options.clock.now()) });
      // Signed by this issuer, yet refused: userinfo takes the opaque tokens it issued, not JWT access tokens.
      return 'not-accepted-here';
    } catch (error) {
      return refusedReason(error);
    }
  }

  /**
   * oidc-provider keeps no JWT access tokens and refuses them (`unsupported_token_type`)
   * after it has authenticated the calling client; we answer for them instead, under the
   * same rule as the provider's allowedPolicy (token-access.ts).
   */
  private async introspectJwt(ctx: Context, issuer: Issuer): Promise<void> {
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    const token = oidc.params?.token;
    if (!refusedAsStructured(ctx) || !oidc.client || !isJwt(token)) return;
    const claims = await this.verifyJwt(issuer, token);
    const allowed = claims && mayIntrospect(issuer.snapshot, oidc.client.clientId, { clientId: str(claims.client_id), aud: claims.aud });
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = allowed ? { ...claims, active: true, token_type: 'Bearer' } : { active: false };
  }

  /** The revoke-jwt hook: a JWT the caller may revoke is revoked (RFC 7009 answers alike for an unknown one). */
  async revokeJwt(ctx: Context, issuer: Issuer): Promise<void> {
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    const token = oidc.params?.token;
    if (!refusedAsStructured(ctx) || !oidc.client || !isJwt(token)) return;
    const claims = await this.verifyJwt(issuer, token);
    if (claims && !mayRevoke(oidc.client.clientId, { clientId: str(claims.client_id), aud: claims.aud })) {
      // As oidc-provider's policy answers for the tokens it keeps (provider.ts).
      ctx.status = 400;
      ctx.body = { error: 'unauthorized_client', error_description: NOT_YOURS };
      return;
    }
    // RFC 7009: an unknown or invalid token is answered like a revoked one.
    ctx.status = 200;
    ctx.body = '';
    if (!claims || typeof claims.jti !== 'string') return;
    await this.options.store.accessTokens.revoke(issuer.snapshot.path, claims.jti, Number(claims.exp) * 1000, this.options.clock.now());
    await this.options.audit.append({ action: 'token.revoked', actor: String(claims.client_id ?? 'unknown'), namespace: issuer.snapshot.namespace, organization: issuer.snapshot.organization ?? null, client: String(claims.client_id ?? ''), subject: String(claims.sub ?? ''), data: { jti: claims.jti } });
  }

  private async verifyJwt(issuer: Issuer, token: string): Promise<Record<string, unknown> | undefined> {
    return verifyAccessJwt({ store: this.options.store, clock: this.options.clock, ring: issuer.ring, issuer: issuer.url, path: issuer.snapshot.path, provider: issuer.provider }, token);
  }
}

function refusedAsStructured(ctx: Context): boolean {
  return ctx.status === 400 && (ctx.body as { error?: string } | undefined)?.error === 'unsupported_token_type';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
