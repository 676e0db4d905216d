import { organizationChain, type OrganizationObject, type OrganizationTemplateObject, type WorkspaceObject } from '../../api/index.ts';
import { withCertification } from '../oidc/standing.ts';
import type { Repositories } from '../store/index.ts';

/** The Organizations and the Workspace of one namespace, as declared now. */
export interface NamespaceView {
  namespace: string;
  workspace: WorkspaceObject | undefined;
  templates: Map<string, OrganizationTemplateObject>;
  /** Each organization as its standing is judged (admin-API certifications applied). */
  organizations: Map<string, OrganizationObject>;
  /** Certifications made through the admin API, by organization. */
  certifications: Map<string, { at: number; actor: string }>;
}

export async function loadNamespace(repo: Repositories, namespace: string): Promise<NamespaceView> {
  const [orgs, workspaces, templates, certifications] = await Promise.all([repo.objects.list({ kind: 'Organization', namespace }), repo.objects.list({ kind: 'Workspace', namespace }), repo.objects.list({ kind: 'OrganizationTemplate', namespace }), repo.governance.certifications(namespace)]);
  return {
    namespace,
    workspace: workspaces[0]?.object as WorkspaceObject | undefined,
    templates: new Map(templates.map((t) => [t.object.metadata.name, t.object as OrganizationTemplateObject])),
    organizations: new Map(orgs.map((o) => [o.object.metadata.name, withCertification(o.object as OrganizationObject, certifications.get(o.object.metadata.name)?.at)])),
    certifications,
  };
}

export function chainFor(view: NamespaceView, name: string): OrganizationObject[] {
  return organizationChain(view.organizations, name);
}
