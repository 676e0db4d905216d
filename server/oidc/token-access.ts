import type { IssuerSnapshot } from './snapshot.ts';

/**
 * Who may learn about, or end, a token at introspection and revocation. One rule for the
 * tokens oidc-provider keeps (its `allowedPolicy` hooks) and the JWT access tokens the
 * registry answers for itself, so neither path is a way around the other.
 */

/** What both paths know of a token: the client it was issued to and its audience(s). */
export interface TokenParties {
  clientId?: string | undefined;
  aud?: unknown;
}

export const CONFIDENTIAL_ONLY = 'introspection and revocation are for confidential clients: authenticate with the client secret (HTTP Basic)';
export const NOT_YOURS = 'the token was not issued to this client';

const audiencesOf = (aud: unknown): string[] => (typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []);

/**
 * RFC 7662 §2.1 leaves to the server which tokens a caller may introspect: its own, and
 * those issued for an audience it declares (a resource server checking tokens sent to it).
 * Anything else is answered `{active: false}`, as an unknown token would be.
 */
export function mayIntrospect(snapshot: IssuerSnapshot, callerId: string, token: TokenParties): boolean {
  if (token.clientId === callerId) return true;
  const declared = snapshot.clients.find((c) => c.clientId === callerId)?.object.spec.audiences ?? [];
  return audiencesOf(token.aud).some((a) => declared.includes(a));
}

/** RFC 7009 §2.1: the server verifies the token was issued to the requesting client. */
export function mayRevoke(callerId: string, token: TokenParties): boolean {
  return token.clientId === callerId;
}
