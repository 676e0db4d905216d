import { z } from 'zod';
import { LocalRef, SessionLifetimes, TokenLifetimes, dateTime, domainName, email, hexColor, uniqueList } from '../common.ts';
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

const CIDR = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)\/(3[0-2]|[12]?\d)$|^[0-9a-fA-F:]+\/(12[0-8]|1[01]\d|[1-9]?\d)$/;

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
      allowedCidrs: uniqueList(z.string().regex(CIDR, { error: 'expected a CIDR block such as "203.0.113.0/24"' })),
    })
    .optional(),
  limits: z.strictObject({ requestsPerMinute: z.int().min(1).max(1_000_000) }).optional(),
  mfa: z.strictObject({ required: z.boolean() }).optional(),
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
  statusShape: { issuer: z.string().optional(), vanityIssuers: z.array(z.string()).optional(), effective: z.record(z.string(), z.string()).optional() },
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
