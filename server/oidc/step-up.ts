import { workspaceSettings, type EffectiveSettings, type MfaMethod } from '../../api/index.ts';
import { ADMIN_CONSOLE_ANNOTATION } from '../governance/principals.ts';
import { isMfa, isPhishingResistant } from './acr.ts';
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
  if (settingsFor(snapshot, organization).mfaRequired.value) return true;
  const client = snapshot.clients.find((c) => c.clientId === clientId);
  // Admin tokens are refused without a second factor under this guardrail, so the console's sign-in asks for one.
  if (snapshot.workspace?.spec.guardrails?.requireMfaForAdmins && client?.object.metadata.annotations?.[ADMIN_CONSOLE_ANNOTATION] === 'true') return true;
  const required = stepUpScopes(snapshot, organization || undefined, client);
  const asked = [...scopesOf(scope)];
  return asked.some((s) => required.has(s) || (client?.object.spec.mfa?.highValueScopes ?? []).includes(s));
}

/** The effective settings of a user's organization; for the workspace's own users (no organization), the Workspace's. */
export function settingsFor(snapshot: IssuerSnapshot, organization: string): EffectiveSettings {
  return snapshot.settingsOf(organization || undefined) ?? workspaceSettings(snapshot.workspace);
}

/** What a sign-in needs beyond its first factor: nothing, a second factor, or a phishing-resistant one (a passkey). */
export type MfaLevel = 'none' | 'mfa' | 'phishing-resistant';

/**
 * The level a sign-in of `user` to `clientId` asking for `scope` must reach: `phishing-resistant`
 * where the organization's effective `mfa.requirePhishingResistant` covers the user (any
 * administrative role) or a scope asked (one the client marks `mfa.highValueScopes`), else
 * `mfa` where `mfaRequired` says so, else `none`.
 */
export function mfaLevel(snapshot: IssuerSnapshot, user: { organization: string; roles: readonly string[] }, clientId: string, scope: string): MfaLevel {
  const settings = settingsFor(snapshot, user.organization);
  const client = snapshot.clients.find((c) => c.clientId === clientId);
  const highValue = new Set(client?.object.spec.mfa?.highValueScopes ?? []);
  if (settings.phishingResistant.administrators.value && user.roles.length > 0) return 'phishing-resistant';
  if (settings.phishingResistant.highValueScopes.value && [...scopesOf(scope)].some((s) => highValue.has(s))) return 'phishing-resistant';
  return mfaRequired(snapshot, user.organization, clientId, scope) ? 'mfa' : 'none';
}

/**
 * Whether a sign-in of `user` that ended with `acr` and `amr` reaches `level`. A federated
 * user's sign-in reaches `mfa` on the partner IdP's word alone where the effective
 * `mfa.upstreamMfa` is `trust`; phishing resistance is never taken on trust.
 */
export function reaches(snapshot: IssuerSnapshot, user: { organization: string; connection: string }, level: MfaLevel, login: { acr?: unknown; amr?: unknown }): boolean {
  if (level === 'none') return true;
  if (level === 'phishing-resistant') return isPhishingResistant(login.acr);
  if (isMfa(login.acr, login.amr)) return true;
  return user.connection !== 'directory' && Array.isArray(login.amr) && login.amr.includes('fed') && settingsFor(snapshot, user.organization).upstreamMfa.value === 'trust';
}

/** The second factors a user of `organization` may use at `level`: the effective `mfa.methods`; only passkeys where phishing resistance is required. */
export function methodsFor(snapshot: IssuerSnapshot, organization: string, level: MfaLevel): MfaMethod[] {
  if (level === 'phishing-resistant') return ['webauthn'];
  return settingsFor(snapshot, organization).mfaMethods.value;
}
