import type { ClientMetadata } from 'oidc-provider';
import { accountClient } from './account.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';
import { TOKEN_EXCHANGE } from './token-exchange.ts';

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

/** A declared client as oidc-provider registers it; undefined for a confidential client whose secret is not generated yet. */
export function clientMetadata(c: SnapshotClient): ClientMetadata | undefined {
  const { spec } = c.object;
  const oidcScopes = (spec.scopes ?? []).filter((s) => OIDC_SCOPES.includes(s));
  // API scopes belong to resource servers (getResourceServerInfo), not to the client's OIDC
  // scope: listed here, oidc-provider would ask for consent to them on every sign-in.
  const scope = oidcScopes.join(' ');
  const base = { client_id: c.clientId, client_name: spec.displayName ?? c.object.metadata.name, ...(scope ? { scope } : {}) };
  if (spec.type === 'm2m') {
    if (!c.secret) return undefined; // no secret generated yet: the client cannot authenticate
    return { ...base, client_secret: c.secret, grant_types: ['client_credentials', TOKEN_EXCHANGE], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' };
  }
  // Every client may ask for token exchange; the grant itself answers unauthorized_client to those not allowed.
  const grants = ['authorization_code', ...(oidcScopes.includes('offline_access') ? ['refresh_token'] : []), TOKEN_EXCHANGE];
  const common = {
    ...base,
    grant_types: grants,
    response_types: ['code' as const],
    redirect_uris: spec.redirectUris ?? [],
    post_logout_redirect_uris: spec.postLogoutRedirectUris ?? [],
  };
  if (spec.type === 'web') {
    if (!c.secret) return undefined;
    return { ...common, client_secret: c.secret, token_endpoint_auth_method: 'client_secret_basic' };
  }
  return { ...common, token_endpoint_auth_method: 'none', application_type: spec.type === 'native' ? 'native' : 'web' };
}

/**
 * Every client oidc-provider registers at an issuer (its static `clients`): the declared ones that
 * can authenticate, and the issuer's account client. Gatehouse's own client_credentials grant (client-credentials.ts) knows exactly
 * these, so a client added to an issuer is added here, never beside it.
 */
export function clientRegistrations(snapshot: IssuerSnapshot, issuer: string): ClientMetadata[] {
  // The declared clients, and the issuer's own behind its account pages (account.ts).
  return [...snapshot.clients.map(clientMetadata).filter((m): m is ClientMetadata => m !== undefined), accountClient(issuer)];
}
