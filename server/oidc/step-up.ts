import { ADMIN_CONSOLE_ANNOTATION } from '../governance/principals.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';

/** The ACR of a sign-in that passed a second factor: the only one that satisfies a step-up. */

const scopesOf = (scope: string) => new Set(scope.split(' ').filter(Boolean));

/**
 * The scopes a client's tokens carry only after a second factor, for a user (or, with
 * client credentials, the client itself) of `organization`: the client's own
 * `mfa.requiredScopes` and every scope the organization's effective AccessPolicies (its
 * parents' included, api/effective.ts) mark `requireMfa` for the client. At the shared issuer, the organization is the
 * signed-in user's. The one list the sign-in step-up, the session re-check and the
 * client-credentials grant all read.
 */
export function stepUpScopes(snapshot: IssuerSnapshot, organization: string | undefined, client: SnapshotClient | undefined): Set<string> {
  if (!client) return new Set();
  const granted = organization === undefined ? [] : [...snapshot.scopesOf(organization, client.object.metadata.name).values()];
  const fromPolicies = granted.filter((s) => s.requireMfa.value).map((s) => s.scope);
  return new Set([...(client.object.spec.mfa?.requiredScopes ?? []), ...fromPolicies]);
}

/**
 * Whether a sign-in of a user of `organization` to `clientId`, asking for `scope`, needs a
 * second factor: the organization's effective `mfa.required` (its own, its template's, or a parent's) asks it of everybody, or a scope
 * asked is a step-up scope of the client.
 */
export function mfaRequired(snapshot: IssuerSnapshot, organization: string, clientId: string, scope: string): boolean {
  if (snapshot.settingsOf(organization)?.mfaRequired.value) return true;
  const client = snapshot.clients.find((c) => c.clientId === clientId);
  // Admin tokens are refused without a second factor under this guardrail, so the console's sign-in asks for one.
  if (snapshot.workspace?.spec.guardrails?.requireMfaForAdmins && client?.object.metadata.annotations?.[ADMIN_CONSOLE_ANNOTATION] === 'true') return true;
  const required = stepUpScopes(snapshot, organization || undefined, client);
  return [...scopesOf(scope)].some((s) => required.has(s));
}
