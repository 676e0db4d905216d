import { durationSeconds, type OrganizationObject, type OrganizationTemplateObject, type WorkspaceObject } from '../../api/index.ts';

export interface Lifetimes {
  accessToken: number;
  idToken: number;
  refreshToken: number;
}

/** What a partner gets when nothing is declared: short access tokens, a working day of refresh. */
export const DEFAULT_LIFETIMES: Lifetimes = { accessToken: 15 * 60, idToken: 15 * 60, refreshToken: 8 * 3600 };
const DEFAULT_CEILINGS: Lifetimes = { accessToken: 3600, idToken: 3600, refreshToken: 30 * 86400 };

const pick = (...values: (string | undefined)[]) => values.find((v) => v !== undefined);

/**
 * Lifetimes of an organization's tokens: its own, else its template's, else the
 * workspace's, never above the workspace's ceilings.
 */
export function resolveLifetimes(org: OrganizationObject | undefined, template: OrganizationTemplateObject | undefined, workspace: WorkspaceObject | undefined): Lifetimes {
  const guard = workspace?.spec.guardrails;
  const ceiling: Lifetimes = {
    accessToken: guard?.maxAccessToken ? durationSeconds(guard.maxAccessToken) : DEFAULT_CEILINGS.accessToken,
    idToken: guard?.maxIdToken ? durationSeconds(guard.maxIdToken) : DEFAULT_CEILINGS.idToken,
    refreshToken: guard?.maxRefreshToken ? durationSeconds(guard.maxRefreshToken) : DEFAULT_CEILINGS.refreshToken,
  };
  const resolve = (field: keyof Lifetimes): number => {
    const declared = pick(org?.spec.tokens?.[field], template?.spec.tokens?.[field], workspace?.spec.tokens?.[field]);
    return Math.min(declared ? durationSeconds(declared) : DEFAULT_LIFETIMES[field], ceiling[field]);
  };
  return { accessToken: resolve('accessToken'), idToken: resolve('idToken'), refreshToken: resolve('refreshToken') };
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
