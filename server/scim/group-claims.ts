import type { Repositories } from '../store/index.ts';
import type { Caller } from './caller.ts';

/**
 * Keeps each user's `groups` (display names, for ClaimMappings) and the roles its groups give
 * (the Organization's `groupRoles`, only roles the Workspace's `guardrails.groupRoles` allows)
 * in step with its memberships. Roles the user held before a group gave them are never taken
 * away when it leaves the group.
 */
export async function refreshGroupClaims(repo: Repositories, caller: Caller, userIds: Iterable<string>, now: number): Promise<void> {
  const mappings = caller.organization.spec.groupRoles ?? [];
  const allowed = caller.snapshot.workspace?.spec.guardrails?.groupRoles;
  for (const userId of new Set(userIds)) {
    const user = await repo.users.find(caller.namespace, userId);
    if (!user) continue;
    const groups = (await repo.scim.groupsOf(caller.namespace, userId)).map((g) => g.displayName);
    const member = new Set(groups.map((g) => g.toLowerCase()));
    const given = [...new Set(mappings.filter((m) => member.has(m.group.toLowerCase())).flatMap((m) => m.roles))].filter((r) => !allowed || allowed.includes(r));
    const previous = user.profile.groupRoles ?? [];
    const own = user.roles.filter((r) => !previous.includes(r));
    const roles = [...new Set([...own, ...given])];
    await repo.users.upsert({ ...user, roles, profile: { ...user.profile, groups, groupRoles: given.filter((r) => !own.includes(r)) }, updatedAt: now });
  }
}
