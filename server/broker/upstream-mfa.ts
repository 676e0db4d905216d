import { ACR, PHISHING_RESISTANT_ACRS } from '../oidc/acr.ts';

/** OIDC `acr` values of partner IdPs that mean a second factor was used (PAPE multi-factor, REFEDS MFA). */
const MFA_ACR_VALUES = new Set(['http://schemas.openid.net/pape/policies/2007/06/multi-factor', 'http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical', 'https://refeds.org/profile/mfa', ACR.mfa]);

/** SAML AuthnContextClassRef values that mean a second factor (or a smartcard) was used. */
const MFA_AUTHN_CONTEXTS = new Set([
  'https://refeds.org/profile/mfa',
  'http://schemas.microsoft.com/claims/multipleauthn',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI',
]);

/** The claim a SAML upstream puts its assertion's AuthnContextClassRef under. */
export const AUTHN_CONTEXT_CLAIM = 'authnContextClassRef';

/**
 * What a partner IdP's sign-in is worth, from what it asserted: a phishing-resistant `acr`
 * (`phr`/`phrh`) is kept; `amr` with `mfa`, an MFA `acr`, or an MFA SAML AuthnContext is a
 * second factor (`amr` `fed` + `mfa`, our `mfa` ACR); anything else is one factor (`fed`).
 */
export function upstreamLogin(claims: Record<string, unknown>): { amr: string[]; acr: string; mfa: boolean } {
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [];
  const acr = typeof claims.acr === 'string' ? claims.acr : '';
  const context = claims[AUTHN_CONTEXT_CLAIM];
  if (PHISHING_RESISTANT_ACRS.has(acr)) return { amr: ['fed', 'mfa'], acr, mfa: true };
  if (amr.includes('mfa') || MFA_ACR_VALUES.has(acr) || (typeof context === 'string' && MFA_AUTHN_CONTEXTS.has(context))) return { amr: ['fed', 'mfa'], acr: ACR.mfa, mfa: true };
  return { amr: ['fed'], acr: ACR.federated, mfa: false };
}
