import { z } from 'zod';
import { LocalRef } from '../common.ts';
import { defineKind, ref } from '../kind.ts';

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
  requireApproval: z.boolean().default(false),
});

export const AccessPolicySpec = z.strictObject({
  organizationRef: LocalRef,
  /**
   * The client whose tokens the policy limits: one of the organization's own, or a workspace
   * (shared-application) client, whose tokens for this organization's users it then decides.
   * Absent: every client of the organization, and every shared client its users sign in to.
   */
  clientRef: LocalRef.optional(),
  scopes: z
    .array(ScopeGrant)
    .refine((list) => new Set(list.map((s) => s.scope)).size === list.length, { error: 'scopes must be unique' }),
});
export type AccessPolicySpec = z.infer<typeof AccessPolicySpec>;

export const AccessPolicy = defineKind({
  kind: 'AccessPolicy',
  plural: 'accesspolicies',
  shortNames: ['gap'],
  description: 'Which scopes an organization may obtain for a client, and which need MFA or approval.',
  spec: AccessPolicySpec,
  printerColumns: [{ name: 'Organization', type: 'string', jsonPath: '.spec.organizationRef.name' }],
  references: (spec) => [...ref('spec.organizationRef', 'Organization', spec.organizationRef), ...ref('spec.clientRef', 'Client', spec.clientRef)],
});
