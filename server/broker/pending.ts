import { z } from 'zod';
import type { BrokerIssuer } from './broker.ts';
import { OidcExpected } from './upstreams/oidc.ts';
import { SamlExpected } from './upstreams/saml.ts';

/** How long a sign-in in progress is kept in the store, at each stage. */
export const REQUEST_TTL_MS = 10 * 60 * 1000;

/** A sign-in waiting on the partner's IdP, or on the second factor; kept in the store so any replica can finish it. */
export const Pending = z.object({
  stage: z.enum(['upstream', 'verified', 'mfa']),
  uid: z.string(),
  /** The issuer the client started at (`/{ns}` or `/{ns}/{org}`): the sign-in finishes there. */
  issuerPath: z.string(),
  /**
   * The issuer identifier the sign-in started at, when it is a vanity domain's origin: the
   * upstream answers at the canonical callback (the redirect URI registered with it), and the
   * browser is sent back to that host, where the interaction cookie lives.
   */
  vanityIssuer: z.string().optional(),
  namespace: z.string(),
  connection: z.string(),
  clientId: z.string(),
  /** What the upstream's answer is checked against, under its type (`Upstream.start`'s `expected`). */
  oidc: OidcExpected.optional(),
  saml: SamlExpected.optional(),
  identity: z.object({ subject: z.string(), claims: z.record(z.string(), z.unknown()) }).optional(),
  login: z.object({ accountId: z.string(), amr: z.array(z.string()), acr: z.string() }).optional(),
  /** What the risk engine learns once the second factor is passed (a step-up it asked for, or policy's). */
  learn: z.object({ device: z.string().optional(), country: z.string().optional() }).optional(),
  /** The second-factor level the sign-in must reach (step-up.ts). */
  level: z.enum(['none', 'mfa', 'phishing-resistant']).optional(),
  /** Set once the first code of a new enrolment was good, while the recovery codes are on screen. */
  mfaVerified: z.boolean().optional(),
  /** A test sign-in through a draft connection (federation setup): nobody is signed in or provisioned. */
  test: z.object({ organization: z.string(), revision: z.number() }).optional(),
});
export type Pending = z.infer<typeof Pending>;

/** A vanity issuer is a bare origin (`https://sso.partner.example`); canonical issuers have a path. */
export function vanityOf(issuer: BrokerIssuer): { vanityIssuer?: string } {
  return new URL(issuer.url).pathname === '/' ? { vanityIssuer: issuer.url } : {};
}
