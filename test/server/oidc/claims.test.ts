/** The claims a ClaimMapping reads from the user: SCIM group memberships among them. */
import { describe, expect, it } from '@jest/globals';
import { tokenClaims } from '../../../server/oidc/claims.ts';
import type { UserRecord } from '../../../server/store/index.ts';

const user = (profile: UserRecord['profile']): UserRecord => ({
  namespace: 'ns',
  id: 'fed-1',
  organization: 'forge',
  connection: 'forge-okta',
  subject: 's',
  email: 'lena@forge.example',
  declaredAs: null,
  profile,
  roles: ['auditor'],
  active: true,
  passwordHash: null,
  createdAt: 0,
  updatedAt: 0,
  lastLoginAt: null,
});
const mappings = [
  { name: 'groups', from: 'user.groups', tokens: ['access' as const] },
  { name: 'department', from: 'user.department', tokens: ['access' as const] },
];

describe('user.<attribute> claims', () => {
  it('user.groups is the SCIM groups the user is in, and user.department an Enterprise attribute', () => {
    expect(tokenClaims([], mappings, user({ groups: ['Buyers', 'Gatehouse Admins'], attributes: { department: 'Procurement' } }))).toEqual({ groups: ['Buyers', 'Gatehouse Admins'], department: 'Procurement' });
  });

  it('a user in no SCIM group gets an empty list; one never provisioned keeps a declared groups attribute', () => {
    expect(tokenClaims([], mappings, user({ groups: [] }))).toEqual({ groups: [] });
    expect(tokenClaims([], mappings, user({ attributes: { groups: 'declared' } }))).toEqual({ groups: 'declared' });
  });
});
