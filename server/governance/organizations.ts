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
  // One query after another: `repo` may be a transaction, whose one PostgreSQL client runs one query at a time
  // (pg queues overlapping ones with a deprecation warning; pg 9 refuses them).
  const orgs = await repo.objects.list({ kind: 'Organization', namespace });
  const workspaces = await repo.objects.list({ kind: 'Workspace', namespace });
  const templates = await repo.objects.list({ kind: 'OrganizationTemplate', namespace });
  const certifications = await repo.governance.certifications(namespace);
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
