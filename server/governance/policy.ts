import type { z } from 'zod';
import type { Role as RoleSchema } from '../../api/index.ts';

export type Role = z.infer<typeof RoleSchema>;

/**
 * Who may do what in the admin API, in one table. Every route asks `decide` before it
 * acts; nothing else in the server decides admin access.
 *
 *   workspace administrator (admin token, or a workspace user with admin or organization-admin)
 *                      → everything (a workspace user: within its namespace)
 *   organization-admin, admin → their organization's (and sub-organizations') users and audit log; read its declared objects
 *   organization-admin also → its organization's own IdP setup in the portal (sso.write):
 *                      drafts tested with a real sign-in, then enabled as a connection marked
 *                      `source: portal`, within the guardrails of server/federation-setup/
 *   user-manager       → their organization's users only
 *   auditor            → read-only: users, declared objects, audit log
 *   access requests    → every role reads its organization's; who decides is the AccessPolicy's `approvers`
 *
 * Declared objects (Organization, Client, IdPConnection, ClaimMapping, AccessPolicy, User,
 * …) are managed in git or Pulumi: no partner role writes them, so a partner admin can
 * neither attach an IdP, nor raise a lifetime above the Workspace ceiling, nor switch MFA
 * off. What partner admins change is runtime state: users invited at runtime, the active
 * flag, MFA enrolment, password links.
 *
 * `accessrequests.decide` only lets a principal be considered: the AccessPolicy's declared
 * `approvers` decide who among them approves, denies or revokes (governance/access-requests.ts).
 */
export type Permission = 'objects.read' | 'objects.write' | 'users.read' | 'users.write' | 'audit.read' | 'audit.verify' | 'lifecycle.write' | 'accessrequests.read' | 'accessrequests.decide' | 'sso.write';

const PARTNER: Record<Role, readonly Permission[]> = {
  'organization-admin': ['objects.read', 'users.read', 'users.write', 'audit.read', 'accessrequests.read', 'accessrequests.decide', 'sso.write'],
  admin: ['objects.read', 'users.read', 'users.write', 'audit.read', 'accessrequests.read', 'accessrequests.decide'],
  'user-manager': ['users.read', 'users.write', 'accessrequests.read', 'accessrequests.decide'],
  auditor: ['objects.read', 'users.read', 'audit.read', 'accessrequests.read'],
};

const EVERYTHING: readonly Permission[] = ['objects.read', 'objects.write', 'users.read', 'users.write', 'audit.read', 'audit.verify', 'lifecycle.write', 'accessrequests.read', 'accessrequests.decide', 'sso.write'];

export type Principal =
  | { kind: 'token'; actor: string }
  | {
      kind: 'user';
      actor: string;
      namespace: string;
      userId: string;
      /** The user's organization; null for a workspace user. */
      organization: string | null;
      /** Organizations the user administers (its own and those below it); 'namespace' for a workspace user. */
      scope: ReadonlySet<string> | 'namespace';
      roles: Role[];
    };

export interface Target {
  namespace?: string;
  /** The organization the thing belongs to; null for workspace-level objects and records. */
  organization?: string | null;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

export function permissionsOf(principal: Principal): Set<Permission> {
  if (principal.kind === 'token') return new Set(EVERYTHING);
  return permissionsOfRoles(principal.roles, principal.organization === null);
}

/** What a user's roles (as stored: unknown ones grant nothing) let it do; a workspace user's `admin` or `organization-admin` lets it do everything. */
export function permissionsOfRoles(roles: readonly string[], workspaceUser: boolean): Set<Permission> {
  if (workspaceUser && roles.some((r) => r === 'admin' || r === 'organization-admin')) return new Set(EVERYTHING);
  return new Set(roles.flatMap((r) => (Object.hasOwn(PARTNER, r) ? PARTNER[r as Role] : [])));
}

export function decide(principal: Principal, permission: Permission, target: Target): Decision {
  if (principal.kind === 'token') return { allowed: true };
  if (!permissionsOf(principal).has(permission)) {
    return { allowed: false, reason: `role${principal.roles.length === 1 ? '' : 's'} ${principal.roles.join(', ') || '(none)'} may not ${describe(permission)}` };
  }
  if (target.namespace !== undefined && target.namespace !== principal.namespace) {
    return { allowed: false, reason: `namespace ${target.namespace} is not yours (${principal.namespace})` };
  }
  if (principal.scope === 'namespace') return { allowed: true };
  if (target.organization === undefined || target.organization === null) {
    return { allowed: false, reason: `only workspace administrators may ${describe(permission)} outside an organization` };
  }
  if (!principal.scope.has(target.organization)) {
    return { allowed: false, reason: `organization ${target.organization} is not yours (${principal.organization})` };
  }
  return { allowed: true };
}

/** Which organizations a principal may see records of, in its namespace; 'all' when unrestricted. */
export function visibleOrganizations(principal: Principal): ReadonlySet<string> | 'all' {
  return principal.kind === 'token' || principal.scope === 'namespace' ? 'all' : principal.scope;
}

/** Roles a principal may give a user it invites: never more than it holds, and only admins give any. */
export function assignableRoles(principal: Principal): ReadonlySet<Role> {
  const all: Role[] = ['organization-admin', 'admin', 'auditor', 'user-manager'];
  if (principal.kind === 'token' || (principal.organization === null && principal.roles.includes('admin'))) return new Set(all);
  if (principal.roles.includes('organization-admin')) return new Set(all);
  if (principal.roles.includes('admin')) return new Set<Role>(['admin', 'auditor', 'user-manager']);
  return new Set();
}

function describe(permission: Permission): string {
  return {
    'objects.read': 'read declared objects',
    'objects.write': 'change declared objects (they are managed in git or Pulumi)',
    'users.read': 'read users',
    'users.write': 'manage users',
    'audit.read': 'read the audit log',
    'audit.verify': 'verify the whole audit chain',
    'lifecycle.write': 'certify or deprovision organizations',
    'accessrequests.read': 'read access requests',
    'accessrequests.decide': 'decide access requests',
    'sso.write': "set up the organization's own identity provider",
  }[permission];
}
