import { z } from 'zod';
import { LocalRef, email, uniqueList } from '../common.ts';
import { defineKind, ref } from '../kind.ts';

export const Role = z.enum(['organization-admin', 'admin', 'auditor', 'user-manager']);

export const UserSpec = z.strictObject({
  /** The user's organization; absent means a workspace administrator. */
  organizationRef: LocalRef.optional(),
  email,
  displayName: z.string().min(1).max(200).optional(),
  givenName: z.string().max(100).optional(),
  familyName: z.string().max(100).optional(),
  roles: uniqueList(Role).optional(),
  active: z.boolean().default(true),
  attributes: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string().max(1024)).optional(),
});
export type UserSpec = z.infer<typeof UserSpec>;

export const User = defineKind({
  kind: 'User',
  plural: 'users',
  shortNames: ['guser'],
  description: 'A declared user: a partner administrator, or a user of a partner without an IdP of its own.',
  spec: UserSpec,
  printerColumns: [
    { name: 'Email', type: 'string', jsonPath: '.spec.email' },
    { name: 'Organization', type: 'string', jsonPath: '.spec.organizationRef.name' },
    { name: 'Active', type: 'boolean', jsonPath: '.spec.active' },
  ],
  references: (spec) => ref('spec.organizationRef', 'Organization', spec.organizationRef),
});
