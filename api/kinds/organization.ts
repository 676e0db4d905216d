import { z } from 'zod';
import { LocalRef, SessionLifetimes, TokenLifetimes, dateTime, domainName, duration, email, hexColor, uniqueList } from '../common.ts';
import { defineKind, ref } from '../kind.ts';
import { Role } from './user.ts';
import { OrganizationNotifications } from '../notifications.ts';

export const PartnerType = z.enum(['contractor', 'vendor', 'distributor', 'consultant', 'supplier', 'reseller', 'other']);

export const Contract = z
  .strictObject({
    id: z.string().min(1).max(128),
    partnerType: PartnerType,
    /** The internal person who certifies the relationship. */
    owner: email,
    startsAt: dateTime.optional(),
    endsAt: dateTime,
    certifiedAt: dateTime.optional(),
  })
  .refine((c) => !c.startsAt || Date.parse(c.startsAt) < Date.parse(c.endsAt), {
    error: 'endsAt must be later than startsAt',
    path: ['endsAt'],
  });

/** An ISO 3166-1 alpha-2 country code, as the geolocation database writes it (`NL`, `US`). */
export const countryCode = z.string().regex(/^[A-Z]{2}$/, { error: 'expected an ISO 3166-1 alpha-2 country code such as "NL"' });

const CIDR = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)\/(3[0-2]|[12]?\d)$|^[0-9a-fA-F:]+\/(12[0-8]|1[01]\d|[1-9]?\d)$/;

const weight = z.int().min(0).max(100);
const score = z.int().min(1).max(1000);
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'expected a time of day such as "07:30"' });
export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/**
 * The rules of the risk engine (server/risk/rules.ts), each with its declared weight: a rule
 * that fires adds its weight to the score. A rule not declared never fires.
 */
export const RiskRules = z.strictObject({
  /** A sign-in from a browser (device cookie) this user never signed in from, once it has signed in before. */
  newDevice: z.strictObject({ weight }).optional(),
  /** A sign-in from outside the organization's usual countries. */
  unusualLocation: z.strictObject({ weight, countries: uniqueList(countryCode).min(1) }).optional(),
  /** Two consecutive sign-ins of a user further apart than one could travel at `maxSpeedKmh` (default 900). */
  impossibleTravel: z.strictObject({ weight, maxSpeedKmh: z.int().min(100).max(20_000).optional() }).optional(),
  /** `max` (default 5) failed sign-ins within `window` (default 15m), for the user or from the address. */
  failedSignIns: z.strictObject({ weight, max: z.int().min(1).max(1000).optional(), window: duration.optional() }).optional(),
  /**
   * A client_credentials client issuing more tokens within `window` (default 1m) than `factor`
   * (default 10) times its baseline (its average per window so far), and at least `minimum` (default 100).
   */
  clientBurst: z.strictObject({ weight, factor: z.number().min(1.5).max(1000).optional(), window: duration.optional(), minimum: z.int().min(1).max(10_000_000).optional() }).optional(),
  /** A token requested from an address never seen for that client, once the client has a history. */
  newClientAddress: z.strictObject({ weight }).optional(),
  /** A sign-in outside `from`–`to` on `days` (default every day), in `timeZone` (an IANA zone, default UTC). */
  outsideHours: z.strictObject({ weight, from: clock, to: clock, timeZone: z.string().min(1).max(64).optional(), days: uniqueList(Weekday).min(1).optional() }).optional(),
});
export type RiskRules = z.infer<typeof RiskRules>;

export const RiskPolicy = z.strictObject({
  rules: RiskRules.optional(),
  /**
   * A score at or above a threshold leads to its action: `stepUp` asks a sign-in for TOTP,
   * `deny` refuses the sign-in or grant, `suspendClient` pauses the client (token endpoint refused).
   */
  thresholds: z.strictObject({ stepUp: score.optional(), deny: score.optional(), suspendClient: score.optional() }).optional(),
  /** How long a suspended client stays paused; without it, until a person lifts it (admin API). */
  suspendFor: duration.optional(),
});
export type RiskPolicy = z.infer<typeof RiskPolicy>;
/** The second factors a user may use: TOTP (an authenticator app) and WebAuthn (passkeys, security keys). */
export const MfaMethod = z.enum(['totp', 'webauthn']);

/**
 * Second-factor policy, declared on the Workspace (every organization's default) and on an
 * Organization or its template; inherited down the tree as a ceiling: a level may tighten what
 * is above it (require MFA, fewer methods, phishing resistance, a local factor), never loosen it.
 */
