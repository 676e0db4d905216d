import { z } from 'zod';
import { SessionLifetimes, TokenLifetimes, duration } from '../common.ts';
import { defineKind } from '../kind.ts';

export const SigningAlgorithm = z.enum(['ES256', 'EdDSA', 'RS256']);

export const WorkspaceSpec = z.strictObject({
  displayName: z.string().min(1).max(200).optional(),
  /** Lifetimes every organization inherits unless it or its template says otherwise. */
  tokens: TokenLifetimes.optional(),
  /** Sign-in sessions every organization inherits unless it or its template says otherwise (default 8h, idle 8h). */
  sessions: SessionLifetimes.optional(),
  signingAlgorithm: SigningAlgorithm.default('ES256'),
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
