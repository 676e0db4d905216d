import { z } from 'zod';
import { TokenLifetimes, duration, uniqueList } from '../common.ts';
import { Role } from './user.ts';
import { defineKind } from '../kind.ts';

export const SigningAlgorithm = z.enum(['ES256', 'EdDSA', 'RS256']);

export const WorkspaceSpec = z.strictObject({
  displayName: z.string().min(1).max(200).optional(),
  /** Lifetimes every organization inherits unless it or its template says otherwise. */
  tokens: TokenLifetimes.optional(),
  signingAlgorithm: SigningAlgorithm.default('ES256'),
  /** Ceilings no organization, template or partner admin can exceed. */
  guardrails: z
    .strictObject({
      maxAccessToken: duration.optional(),
      maxIdToken: duration.optional(),
      maxRefreshToken: duration.optional(),
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