export const MfaPolicy = z.strictObject({
  /** Every sign-in of the organization's users passes a second factor. */
  required: z.boolean().optional(),
  /** The second factors its users may use; unset: both. A passkey also signs in without a password. */
  methods: uniqueList(MfaMethod).min(1).optional(),
  /** Where only a passkey will do (phishing-resistant, `acr` `phr`/`phrh`): TOTP codes are not accepted there. */
  requirePhishingResistant: z
    .strictObject({
      /** Users holding any administrative role. */
      administrators: z.boolean().optional(),
      /** The scopes a Client marks `mfa.highValueScopes`. */
      highValueScopes: z.boolean().optional(),
    })
    .optional(),
  /**
   * Federated users: `require-local` (the default) accepts the partner IdP's sign-in as a second
   * factor only when the IdP asserts one (`amr`, `acr`, SAML AuthnContext), otherwise the user
   * adds a Gatehouse factor; `trust` takes the partner IdP's sign-in as complete.
   */
  upstreamMfa: z.enum(['trust', 'require-local']).optional(),
});
export type MfaPolicy = z.infer<typeof MfaPolicy>;

/** Fields an OrganizationTemplate may preset; an Organization's own fields win. */
export const organizationSettingsShape = {
  emailDomains: uniqueList(domainName).optional(),
  tokens: TokenLifetimes.optional(),
  /** Sign-in sessions of the organization's users; the Workspace's `guardrails.maxSession` caps both. */
  sessions: SessionLifetimes.optional(),
  branding: z
    .strictObject({
      /** A `data:image/...` URI: partner pages load no external assets. */
      logo: z
        .string()
        .max(262144)
        .regex(/^data:image\/(png|svg\+xml|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/, { error: 'expected a data:image/...;base64 URI' })
        .optional(),
      primaryColor: hexColor.optional(),
      accentColor: hexColor.optional(),
    })
    .optional(),
  network: z
    .strictObject({
      allowedCidrs: uniqueList(z.string().regex(CIDR, { error: 'expected a CIDR block such as "203.0.113.0/24"' })).optional(),
      /** Geo-fencing: only addresses the geolocation database places in one of these countries (docs/risk.md). */
      allowedCountries: uniqueList(countryCode).optional(),
      /** Geo-fencing: addresses placed in one of these countries are refused. */
      deniedCountries: uniqueList(countryCode).optional(),
    })
    .optional(),
  /** Adaptive access: rules scoring each sign-in and grant, and what a score leads to (docs/risk.md). */
  risk: RiskPolicy.optional(),
  limits: z.strictObject({ requestsPerMinute: z.int().min(1).max(1_000_000) }).optional(),
  mfa: MfaPolicy.optional(),
};

export const OrganizationSpec = z.strictObject({
  displayName: z.string().min(1).max(200),
  parentRef: LocalRef.optional(),
  templateRef: LocalRef.optional(),
  contract: Contract.optional(),
  /** Vanity hosts served by this organization's issuer. */
  domains: uniqueList(domainName).optional(),
  ...organizationSettingsShape,
  /** The kill switch: stops every sign-in, grant, refresh and introspection of the organization. */
  suspended: z.boolean().default(false),
  /**
   * Partner IdP groups (pushed by SCIM, by display name) → Gatehouse roles their members hold in
   * this organization, within the Workspace's `guardrails.groupRoles`.
   */
  groupRoles: z
    .array(z.strictObject({ group: z.string().min(1).max(256), roles: uniqueList(Role).min(1) }))
    .max(100)
    .optional(),
  /** Overrides of the Workspace's message templates for this organization's users (docs/notifications.md). */
  notifications: OrganizationNotifications.optional(),
});
export type OrganizationSpec = z.infer<typeof OrganizationSpec>;

export const Organization = defineKind({
  kind: 'Organization',
  plural: 'organizations',
  shortNames: ['org', 'orgs'],
  description: 'One partner company: its contract, lifetimes, branding and kill switch.',
  spec: OrganizationSpec,
  /** vanityIssuers: the issuer identifier of each of `spec.domains` (PUBLIC_URL's scheme, default port). */
  /** effective: where each inherited setting came from (`organization`, `template:<name>`, `parent:<name>`, `workspace`, `default`); GET …/effective has the values. */
  /** suspendedClients: its clients the risk engine has suspended now (set by the server on every read). */
  statusShape: { issuer: z.string().optional(), vanityIssuers: z.array(z.string()).optional(), effective: z.record(z.string(), z.string()).optional(), suspendedClients: z.array(z.string()).optional() },
  printerColumns: [
    { name: 'Partner', type: 'string', jsonPath: '.spec.contract.partnerType' },
    { name: 'Contract-End', type: 'date', jsonPath: '.spec.contract.endsAt' },
    { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspended' },
  ],
  celRules: [
    {
      rule: '!has(self.contract) || !has(self.contract.startsAt) || timestamp(self.contract.startsAt) < timestamp(self.contract.endsAt)',
      message: 'spec.contract.endsAt must be later than startsAt',
    },
  ],
  references: (spec) => [...ref('spec.parentRef', 'Organization', spec.parentRef), ...ref('spec.templateRef', 'OrganizationTemplate', spec.templateRef)],
});
