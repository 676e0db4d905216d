import { type OrganizationObject, type WorkspaceObject } from '../../api/index.ts';
import { chainOf } from '../oidc/snapshot.ts';
import type { Repository } from '../store/index.ts';

/** The Organizations and the Workspace of one namespace, as declared now. */
export interface NamespaceView {
  namespace: string;
  workspace: WorkspaceObject | undefined;
  organizations: Map<string, OrganizationObject>;
}

export async function loadNamespace(repo: Repository, namespace: string): Promise<NamespaceView> {
  const [orgs, workspaces] = await Promise.all([repo.listObjects({ kind: 'Organization', namespace }), repo.listObjects({ kind: 'Workspace', namespace })]);
  return {
    namespace,
    workspace: workspaces[0]?.object as WorkspaceObject | undefined,
    organizations: new Map(orgs.map((o) => [o.object.metadata.name, o.object as OrganizationObject])),
  };
}

/** An organization and every organization below it (sub-organizations at any depth), the organization first. */
export function withDescendants(orgs: Map<string, OrganizationObject>, name: string): string[] {
  const out = [name];
  // Breadth-first over children; `out` doubles as the visited set, so a cycle (refused on write) cannot loop.
  for (let i = 0; i < out.length; i++) {
    for (const org of orgs.values()) {
      if (org.spec.parentRef?.name === out[i] && !out.includes(org.metadata.name)) out.push(org.metadata.name);
    }
  }
  return out;
}

export function chainFor(view: NamespaceView, name: string): OrganizationObject[] {
  return chainOf(view.organizations, name);
}
