import { MAX_ORGANIZATION_DEPTH, organizationChain, type OrganizationObject, type OrganizationTemplateObject, type WorkspaceObject } from '../../api/index.ts';
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
  /**
   * Set when only these organizations were loaded, with their parents (`loadChains`): what
   * depends on each one's own chain is judged right, nothing about the others is known.
   */
  scope?: readonly string[];
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

/**
 * The view of `names` and their parents only, read by name (a parent chain is short): what a
 * write of one organization or a GET of one needs, at a cost that does not grow with the
 * namespace. Templates are those the loaded organizations reference.
 */
export async function loadChains(repo: Repositories, namespace: string, names: readonly string[]): Promise<NamespaceView> {
  const organizations = new Map<string, OrganizationObject>();
  const templates = new Map<string, OrganizationTemplateObject>();
  const certifications = await repo.governance.certifications(namespace);
  for (const name of names) {
    // The walk ancestry (api/organization-tree.ts) makes, bounded as it is: a cycle or a missing parent ends it.
    for (let next: string | undefined = name, depth = 0; next !== undefined && !organizations.has(next) && depth <= MAX_ORGANIZATION_DEPTH; depth++) {
      const stored = await repo.objects.get('Organization', namespace, next);
      if (!stored) break;
      const org = stored.object as OrganizationObject;
      organizations.set(next, withCertification(org, certifications.get(next)?.at));
      const template = org.spec.templateRef?.name;
      if (template && !templates.has(template)) {
        const t = await repo.objects.get('OrganizationTemplate', namespace, template);
        if (t) templates.set(template, t.object as OrganizationTemplateObject);
      }
      next = org.spec.parentRef?.name;
    }
  }
  const workspaces = await repo.objects.list({ kind: 'Workspace', namespace });
  return { namespace, workspace: workspaces[0]?.object as WorkspaceObject | undefined, templates, organizations, certifications, scope: names };
}

export function chainFor(view: NamespaceView, name: string): OrganizationObject[] {
  return organizationChain(view.organizations, name);
}
