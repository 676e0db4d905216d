/**
 * The authentication context classes (`acr`) Gatehouse's issuers assert, defined once: the
 * broker and the sign-in pages set them, step-up and the admin API require `mfa` or better,
 * discovery lists them all. `phr` and `phrh` are the OpenID EAP ACR values for a
 * phishing-resistant sign-in (a passkey: synced, or bound to hardware).
 */
export const ACR = {
  password: 'urn:gatehouse:acr:pwd',
  federated: 'urn:gatehouse:acr:fed',
  mfa: 'urn:gatehouse:acr:mfa',
  phr: 'phr',
  phrh: 'phrh',
} as const;

export const ACR_VALUES = Object.values(ACR);

/** A second factor was used at sign-in (TOTP). */
export const MFA_ACR = ACR.mfa;

/** The ACRs of a phishing-resistant sign-in (a passkey): they satisfy a step-up, and a policy that requires phishing resistance. */
export const PHISHING_RESISTANT_ACRS: ReadonlySet<string> = new Set([ACR.phr, ACR.phrh]);

/** The ACRs that satisfy a step-up: a second factor, or a phishing-resistant sign-in. */
export const MFA_ACRS: ReadonlySet<string> = new Set([ACR.mfa, ACR.phr, ACR.phrh]);

/** The `amr` values (RFC 8176) that say a sign-in had a second factor (a passkey alone is one unless its authenticator verified the user: `mfa`). */
export const MFA_AMRS: ReadonlySet<string> = new Set(['mfa', 'otp']);

/** Whether a sign-in's `acr` and `amr` say it passed a second factor. */
export function isMfa(acr: unknown, amr: unknown): boolean {
  return (typeof acr === 'string' && MFA_ACRS.has(acr)) || (Array.isArray(amr) && amr.some((m) => typeof m === 'string' && MFA_AMRS.has(m)));
}

/** Whether a sign-in's `acr` says it was phishing-resistant. */
export function isPhishingResistant(acr: unknown): boolean {
  return typeof acr === 'string' && PHISHING_RESISTANT_ACRS.has(acr);
}
