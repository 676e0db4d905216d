import type { OrganizationObject } from '../../api/index.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';

/** The ACR of a sign-in that passed a second factor: the only one that satisfies a step-up. */
export const MFA_ACR = 'urn:gatehouse:acr:mfa';

const scopesOf = (scope: string) => new Set(scope.split(' ').filter(Boolean));

/**
 * The scopes a client's tokens carry only after a second factor: the client's own
 * `mfa.requiredScopes` and every scope an AccessPolicy that applies to the client marks
 * `requireMfa`. The one list the sign-in step-up, the session re-check and the
 * client-credentials grant all read.
 */
export function stepUpScopes(client: SnapshotClient | undefined): Set<string> {
  if (!client) return new Set();
  return new Set([...(client.object.spec.mfa?.requiredScopes ?? []), ...client.mfaScopes]);
}

/**
 * Whether a sign-in of a user of `organization` to `clientId`, asking for `scope`, needs a
 * second factor: the organization (or its template) requires one for everybody, or a scope
 * asked is a step-up scope of the client.
 */
export function mfaRequired(snapshot: IssuerSnapshot, organization: string, clientId: string, scope: string): boolean {
  const org: OrganizationObject | undefined = snapshot.organizations.get(organization);
  const template = org?.spec.templateRef && snapshot.template?.metadata.name === org.spec.templateRef.name ? snapshot.template : undefined;
  if ((org?.spec.mfa ?? template?.spec.mfa)?.required) return true;
  const required = stepUpScopes(snapshot.clients.find((c) => c.clientId === clientId));
  return [...scopesOf(scope)].some((s) => required.has(s));
}
