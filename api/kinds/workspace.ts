import { z } from 'zod';
import { SessionLifetimes, TokenLifetimes, duration, uniqueList } from '../common.ts';
import { Role } from './user.ts';
import { MfaPolicy } from './organization.ts';
import { defineKind } from '../kind.ts';
import { WorkspaceNotifications } from '../notifications.ts';

export const SigningAlgorithm = z.enum(['ES256', 'EdDSA', 'RS256']);

export const ClaimType = z.enum(['string', 'enum', 'number', 'boolean', 'date', 'stringList']);

/** What one custom claim may carry in every token of the namespace. */
export const ClaimDefinition = z
  .strictObject({
    type: ClaimType,
    /** No token is issued without a valid value (the token request is refused). */
    required: z.boolean().optional(),
    /** The only values allowed (an enum's list; for string and stringList, a restriction). */
    values: z.array(z.string().min(1).max(256)).min(1).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.type === 'enum' && !d.values) ctx.addIssue({ code: 'custom', path: ['values'], message: 'an enum claim lists its values' });
    if (d.values && !['enum', 'string', 'stringList'].includes(d.type)) ctx.addIssue({ code: 'custom', path: ['values'], message: `a ${d.type} claim has no list of values` });
  });
export type ClaimDefinition = z.infer<typeof ClaimDefinition>;

export const WorkspaceSpec = z.strictObject({
  displayName: z.string().min(1).max(200).optional(),
  /** Lifetimes every organization inherits unless it or its template says otherwise. */
  tokens: TokenLifetimes.optional(),
  /** Sign-in sessions every organization inherits unless it or its template says otherwise (default 8h, idle 8h). */
  sessions: SessionLifetimes.optional(),
  signingAlgorithm: SigningAlgorithm.default('ES256'),
  /** Second-factor policy every organization inherits; an organization, its template or a partner administrator may tighten it, never loosen it. */
  mfa: MfaPolicy.optional(),
  /**
   * The type of each custom claim (by name). ClaimMappings and templates are checked against
   * it when admitted; at run time a value that does not fit is left out of the token, and a
   * required claim without a valid value refuses the token.
   */
  claimSchema: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/), ClaimDefinition).optional(),
  /**
   * Every Organization must declare `contract` (id, partnerType, owner, endsAt): none is
   * admitted without one, and those already without one show `ContractDeclared=False`.
   */
  requireContract: z.boolean().optional(),
  /** Ceilings no organization, template or partner admin can exceed. */
  guardrails: z
    .strictObject({
      maxAccessToken: duration.optional(),
      maxIdToken: duration.optional(),
      maxRefreshToken: duration.optional(),
      /** The longest sign-in session (lifetime and idle timeout alike); default 24h. */
      maxSession: duration.optional(),
      requireMfaForAdmins: z.boolean().optional(),
      /** The roles an Organization's `groupRoles` may give through partner groups; unset, any role. */
      groupRoles: uniqueList(Role).optional(),
    })
    .optional(),
  lifecycle: z
    .strictObject({
      /** How long before `contract.endsAt` a warning is raised. */
      contractWarning: duration.optional(),
      /** How often an organization's owner must re-certify it. */
      reviewPeriod: duration.optional(),
      suspendWhenCertificationOverdue: z.boolean().optional(),
      /** Users without a sign-in for this long are reported as inactive. */
      inactiveUserAfter: duration.optional(),
    })
    .optional(),
  /** Message templates every organization inherits (docs/notifications.md), and the signed webhook channel (SMS, voice). */
  notifications: WorkspaceNotifications.optional(),
});
export type WorkspaceSpec = z.infer<typeof WorkspaceSpec>;

export const Workspace = defineKind({
  kind: 'Workspace',
  plural: 'workspaces',
  shortNames: ['gws'],
  description: 'Defaults and guardrails shared by every organization of a namespace.',
  spec: WorkspaceSpec,
  statusShape: { issuer: z.string().optional() },
});
