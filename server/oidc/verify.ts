import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Provider } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';
import type { KeyRing } from './keys.ts';

export interface VerifyContext {
  store: Store;
  clock: Clock;
  ring: KeyRing;
  /** The issuer URL the token must name. */
  issuer: string;
  /** The issuer's store key (its path). */
  path: string;
  provider: Provider;
}

/**
 * Per provider: whether a JWT access token's client and subject still hold it (the client not
 * deleted, the subject's organization standing). In memory; registered by buildProvider.
 */
export const holders = new WeakMap<Provider, (claims: JWTPayload) => Promise<boolean>>();

export const isJwt = (token: unknown): token is string => typeof token === 'string' && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

/**
 * A JWT access token of this issuer that is unexpired, not revoked, issued after the
 * issuer's and its client's cutoffs, held still (see `holders`), and whose grant (if any)
 * still exists; undefined otherwise. The one
 * check introspection, revocation and token exchange share.
 */
export async function verifyAccessJwt(v: VerifyContext, token: string): Promise<(JWTPayload & { jti: string; iat: number; exp: number }) | undefined> {
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: v.ring.publicJwks as never }), { issuer: v.issuer, typ: 'at+jwt', currentDate: new Date(v.clock.now()) });
    if (typeof payload.jti !== 'string' || typeof payload.iat !== 'number' || typeof payload.exp !== 'number') return undefined;
    // Bound to a key (DPoP, RFC 9449 cnf): no endpoint that verifies here checks a proof, so it is
    // no bearer token. None is issued any more (DPoP is off); one from before is refused, not trusted.
    if (payload.cnf !== undefined) return undefined;
    if (payload.iat * 1000 < (await v.store.oidc.tokenCutoff(v.path, typeof payload.client_id === 'string' ? payload.client_id : undefined))) return undefined;
    const held = holders.get(v.provider);
    if (held && !(await held(payload))) return undefined;
    const record = await v.store.accessTokens.find(v.path, payload.jti);
    if (record?.revokedAt) return undefined;
    if (record?.grantId && !(await v.provider.Grant.find(record.grantId))) return undefined;
    return payload as JWTPayload & { jti: string; iat: number; exp: number };
  } catch {
    return undefined;
  }
}

/** The grant a JWT access token of this issuer was recorded under, if any. */
export async function grantOf(v: VerifyContext, jti: string): Promise<string | undefined> {
  return (await v.store.accessTokens.find(v.path, jti))?.grantId ?? undefined;
}
