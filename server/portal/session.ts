import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Sealer } from '../secrets/sealer.ts';

/**
 * The portal's session: a sealed (encrypted and authenticated) cookie holding the access token
 * the organization's issuer gave the portal's admin-console client, and a CSRF token. The
 * sealing context names the portal (namespace and organization), so a cookie of one
 * organization's portal opens nowhere else even if copied across paths or hosts. Nothing is
 * stored server-side: every request resolves the token again (PrincipalResolver), so a user
 * deactivated, an organization suspended or a token revoked ends the session at once.
 */
export const SESSION_COOKIE = 'gatehouse-portal';
/** The state of a sign-in in flight (PKCE verifier, state, nonce), for the callback. */
export const LOGIN_COOKIE = 'gatehouse-portal-login';

const Session = z.object({ v: z.literal(1), accessToken: z.string(), csrf: z.string(), exp: z.number(), sub: z.string() });
export type Session = z.infer<typeof Session>;

const Login = z.object({ v: z.literal(1), verifier: z.string(), state: z.string(), nonce: z.string(), next: z.string(), exp: z.number() });
export type Login = z.infer<typeof Login>;

export interface PortalScope {
  /** `namespace/organization`, or `namespace` for the workspace overview. */
  key: string;
  /** The cookies' path: the portal's base path as the browser sees it. */
  path: string;
  secure: boolean;
}

export class PortalSessions {
  private readonly sealer: Sealer;
  private readonly now: () => number;

  constructor(sealer: Sealer, now: () => number) {
    this.sealer = sealer;
    this.now = now;
  }

  private open<T>(ctx: Context, cookie: string, purpose: string, schema: z.ZodType<T & { exp: number }>, scope: PortalScope): T | undefined {
    const sealed = ctx.cookies.get(cookie);
    if (!sealed) return undefined;
    try {
      const parsed = schema.safeParse(JSON.parse(this.sealer.open(sealed, `portal ${purpose} ${scope.key}`)));
      if (!parsed.success || parsed.data.exp <= this.now()) return undefined;
      return parsed.data;
    } catch {
      // Tampered, another portal's, or sealed under an old key: as if there were none.
      return undefined;
    }
  }

  /**
   * A browser-session cookie: its lifetime is the `exp` sealed inside, judged by the server's
   * clock, never the browser's (whose clock may disagree).
   */
  private write(ctx: Context, cookie: string, purpose: string, value: object, scope: PortalScope): void {
    ctx.cookies.set(cookie, this.sealer.seal(JSON.stringify(value), `portal ${purpose} ${scope.key}`), {
      path: scope.path,
      httpOnly: true,
      sameSite: 'lax',
      secure: scope.secure,
      signed: false,
      overwrite: true,
    });
  }

  session(ctx: Context, scope: PortalScope): Session | undefined {
    return this.open(ctx, SESSION_COOKIE, 'session', Session, scope);
  }

  /** Starts a session; the CSRF token is new with each sign-in. */
  begin(ctx: Context, scope: PortalScope, accessToken: string, sub: string, expiresAt: number): Session {
    const session: Session = { v: 1, accessToken, csrf: randomBytes(24).toString('base64url'), exp: expiresAt, sub };
    this.write(ctx, SESSION_COOKIE, 'session', session, scope);
    return session;
  }

  end(ctx: Context, scope: PortalScope): void {
    ctx.cookies.set(SESSION_COOKIE, '', { path: scope.path, httpOnly: true, sameSite: 'lax', secure: scope.secure, expires: new Date(0), overwrite: true });
  }

  login(ctx: Context, scope: PortalScope): Login | undefined {
    return this.open(ctx, LOGIN_COOKIE, 'login', Login, scope);
  }

  beginLogin(ctx: Context, scope: PortalScope, login: Omit<Login, 'v' | 'exp'>): void {
    const exp = this.now() + 10 * 60_000;
    this.write(ctx, LOGIN_COOKIE, 'login', { v: 1, ...login, exp }, scope);
  }

  endLogin(ctx: Context, scope: PortalScope): void {
    ctx.cookies.set(LOGIN_COOKIE, '', { path: scope.path, httpOnly: true, sameSite: 'lax', secure: scope.secure, expires: new Date(0), overwrite: true });
  }
}

/** Compares a form's CSRF token with the session's in constant time. */
export function csrfMatches(session: Session, presented: string | null | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
