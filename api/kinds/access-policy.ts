import { z } from 'zod';
import { LocalRef, uniqueList } from '../common.ts';
import { dnsLabel } from '../meta.ts';
import { defineKind, ref } from '../kind.ts';
import { Role } from './user.ts';

const SCOPE = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, { error: 'expected an OAuth scope token' });

export const ScopeGrant = z.strictObject({
  scope: SCOPE,
  /**
   * The API paths and methods the scope opens, as the issuer's authorization decision endpoint
   * (`/authorize`, `/ext-authz/*`) answers API gateways: a path is exact, or a prefix ending in
   * `/*` (every path below it).
   */
  api: z
    .array(
      z.strictObject({
        path: z.string().regex(/^(?:\/[^\s*]*)?\/\*$|^\/[^\s*]*$/, { error: 'expected a path starting with "/", exact or ending in "/*" (a "*" nowhere else)' }),
        methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])).min(1),
      }),
    )
    .optional(),
  requireMfa: z.boolean().default(false),
  /**
   * A user gets the scope only while an approver's approval of their access request stands;
   * until then it is left out of their tokens (the rest of the sign-in goes on).
   */
  requireApproval: z.boolean().default(false),
});

/**
 * Who decides the access requests for this policy's `requireApproval` scopes. Nobody else
 * does, workspace administrators included, and never the requester.
 */
export const Approvers = z
  .strictObject({
    /** Users of the requester's organization (or of an organization above it) holding one of these roles. */
    roles: uniqueList(Role).optional(),
    /** Workspace users (users of no organization), by name. */
    users: uniqueList(dnsLabel).optional(),
    /** Admin tokens, by name: a ticketing system that records the approval, for example. */
    adminTokens: uniqueList(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'expected an admin token name' })).optional(),
  })
  .refine((a) => (a.roles?.length ?? 0) + (a.users?.length ?? 0) + (a.adminTokens?.length ?? 0) > 0, { error: 'name at least one approver (roles, users or adminTokens)' });
export type Approvers = z.infer<typeof Approvers>;

export const AccessPolicySpec = z
  .strictObject({
    organizationRef: LocalRef,
    /**
     * The client whose tokens the policy limits: one of the organization's own, or a workspace
     * (shared-application) client, whose tokens for this organization's users it then decides.
     * Absent: every client of the organization, and every shared client its users sign in to.
     */
    clientRef: LocalRef.optional(),
    scopes: z.array(ScopeGrant).refine((list) => new Set(list.map((s) => s.scope)).size === list.length, { error: 'scopes must be unique' }),
    approvers: Approvers.optional(),
  })
  .refine((spec) => spec.approvers !== undefined || !spec.scopes.some((s) => s.requireApproval), {
    error: 'a scope with requireApproval needs approvers: declare spec.approvers (roles, users or adminTokens)',
    path: ['approvers'],
  });
export type AccessPolicySpec = z.infer<typeof AccessPolicySpec>;

export const AccessPolicy = defineKind({
  kind: 'AccessPolicy',
  plural: 'accesspolicies',
  shortNames: ['gap'],
  description: 'Which scopes an organization may obtain for a client, and which need MFA or approval.',
  spec: AccessPolicySpec,
  printerColumns: [{ name: 'Organization', type: 'string', jsonPath: '.spec.organizationRef.name' }],
  celRules: [
    { rule: 'has(self.approvers) || !self.scopes.exists(s, has(s.requireApproval) && s.requireApproval)', message: 'a scope with requireApproval needs spec.approvers' },
    {
      rule: '!has(self.approvers) || (has(self.approvers.roles) && size(self.approvers.roles) > 0) || (has(self.approvers.users) && size(self.approvers.users) > 0) || (has(self.approvers.adminTokens) && size(self.approvers.adminTokens) > 0)',
      message: 'spec.approvers names at least one approver (roles, users or adminTokens)',
    },
  ],
  references: (spec) => [...ref('spec.organizationRef', 'Organization', spec.organizationRef), ...ref('spec.clientRef', 'Client', spec.clientRef)],
});
