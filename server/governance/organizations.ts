import { type OrganizationObject, type WorkspaceObject } from '../../api/index.ts';
import { chainOf } from '../oidc/snapshot.ts';
import { withCertification } from '../oidc/standing.ts';
import type { Repositories } from '../store/index.ts';

/** The Organizations and the Workspace of one namespace, as declared now. */
export interface NamespaceView {
  namespace: string;
  workspace: WorkspaceObject | undefined;
  /** Each organization as its standing is judged (admin-API certifications applied). */
  organizations: Map<string, OrganizationObject>;
  /** Certifications made through the admin API, by organization. */
  certifications: Map<string, { at: number; actor: string }>;
}

export async function loadNamespace(repo: Repositories, namespace: string): Promise<NamespaceView> {
  const [orgs, workspaces, certifications] = await Promise.all([repo.objects.list({ kind: 'Organization', namespace }), repo.objects.list({ kind: 'Workspace', namespace }), repo.governance.certifications(namespace)]);
  return {
    namespace,
    workspace: workspaces[0]?.object as WorkspaceObject | undefined,
    organizations: new Map(orgs.map((o) => [o.object.metadata.name, withCertification(o.object as OrganizationObject, certifications.get(o.object.metadata.name)?.at)])),
    certifications,
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
