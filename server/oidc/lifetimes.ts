import type { EffectiveSettings, Lifetimes, OrganizationObject } from '../../api/index.ts';

export type { Lifetimes };

/** Seconds of each token lifetime of effective settings (api/effective.ts decides them, ceilings included). */
export function lifetimesOf(settings: EffectiveSettings): Lifetimes {
  return { accessToken: settings.tokens.accessToken.value, idToken: settings.tokens.idToken.value, refreshToken: settings.tokens.refreshToken.value };
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
