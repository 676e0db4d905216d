import { errors, type ResourceServer } from 'oidc-provider';
import type { UserRecord } from '../store/index.ts';
import { approvalScopes } from './approval.ts';
import { applySchema } from './claim-schema.ts';
import { tokenClaims, type ClaimValue } from './claims.ts';
import { cappedTo, contractsEnd } from './lifetimes.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';
import { stepUpScopes } from './step-up.ts';

/**
 * What a machine's (client_credentials) token carries and how long it lives, decided from the
 * issuer's snapshot alone: the one place both oidc-provider (provider.ts) and Gatehouse's own
 * client_credentials grant (client-credentials.ts) read it from, so the two cannot drift.
 */

/** A claim left out of a token because its value does not fit the Workspace's claimSchema (audited; never the value). */
export type ClaimsDropped = (dropped: { claims: string[]; client: string; subject: string | undefined; organization: string | undefined; token: 'access' | 'id' }) => Promise<void>;

/** Mapped claims checked against the Workspace's claimSchema: what does not fit is left out (reported); a required claim missing refuses an access token. */
export type SchemaCheck = (claims: Record<string, ClaimValue>, client: string, user: UserRecord | undefined, token?: 'access' | 'id') => Promise<Record<string, ClaimValue>>;

export function schemaCheck(snapshot: IssuerSnapshot, onClaimsDropped: ClaimsDropped | undefined): SchemaCheck {
  const claimSchema = snapshot.workspace?.spec.claimSchema;
  return async (claims, client, user, token = 'access') => {
    const checked = applySchema(claims, claimSchema);
    if (checked.dropped.length > 0) await onClaimsDropped?.({ claims: checked.dropped, client, subject: user?.id, organization: user?.organization ?? snapshot.organization, token });
    if (token === 'id') return checked.claims;
    if (checked.missing.length > 0) throw new errors.InvalidGrant(`the Workspace's claimSchema requires ${checked.missing.join(', ')}, and this token would have no valid value for ${checked.missing.length === 1 ? 'it' : 'them'}`);
    return checked.claims;
  };
}

/** Refuses a resource indicator that is not one of the client's audiences (every grant, user or machine). */
export function assertAudience(client: SnapshotClient | undefined, resource: string): asserts client is SnapshotClient {
  if (!client || !(client.object.spec.audiences ?? []).includes(resource)) throw new errors.InvalidTarget(`${resource} is not an audience of this client`);
}

/**
 * The API scopes a machine's token may carry: its own (at the shared issuer none: a machine has
 * no organization), never one that needs an approval (nobody to approve) nor a second factor
 * (no user, no second factor).
 */
export function machineScopes(snapshot: IssuerSnapshot, client: SnapshotClient): string[] {
  const allowed = snapshot.organization !== undefined ? client.apiScopes : [];
  const gated = approvalScopes(snapshot, snapshot.organization, client);
  const stepUp = stepUpScopes(snapshot, snapshot.organization, client);
  return allowed.filter((s) => !gated.has(s) && !stepUp.has(s));
}

/**
 * One issuer's machine tokens, each answer worked out once (per client, and per client and
 * resource): the resource server a client_credentials token is for, its mapped claims, its lifetime.
 */
export class MachineTokens {
  readonly #snapshot: IssuerSnapshot;
  readonly #alg: string;
  readonly #schemaChecked: SchemaCheck;
  readonly #resources = new Map<string, ResourceServer>();
  readonly #claims = new Map<string, Record<string, ClaimValue>>();
  /** When the contracts of the issuer's organization and its parents end (ms), if they do. */
  readonly contractEnd: number | undefined;

  constructor(snapshot: IssuerSnapshot, alg: string, schemaChecked: SchemaCheck) {
    this.#snapshot = snapshot;
    this.#alg = alg;
    this.#schemaChecked = schemaChecked;
    this.contractEnd = contractsEnd(snapshot.chain);
  }

  /**
   * The resource server (RFC 8707) of a machine's token for `resource`, one of its audiences
   * (checked by the caller, `assertAudience`). Shared: callers must not change it.
   */
  resourceServer(client: SnapshotClient, resource: string): ResourceServer {
    // Client ids and resource URIs hold no space: one cannot pass for another pair.
    const key = `${client.clientId} ${resource}`;
    let info = this.#resources.get(key);
    if (!info) {
      const scope = machineScopes(this.#snapshot, client).join(' ');
      info = { scope, audience: resource, accessTokenTTL: this.#snapshot.lifetimes.accessToken, accessTokenFormat: 'jwt', jwt: { sign: { alg: this.#alg as 'ES256' } } };
      this.#resources.set(key, info);
    }
    return info;
  }

  /** A machine's mapped claims (its organization's and its own ClaimMappings) under the claimSchema; throws invalid_grant while a required one is missing. Shared: callers copy. */
  async claims(client: SnapshotClient): Promise<Record<string, ClaimValue>> {
    let claims = this.#claims.get(client.clientId);
    if (!claims) this.#claims.set(client.clientId, (claims = await this.#schemaChecked(tokenClaims(this.#snapshot.chain, client.claims.access, undefined), client.clientId, undefined)));
    return claims;
  }

  /** A machine token's lifetime: its resource server's (else the issuer's access-token lifetime), never past the contract's end. */
  ttl(resourceTtl: number | undefined, now: number): number {
    return cappedTo(resourceTtl ?? this.#snapshot.lifetimes.accessToken, this.contractEnd, now);
  }
}
