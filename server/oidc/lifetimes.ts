import { durationSeconds, type EffectiveSettings, type Lifetimes, type OrganizationObject, type OrganizationTemplateObject, type WorkspaceObject } from '../../api/index.ts';

export type { Lifetimes };

/** Seconds of each token lifetime of effective settings (api/effective.ts decides them, ceilings included). */
export function lifetimesOf(settings: EffectiveSettings): Lifetimes {
  return { accessToken: settings.tokens.accessToken.value, idToken: settings.tokens.idToken.value, refreshToken: settings.tokens.refreshToken.value };
}

/** Sign-in sessions, in seconds: ended `lifetime` after the sign-in, or `idleTimeout` after their last use. */
export interface SessionPolicy {
  lifetime: number;
  idleTimeout: number;
}

/** A working day, as sessions lasted before they were declared; idle as long (no separate idle limit). */
export const DEFAULT_SESSION: SessionPolicy = { lifetime: 8 * 3600, idleTimeout: 8 * 3600 };
const DEFAULT_MAX_SESSION = 24 * 3600;

const pick = (...values: (string | undefined)[]) => values.find((v) => v !== undefined);

/**
 * An organization's sessions: its own `sessions`, else its template's, else the workspace's,
 * each field on its own; never above what a parent organization ends up with (a session
 * length is a limit, so the parent's is a ceiling, as for token lifetimes), never above the
 * workspace's `guardrails.maxSession`, and the idle timeout never above the lifetime.
 * `chain`: the organization first, then its parents (api/organization-tree.ts organizationChain).
 */
export function resolveSessions(chain: readonly OrganizationObject[], templates: ReadonlyMap<string, OrganizationTemplateObject>, workspace: WorkspaceObject | undefined): SessionPolicy {
  const max = workspace?.spec.guardrails?.maxSession;
  const ceiling = max ? durationSeconds(max) : DEFAULT_MAX_SESSION;
  const seconds = (value: string | undefined, fallback: number) => (value ? durationSeconds(value) : fallback);
  let policy: SessionPolicy | undefined;
  for (const org of [...chain].reverse()) {
    const template = org.spec.templateRef ? templates.get(org.spec.templateRef.name) : undefined;
    const declared = (field: keyof SessionPolicy) => pick(org.spec.sessions?.[field], template?.spec.sessions?.[field]);
    const inherited = policy ?? { lifetime: seconds(workspace?.spec.sessions?.lifetime, DEFAULT_SESSION.lifetime), idleTimeout: seconds(workspace?.spec.sessions?.idleTimeout, DEFAULT_SESSION.idleTimeout) };
    const lifetime = Math.min(seconds(declared('lifetime'), inherited.lifetime), policy?.lifetime ?? Infinity);
    policy = { lifetime, idleTimeout: Math.min(seconds(declared('idleTimeout'), inherited.idleTimeout), policy?.idleTimeout ?? Infinity) };
  }
  const base = policy ?? { lifetime: seconds(workspace?.spec.sessions?.lifetime, DEFAULT_SESSION.lifetime), idleTimeout: seconds(workspace?.spec.sessions?.idleTimeout, DEFAULT_SESSION.idleTimeout) };
  const lifetime = Math.min(base.lifetime, ceiling);
  return { lifetime, idleTimeout: Math.min(base.idleTimeout, lifetime) };
}

/**
 * How long a session saved now may be kept: until it has been idle `idleTimeout`, and never
 * past `lifetime` after the sign-in (`loginTs`, seconds). At least 1 s (oidc-provider refuses
 * less); a session past its lifetime is sent to sign in again before it is used (interaction-policy.ts).
 */
export function sessionTtl(policy: SessionPolicy, loginTs: number | undefined, now: number): number {
  const left = loginTs === undefined ? policy.lifetime : loginTs + policy.lifetime - Math.floor(now / 1000);
  return Math.max(1, Math.min(policy.idleTimeout, left));
}

/** A refresh token never outlives the contract: its lifetime is cut to the seconds left. */
export function refreshLifetime(lifetimes: Lifetimes, contractEndsAt: string | undefined, now: number): number {
  if (!contractEndsAt) return lifetimes.refreshToken;
  const left = Math.floor((Date.parse(contractEndsAt) - now) / 1000);
  return Math.max(0, Math.min(lifetimes.refreshToken, left));
}

/** The earliest contract end (ms) of an organization and its parents: a sub-organization's partner cannot outlive its parent's contract either. */
export function contractsEnd(chain: readonly OrganizationObject[]): number | undefined {
  let end: number | undefined;
  for (const org of chain) {
    const endsAt = org.spec.contract?.endsAt;
    if (endsAt) end = Math.min(end ?? Infinity, Date.parse(endsAt));
  }
  return end;
}

/**
 * A token's lifetime cut so that it ends no later than `end` (ms, see `contractsEnd`). Never
 * below 1 s: oidc-provider refuses a non-positive lifetime, and a contract already over is
 * refused before any token is made.
 */
export function cappedTo(seconds: number, end: number | undefined, now: number): number {
  return end === undefined ? seconds : Math.max(1, Math.min(seconds, Math.floor((end - now) / 1000)));
}
